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
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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

    public_id = PublicIdField(verbose_name=_("public ID"))
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="retail_customer", verbose_name=_("user")
    )
    name = models.CharField(pgettext_lazy("of a person or company", "name"), max_length=200)
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        help_text=_(
            "The language the customer chose (a code of LANGUAGES); e-mail is sent in it. "
            "Blank: not chosen yet (the utility's LANGUAGE_CODE)."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("retail customer")
        verbose_name_plural = _("retail customers")

    def __str__(self) -> str:
        return self.name


class EspiResource(models.Model):
    """Fields every ESPI resource shares: its identities and its Atom timestamps."""

    public_id = PublicIdField(verbose_name=_("public ID"))
    uuid = models.UUIDField(
        "UUID", unique=True, default=uuid.uuid4, editable=False, help_text=_("The ESPI atom:id (urn:uuid).")
    )
    title = models.CharField(_("title"), max_length=256, blank=True)
    published = models.DateTimeField(_("published"), default=timezone.now, db_index=True)
    updated = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.title or f"{type(self).__name__} {self.public_id}"


class LocalTimeParameters(EspiResource):
    """Time zone and DST rules (ESPI TimeConfiguration); shared by usage points."""

    dst_end_rule = models.CharField(_("DST end rule"), max_length=8, help_text="HexBinary32")
    dst_offset = models.BigIntegerField(_("DST offset"), help_text=_("Seconds"))
    dst_start_rule = models.CharField(_("DST start rule"), max_length=8, help_text="HexBinary32")
    tz_offset = models.BigIntegerField(_("time zone offset"), help_text=_("Seconds east of UTC"))

    class Meta:
        verbose_name = _("local time parameters")
        verbose_name_plural = _("local time parameters")
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

    accumulation_behaviour = models.PositiveSmallIntegerField(_("accumulation behaviour"), null=True, blank=True)
    commodity = models.PositiveSmallIntegerField(_("commodity"), null=True, blank=True)
    currency = models.PositiveSmallIntegerField(_("currency"), null=True, blank=True)
    data_qualifier = models.PositiveSmallIntegerField(_("data qualifier"), null=True, blank=True)
    flow_direction = models.PositiveSmallIntegerField(_("flow direction"), null=True, blank=True)
    interval_length = models.PositiveIntegerField(_("interval length"), null=True, blank=True, help_text=_("Seconds"))
    kind = models.PositiveSmallIntegerField(pgettext_lazy("what sort of thing", "kind"), null=True, blank=True)
    phase = models.PositiveSmallIntegerField(_("phase"), null=True, blank=True)
    power_of_ten_multiplier = models.SmallIntegerField(_("power of ten multiplier"), null=True, blank=True)
    time_attribute = models.PositiveSmallIntegerField(_("time attribute"), null=True, blank=True)
    uom = models.PositiveSmallIntegerField(
        _("unit of measure"), null=True, blank=True, help_text=_("72 = Wh, 169 = therm")
    )
    content = models.TextField(_("content"), blank=True, help_text=_("The ESPI ReadingType element as uploaded."))

    class Meta:
        verbose_name = _("reading type")
        verbose_name_plural = _("reading types")
        constraints = [
            models.CheckConstraint(
                condition=Q(power_of_ten_multiplier__isnull=True)
                | Q(power_of_ten_multiplier__gte=-12, power_of_ten_multiplier__lte=12),
                name="readingtype_multiplier_range",
            ),
        ]


class ServiceKind(models.IntegerChoices):
    ELECTRICITY = 0, pgettext_lazy("service kind", "electricity")
    GAS = 1, pgettext_lazy("service kind", "gas")
    WATER = 2, pgettext_lazy("service kind", "water")
    TIME = 3, pgettext_lazy("service kind", "time")
    HEAT = 4, pgettext_lazy("service kind", "heat")
    REFUSE = 5, pgettext_lazy("service kind", "refuse")
    SEWERAGE = 6, pgettext_lazy("service kind", "sewerage")
    RATES = 7, pgettext_lazy("service kind", "rates")
    TV_LICENCE = 8, pgettext_lazy("service kind", "TV licence")
    INTERNET = 9, pgettext_lazy("service kind", "internet")


class UsagePoint(EspiResource):
    """A metered service point of one retail customer."""

    customer = models.ForeignKey(
        RetailCustomer, on_delete=models.PROTECT, related_name="usage_points", verbose_name=_("customer")
    )
    service_kind = models.PositiveSmallIntegerField(
        _("service kind"), choices=ServiceKind.choices, default=ServiceKind.ELECTRICITY
    )
    status = models.PositiveSmallIntegerField(
        pgettext_lazy("of a usage point", "status"), null=True, blank=True, help_text=_("0 off, 1 on")
    )
    local_time_parameters = models.ForeignKey(
        LocalTimeParameters,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_points",
        verbose_name=_("local time parameters"),
    )
    content = models.TextField(_("content"), blank=True, help_text=_("The ESPI UsagePoint element as uploaded."))

    class Meta:
        ordering = ["customer", "title", "public_id"]
        verbose_name = _("usage point")
        verbose_name_plural = _("usage points")
        constraints = [
            models.CheckConstraint(condition=Q(service_kind__lte=9), name="usagepoint_service_kind_known"),
            models.CheckConstraint(
                condition=Q(status__isnull=True) | Q(status__in=[0, 1]), name="usagepoint_status_0_or_1"
            ),
        ]


class MeterReading(EspiResource):
    """A series of readings of one kind under a usage point."""

    usage_point = models.ForeignKey(
        UsagePoint, on_delete=models.CASCADE, related_name="meter_readings", verbose_name=_("usage point")
    )
    reading_type = models.ForeignKey(
        ReadingType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meter_readings",
        verbose_name=_("reading type"),
    )

    class Meta:
        verbose_name = _("meter reading")
        verbose_name_plural = _("meter readings")


class IntervalBlock(EspiResource):
    """A block of interval readings covering ``[start, start + duration)`` (epoch seconds).

    The readings live in the block's row, packed (``custodian.readings``): ESPI gives a reading no id
    of its own, so it is always read and replaced with its block. Each reading's ``value`` is in the
    reading type's unit times 10**powerOfTenMultiplier; its ``cost`` in 1/100,000 of the currency
    (ESPI Money).
    """

    meter_reading = models.ForeignKey(
        MeterReading, on_delete=models.CASCADE, related_name="interval_blocks", verbose_name=_("meter reading")
    )
    start = models.BigIntegerField(_("start"), help_text=_("Epoch seconds, UTC"))
    duration = models.PositiveIntegerField(_("duration"), help_text=_("Seconds"))
    readings = models.TextField(
        _("readings"),
        default=readings_codec.EMPTY,
        editable=False,
        help_text=_("JSON [[start, duration, value, cost, quality, tou], ...], sorted by start, one per start."),
    )
    reading_count = models.PositiveIntegerField(_("number of readings"), default=0, editable=False)

    class Meta:
        verbose_name = _("interval block")
        verbose_name_plural = _("interval blocks")
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
        ELECTRIC_POWER_USAGE_SUMMARY = "ElectricPowerUsageSummary", _("ElectricPowerUsageSummary (deprecated)")

    usage_point = models.ForeignKey(
        UsagePoint, on_delete=models.CASCADE, related_name="usage_summaries", verbose_name=_("usage point")
    )
    kind = models.CharField(
        pgettext_lazy("what sort of thing", "kind"), max_length=32, choices=Kind.choices, default=Kind.USAGE_SUMMARY
    )
    billing_period_start = models.BigIntegerField(_("billing period start"), null=True, blank=True)
    billing_period_duration = models.PositiveIntegerField(_("billing period duration"), null=True, blank=True)
    status_time_stamp = models.BigIntegerField(_("status time stamp"), null=True, blank=True)
    content = models.TextField(_("content"), blank=True, help_text=_("The ESPI element as uploaded."))

    class Meta:
        verbose_name = _("usage summary")
        verbose_name_plural = _("usage summaries")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["UsageSummary", "ElectricPowerUsageSummary"]), name="usagesummary_kind_known"
            ),
        ]


class ElectricPowerQualitySummary(EspiResource):
    """Power quality over an interval (ESPI ElectricPowerQualitySummary)."""

    usage_point = models.ForeignKey(
        UsagePoint, on_delete=models.CASCADE, related_name="power_quality_summaries", verbose_name=_("usage point")
    )
    summary_interval_start = models.BigIntegerField(_("summary interval start"), null=True, blank=True)
    summary_interval_duration = models.PositiveIntegerField(_("summary interval duration"), null=True, blank=True)
    content = models.TextField(_("content"), blank=True, help_text=_("The ESPI element as uploaded."))

    class Meta:
        verbose_name = _("electric power quality summary")
        verbose_name_plural = _("electric power quality summaries")


class AuditEvent(models.Model):
    """One append-only audit row: who did what to which object, and when.

    Rows are never updated or deleted: ``save`` refuses an update, ``delete`` refuses, and the admin
    shows them read-only. Customer-facing history ("who accessed my data") is read from here.
    """

    class Action(models.TextChoices):
        GRANT_CREATED = "grant.created", _("grant created")
        GRANT_DENIED = "grant.denied", _("grant denied")
        GRANT_REVOKED = "grant.revoked", _("grant revoked")
        GRANT_USAGE_POINT_REVOKED = "grant.usage_point_revoked", _("usage point removed from grant")
        GRANT_EXPIRED = "grant.expired", _("grant expired")
        THIRD_PARTY_CREATED = "third_party.created", _("third party registered")
        THIRD_PARTY_STATUS_CHANGED = "third_party.status_changed", _("third party lifecycle changed")
        THIRD_PARTY_UPDATED = "third_party.updated", _("third party information changed")
        THIRD_PARTY_SECRET_ROTATED = "third_party.secret_rotated", _("third party client secret rotated")
        THIRD_PARTY_APPROVAL_CHECKED = "third_party.approval_checked", _("third party approval checklist run")
        BULK_USER_CREATED = "bulk_user.created", _("bulk user created")
        TOKEN_ISSUED = "token.issued", _("token issued")
        TOKEN_REVOKED = "token.revoked", _("token revoked")
        DATA_READ = "data.read", _("data read")
        DATA_UPLOADED = "data.uploaded", _("data uploaded")
        DATA_IMPORTED = "data.imported", _("data imported")
        BATCH_RECEIVED = "batch.received", _("batch received")
        BATCH_REQUESTED = "batch.requested", _("asynchronous batch requested")
        BATCH_READY = "batch.ready", _("asynchronous batch ready")
        BATCH_EXPIRED = "batch.expired", _("asynchronous batch result deleted")
        CUSTOMER_CREATED = "customer.created", _("customer created")
        CUSTOMER_INVITED = "customer.invited", _("customer invited to set a password")
        CUSTOMER_UPDATED = "customer.updated", _("customer renamed or language changed")
        CUSTOMER_RECORDS_IMPORTED = "customer_records.imported", _("customer records imported")
        GRANT_RECORDS_REVOKED = "grant.records_revoked", _("customer records removed from grant")
        USAGE_POINT_CREATED = "usage_point.created", _("usage point created")
        USAGE_POINT_UPDATED = "usage_point.updated", _("usage point changed")
        NOTIFICATION_RETRIED = "notification.retried", _("notification retry requested")
        RATE_LIMITED = "rate_limit.refused", _("requests refused for rate limit")

    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True, editable=False)
    action = models.CharField(_("action"), max_length=40, choices=Action.choices, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor user"),
    )
    actor_client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor client"),
    )
    customer = models.ForeignKey(
        RetailCustomer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name=_("customer"),
        help_text=_("The customer whose data or consent this concerns, for their access history."),
    )
    object_type = models.CharField(_("object type"), max_length=40, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True, db_index=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    # A read of many customers' data in one request (a Bulk page) is one row, with ``customer`` unset:
    # the ids of the first and last usage point it served (the page is every bulk member's usage point
    # between them) and, in ``detail["grants"]``, the grants it served. Each customer's access history
    # finds it through these (grants.access_history).
    usage_point_low = models.BigIntegerField(null=True, blank=True, editable=False)
    usage_point_high = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
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
        CUSTOMER = "Customer", _("customer")
        CUSTOMER_ACCOUNT = "CustomerAccount", _("customer account")
        CUSTOMER_AGREEMENT = "CustomerAgreement", _("customer agreement")
        STATEMENT = "Statement", _("statement")
        SERVICE_LOCATION = "ServiceLocation", _("service location")
        SERVICE_SUPPLIER = "ServiceSupplier", _("service supplier")
        METER = "Meter", _("meter")
        END_DEVICE = "EndDevice", _("end device")

    customer = models.ForeignKey(
        RetailCustomer, on_delete=models.PROTECT, related_name="records", verbose_name=_("customer")
    )
    kind = models.CharField(pgettext_lazy("what sort of thing", "kind"), max_length=24, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
        help_text=_("The record above."),
    )
    label = models.CharField(
        _("label"), max_length=300, blank=True, help_text=_("A name, number or address, for staff.")
    )
    usage_points = models.ManyToManyField(
        UsagePoint,
        blank=True,
        related_name="customer_records",
        verbose_name=_("usage points"),
        help_text=_("ServiceLocation, Meter: the usage points served."),
    )
    content = models.TextField(_("content"), help_text=_("The customer.xsd element as imported (schema-valid)."))

    class Meta:
        ordering = ["customer", "kind", "id"]
        verbose_name = _("customer record")
        verbose_name_plural = _("customer records")
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

    action = models.CharField(_("action"), max_length=40, choices=AuditEvent.Action.choices)
    actor_client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor client"),
    )
    day = models.DateField(_("day"))
    count = models.PositiveBigIntegerField(_("count"), default=0)

    class Meta:
        ordering = ["-day", "action"]
        verbose_name = _("audit count")
        verbose_name_plural = _("audit counts")
        constraints = [
            models.UniqueConstraint(fields=["action", "actor_client", "day"], name="auditcount_one_row_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.action}: {self.count}"
