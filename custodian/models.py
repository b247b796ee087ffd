"""Retail customers, their usage points and meter data, and the audit log.

Every resource that travels as an ESPI Atom entry keeps two identities:

* ``public_id``: the opaque id used in our URLs (``UsagePoint/{public_id}``), 64 random bits;
* ``uuid``: the resource's durable ESPI identity, the UUID of its ``atom:id`` (``urn:uuid:...``).
  Imports and batch uploads upsert by it, and it is unique across the whole portal, so a resource
  can never be moved from one owner to another by uploading it again.

Interval readings are the volume (96 a day per usage point, years of history): they are kept packed
in their IntervalBlock's row (``custodian.readings``), one row per block rather than per reading.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from custodian import readings as readings_codec


def new_public_id() -> str:
    """Return a new opaque URL id: 64 random bits as 16 hex digits, never sequential."""
    return secrets.token_hex(8)


class PublicIdField(models.CharField):
    """An opaque, unguessable, unique URL identifier."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("default", new_public_id)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key, value in {"max_length": 32, "unique": True, "default": new_public_id, "editable": False}.items():
            if kwargs.get(key) == value:
                kwargs.pop(key)
        return name, path, args, kwargs


class User(AbstractUser):
    """A portal login: a retail customer, or utility staff (``is_staff``)."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class RetailCustomer(models.Model):
    """A person or business with a portal login, owning usage points (ESPI RetailCustomer)."""

    public_id = PublicIdField()
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="retail_customer")
    name = models.CharField(max_length=200)
    language = models.CharField(
        max_length=16,
        blank=True,
        help_text="The language the customer chose (a code of LANGUAGES); e-mail is sent in it. "
        "Blank: not chosen yet (the utility's LANGUAGE_CODE).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EspiResource(models.Model):
    """Fields every ESPI resource shares: its identities and its Atom timestamps."""

    public_id = PublicIdField()
    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False, help_text="The ESPI atom:id (urn:uuid).")
    title = models.CharField(max_length=256, blank=True)
    published = models.DateTimeField(default=timezone.now, db_index=True)
    updated = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.title or f"{type(self).__name__} {self.public_id}"


class LocalTimeParameters(EspiResource):
    """Time zone and DST rules (ESPI TimeConfiguration); shared by usage points."""

    dst_end_rule = models.CharField(max_length=8, help_text="HexBinary32")
    dst_offset = models.BigIntegerField(help_text="Seconds")
    dst_start_rule = models.CharField(max_length=8, help_text="HexBinary32")
    tz_offset = models.BigIntegerField(help_text="Seconds east of UTC")

    class Meta:
        verbose_name = "local time parameters"
        verbose_name_plural = "local time parameters"
        constraints = [
            models.CheckConstraint(
                condition=Q(tz_offset__gte=-14 * 3600, tz_offset__lte=14 * 3600), name="ltp_tz_offset_range"
            ),
        ]


class ReadingType(EspiResource):
    """What a meter reading measures (unit, multiplier, interval); shared by meter readings.

    The key fields are columns; ``content`` keeps the whole ESPI element so that nothing of the
    uploaded resource is lost on export.
    """

    accumulation_behaviour = models.PositiveSmallIntegerField(null=True, blank=True)
    commodity = models.PositiveSmallIntegerField(null=True, blank=True)
    currency = models.PositiveSmallIntegerField(null=True, blank=True)
    data_qualifier = models.PositiveSmallIntegerField(null=True, blank=True)
    flow_direction = models.PositiveSmallIntegerField(null=True, blank=True)
    interval_length = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds")
    kind = models.PositiveSmallIntegerField(null=True, blank=True)
    phase = models.PositiveSmallIntegerField(null=True, blank=True)
    power_of_ten_multiplier = models.SmallIntegerField(null=True, blank=True)
    time_attribute = models.PositiveSmallIntegerField(null=True, blank=True)
    uom = models.PositiveSmallIntegerField(null=True, blank=True, help_text="72 = Wh, 169 = therm")
    content = models.TextField(blank=True, help_text="The ESPI ReadingType element as uploaded.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(power_of_ten_multiplier__isnull=True)
                | Q(power_of_ten_multiplier__gte=-12, power_of_ten_multiplier__lte=12),
                name="readingtype_multiplier_range",
            ),
        ]


class ServiceKind(models.IntegerChoices):
    ELECTRICITY = 0, "electricity"
    GAS = 1, "gas"
    WATER = 2, "water"
    TIME = 3, "time"
    HEAT = 4, "heat"
    REFUSE = 5, "refuse"
    SEWERAGE = 6, "sewerage"
    RATES = 7, "rates"
    TV_LICENCE = 8, "TV licence"
    INTERNET = 9, "internet"


class UsagePoint(EspiResource):
    """A metered service point of one retail customer."""

    customer = models.ForeignKey(RetailCustomer, on_delete=models.PROTECT, related_name="usage_points")
    service_kind = models.PositiveSmallIntegerField(choices=ServiceKind.choices, default=ServiceKind.ELECTRICITY)
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0 off, 1 on")
    local_time_parameters = models.ForeignKey(
        LocalTimeParameters, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_points"
    )
    content = models.TextField(blank=True, help_text="The ESPI UsagePoint element as uploaded.")

    class Meta:
        ordering = ["customer", "title", "public_id"]
        constraints = [
            models.CheckConstraint(condition=Q(service_kind__lte=9), name="usagepoint_service_kind_known"),
            models.CheckConstraint(
                condition=Q(status__isnull=True) | Q(status__in=[0, 1]), name="usagepoint_status_0_or_1"
            ),
        ]


class MeterReading(EspiResource):
    """A series of readings of one kind under a usage point."""

    usage_point = models.ForeignKey(UsagePoint, on_delete=models.CASCADE, related_name="meter_readings")
    reading_type = models.ForeignKey(
        ReadingType, on_delete=models.PROTECT, null=True, blank=True, related_name="meter_readings"
    )


class IntervalBlock(EspiResource):
    """A block of interval readings covering ``[start, start + duration)`` (epoch seconds).

    The readings live in the block's row, packed (``custodian.readings``): ESPI gives a reading no id
    of its own, so it is always read and replaced with its block. Each reading's ``value`` is in the
    reading type's unit times 10**powerOfTenMultiplier; its ``cost`` in 1/100,000 of the currency
    (ESPI Money).
    """

    meter_reading = models.ForeignKey(MeterReading, on_delete=models.CASCADE, related_name="interval_blocks")
    start = models.BigIntegerField(help_text="Epoch seconds, UTC")
    duration = models.PositiveIntegerField(help_text="Seconds")
    readings = models.TextField(
        default=readings_codec.EMPTY,
        editable=False,
        help_text="JSON [[start, duration, value, cost, quality, tou], ...], sorted by start, one per start.",
    )
    reading_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        indexes = [models.Index(fields=["meter_reading", "start"], name="intervalblock_mr_start")]
        constraints = [
            models.CheckConstraint(condition=Q(start__gte=0), name="intervalblock_start_nonnegative"),
            models.CheckConstraint(condition=Q(reading_count__gte=0), name="intervalblock_reading_count_nonnegative"),
        ]

    def set_readings(self, readings) -> None:
        """Replace the block's readings (sorted and checked: ``readings.ReadingsInvalid`` if they cannot be stored)."""
        self.readings, self.reading_count = readings_codec.readings_pack(readings)

    def reading_list(self) -> list:
        """Return the block's readings, oldest first, each ``(start, duration, value, cost, quality, tou)``."""
        return readings_codec.readings_unpack(self.readings)


class UsageSummary(EspiResource):
    """A billing-period summary (ESPI UsageSummary, or the deprecated ElectricPowerUsageSummary)."""

    class Kind(models.TextChoices):
        USAGE_SUMMARY = "UsageSummary", "UsageSummary"
        ELECTRIC_POWER_USAGE_SUMMARY = "ElectricPowerUsageSummary", "ElectricPowerUsageSummary (deprecated)"

    usage_point = models.ForeignKey(UsagePoint, on_delete=models.CASCADE, related_name="usage_summaries")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.USAGE_SUMMARY)
    billing_period_start = models.BigIntegerField(null=True, blank=True)
    billing_period_duration = models.PositiveIntegerField(null=True, blank=True)
    status_time_stamp = models.BigIntegerField(null=True, blank=True)
    content = models.TextField(blank=True, help_text="The ESPI element as uploaded.")

    class Meta:
        verbose_name_plural = "usage summaries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["UsageSummary", "ElectricPowerUsageSummary"]), name="usagesummary_kind_known"
            ),
        ]


class ElectricPowerQualitySummary(EspiResource):
    """Power quality over an interval (ESPI ElectricPowerQualitySummary)."""

    usage_point = models.ForeignKey(UsagePoint, on_delete=models.CASCADE, related_name="power_quality_summaries")
    summary_interval_start = models.BigIntegerField(null=True, blank=True)
    summary_interval_duration = models.PositiveIntegerField(null=True, blank=True)
    content = models.TextField(blank=True, help_text="The ESPI element as uploaded.")

    class Meta:
        verbose_name_plural = "electric power quality summaries"


class AuditEvent(models.Model):
    """One append-only audit row: who did what to which object, and when.

    Rows are never updated or deleted: ``save`` refuses an update, ``delete`` refuses, and the admin
    shows them read-only. Customer-facing history ("who accessed my data") is read from here.
    """

    class Action(models.TextChoices):
        GRANT_CREATED = "grant.created", "grant created"
        GRANT_DENIED = "grant.denied", "grant denied"
        GRANT_REVOKED = "grant.revoked", "grant revoked"
        GRANT_USAGE_POINT_REVOKED = "grant.usage_point_revoked", "usage point removed from grant"
        GRANT_EXPIRED = "grant.expired", "grant expired"
        THIRD_PARTY_CREATED = "third_party.created", "third party registered"
        THIRD_PARTY_STATUS_CHANGED = "third_party.status_changed", "third party lifecycle changed"
        THIRD_PARTY_UPDATED = "third_party.updated", "third party information changed"
        THIRD_PARTY_SECRET_ROTATED = "third_party.secret_rotated", "third party client secret rotated"
        THIRD_PARTY_APPROVAL_CHECKED = "third_party.approval_checked", "third party approval checklist run"
        BULK_USER_CREATED = "bulk_user.created", "bulk user created"
        TOKEN_ISSUED = "token.issued", "token issued"
        TOKEN_REVOKED = "token.revoked", "token revoked"
        DATA_READ = "data.read", "data read"
        DATA_UPLOADED = "data.uploaded", "data uploaded"
        DATA_IMPORTED = "data.imported", "data imported"
        BATCH_RECEIVED = "batch.received", "batch received"
        BATCH_REQUESTED = "batch.requested", "asynchronous batch requested"
        BATCH_READY = "batch.ready", "asynchronous batch ready"
        BATCH_EXPIRED = "batch.expired", "asynchronous batch result deleted"
        CUSTOMER_CREATED = "customer.created", "customer created"
        CUSTOMER_INVITED = "customer.invited", "customer invited to set a password"
        CUSTOMER_UPDATED = "customer.updated", "customer renamed or language changed"
        CUSTOMER_RECORDS_IMPORTED = "customer_records.imported", "customer records imported"
        GRANT_RECORDS_REVOKED = "grant.records_revoked", "customer records removed from grant"
        USAGE_POINT_CREATED = "usage_point.created", "usage point created"
        USAGE_POINT_UPDATED = "usage_point.updated", "usage point changed"
        NOTIFICATION_RETRIED = "notification.retried", "notification retry requested"
        RATE_LIMITED = "rate_limit.refused", "requests refused for rate limit"

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customer = models.ForeignKey(
        RetailCustomer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        help_text="The customer whose data or consent this concerns, for their access history.",
    )
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    summary = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # A read of many customers' data in one request (a Bulk page) is one row, with ``customer`` unset:
    # the ids of the first and last usage point it served (the page is every bulk member's usage point
    # between them) and, in ``detail["grants"]``, the grants it served. Each customer's access history
    # finds it through these (grants.access_history).
    usage_point_low = models.BigIntegerField(null=True, blank=True, editable=False)
    usage_point_high = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="audit_customer_recent"),
            models.Index(
                fields=["object_id", "usage_point_low", "usage_point_high"],
                name="audit_bulk_read_range",
                condition=models.Q(usage_point_low__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class CustomerRecord(EspiResource):
    """One of a retail customer's own records from ESPI ``customer.xsd``: personal data.

    Customer, CustomerAccount, CustomerAgreement, ServiceLocation, ServiceSupplier, Meter, EndDevice
    and Statement share this table: ``kind`` says which, ``parent`` is the record above it in the
    ESPI tree (``custodian.espi.customer.PARENT_KIND``), ``content`` the schema-valid element as
    imported. ServiceLocations and Meters are linked to the usage points they serve. Third Parties
    see a record only under a grant that shares its category, never through usage consent.
    """

    class Kind(models.TextChoices):
        CUSTOMER = "Customer", "customer"
        CUSTOMER_ACCOUNT = "CustomerAccount", "customer account"
        CUSTOMER_AGREEMENT = "CustomerAgreement", "customer agreement"
        STATEMENT = "Statement", "statement"
        SERVICE_LOCATION = "ServiceLocation", "service location"
        SERVICE_SUPPLIER = "ServiceSupplier", "service supplier"
        METER = "Meter", "meter"
        END_DEVICE = "EndDevice", "end device"

    customer = models.ForeignKey(RetailCustomer, on_delete=models.PROTECT, related_name="records")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children", help_text="The record above."
    )
    label = models.CharField(max_length=300, blank=True, help_text="A name, number or address, for staff.")
    usage_points = models.ManyToManyField(
        UsagePoint,
        blank=True,
        related_name="customer_records",
        help_text="ServiceLocation, Meter: the usage points served.",
    )
    content = models.TextField(help_text="The customer.xsd element as imported (schema-valid).")

    class Meta:
        ordering = ["customer", "kind", "id"]
        indexes = [models.Index(fields=["customer", "kind"], name="customerrecord_customer_kind")]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "Customer",
                        "CustomerAccount",
                        "CustomerAgreement",
                        "Statement",
                        "ServiceLocation",
                        "ServiceSupplier",
                        "Meter",
                        "EndDevice",
                    ]
                ),
                name="customerrecord_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label or self.public_id}"


class AuditCount(models.Model):
    """A daily counter of one kind of event too frequent for one audit row each: requests refused for rate limit.

    One row per action, client and local day (the portal's ``TIME_ZONE``, so quarters add up), however
    many events it counts; ``custodian.services.audit_count_add`` is its only writer. Where the events
    begin, an ordinary audit row says so (see ``grants.services_rate_limits``).
    """

    action = models.CharField(max_length=40, choices=AuditEvent.Action.choices)
    actor_client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    day = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "action"]
        constraints = [
            models.UniqueConstraint(fields=["action", "actor_client", "day"], name="auditcount_one_row_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.action}: {self.count}"
