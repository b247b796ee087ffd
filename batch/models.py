"""Batch submissions: one row per batch POST as received (see batch.services)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from custodian.models import PublicIdField


def payload_upload_to(instance: Submission, filename: str) -> str:
    """Return where a raw payload is stored under MEDIA_ROOT (never a client-chosen name)."""
    return f"batch/{timezone.now():%Y/%m}/{instance.public_id}.xml"


class Submission(models.Model):
    """One batch POST: who sent what to which target, what became of each entry, and the raw bytes.

    The row is inserted (``in_progress``) in its own transaction before anything is applied, so a
    concurrent request with the same ``Idempotency-Key`` hits the unique constraint and gets 409.
    A POST with ``Prefer: respond-async`` leaves it ``queued`` for a worker (``batch.services_async``).
    """

    class TargetKind(models.TextChoices):
        BULK = "bulk", "Batch/Bulk"
        SUBSCRIPTION = "subscription", "Batch/Subscription"
        RETAIL_CUSTOMER = "retail_customer", "Batch/RetailCustomer"

    class Outcome(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("submission outcome", "queued for a worker (Prefer: respond-async)")
        IN_PROGRESS = "in_progress", pgettext_lazy("submission outcome", "in progress")
        APPLIED = "applied", pgettext_lazy("submission outcome", "applied")
        REJECTED = "rejected", pgettext_lazy("submission outcome", "rejected (nothing applied)")
        DRY_RUN = "dry_run", pgettext_lazy("submission outcome", "dry run (nothing applied)")
        MALFORMED = "malformed", pgettext_lazy("submission outcome", "malformed body (nothing applied)")
        FAILED = "failed", pgettext_lazy("submission outcome", "failed (nothing applied)")

    public_id = PublicIdField(verbose_name=_("public id"))
    caller = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        related_name="batch_submissions",
        verbose_name=_("caller"),
    )
    token_kind = models.CharField(
        _("token kind"), max_length=24, help_text=_("access_token, client_access_token or custodian.")
    )
    grant = models.ForeignKey(
        "grants.Grant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="batch_submissions",
        verbose_name=_("grant"),
    )
    target_kind = models.CharField(_("target kind"), max_length=16, choices=TargetKind.choices)
    target_id = models.CharField(
        _("target id"), max_length=64, help_text=_("The bulk, subscription or retail customer id in the URL.")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    mode = models.CharField(_("mode"), max_length=8, default="partial", help_text=_("partial or strict"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    payload = models.FileField(_("payload"), upload_to=payload_upload_to, blank=True, max_length=200)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(
        _("started at"),
        null=True,
        blank=True,
        help_text=_("When a worker took an asynchronous submission (Prefer: respond-async)."),
    )
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=Outcome.choices, default=Outcome.IN_PROGRESS, db_index=True
    )
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    received_count = models.PositiveIntegerField(_("entries received"), default=0)
    accepted_count = models.PositiveIntegerField(_("entries accepted"), default=0)
    rejected_count = models.PositiveIntegerField(_("entries rejected"), default=0)
    applied_count = models.PositiveIntegerField(_("entries applied"), default=0)
    readings_written = models.PositiveBigIntegerField(_("readings written"), default=0)
    report = models.JSONField(
        _("report"), default=dict, blank=True, help_text=_("The response body as sent (JSON report).")
    )
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        ordering = ["-received_at", "-id"]
        # The admin's exact searches (target id, body hash, Idempotency-Key without the caller).
        indexes = [
            models.Index(fields=["target_id"], name="submission_target_id"),
            models.Index(fields=["sha256"], name="submission_sha256"),
            models.Index(fields=["idempotency_key"], name="submission_idempotency_key"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="submission_idempotency_key_unique_per_caller",
            ),
            models.CheckConstraint(
                condition=Q(accepted_count__lte=models.F("received_count"))
                & Q(rejected_count__lte=models.F("received_count")),
                name="submission_counts_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.public_id} ({self.target_kind} {self.target_id}, {self.outcome})"

    @property
    def report_uuid(self) -> uuid.UUID:
        """Return the stable Atom id of this submission's report feed."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:x-portal:submission:{self.public_id}")


class ApiRequestCount(models.Model):
    """How many ESPI API requests were answered, and the bytes sent, per local day, client, kind and status class.

    One upsert per request (``batch.services_requests.api_request_record``) keeps the table at
    days x clients x kinds x status classes rows, whatever the traffic: the regulator report sums a
    quarter of it in one grouped query. ``third_party`` is None when no valid token named the
    caller (a missing, unknown or expired token, a malformed request).
    """

    day = models.DateField(_("day"), help_text=_("The local day (TIME_ZONE) the request arrived."))
    # No database constraint: the per-request upsert runs after the response has gone, and a foreign
    # key check would take a share lock on the Third Party row on every request (waiting behind a
    # lifecycle change, and deadlocking with a table flush); a counter outlives nothing it names.
    third_party = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="api_request_counts",
        verbose_name=_("third party"),
    )
    kind = models.CharField(
        pgettext_lazy("kind of API request", "kind"),
        max_length=48,
        help_text=_("The endpoint (its URL name), or 'unknown'."),
    )
    method = models.CharField(_("method"), max_length=8)
    status_class = models.PositiveSmallIntegerField(
        _("status class"), help_text=_("1 to 5: the hundreds digit of the status.")
    )
    requests = models.PositiveBigIntegerField(_("requests"), default=0)
    bytes = models.PositiveBigIntegerField(default=0, help_text=_("Response bytes actually sent."))

    class Meta:
        verbose_name = _("API request count")
        verbose_name_plural = _("API request counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "third_party", "kind", "method", "status_class"],
                condition=Q(third_party__isnull=False),
                name="api_request_count_per_client",
            ),
            models.UniqueConstraint(
                fields=["day", "kind", "method", "status_class"],
                condition=Q(third_party__isnull=True),
                name="api_request_count_unidentified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.method} {self.status_class}xx: {self.requests}"


class BulkJob(models.Model):
    """One asynchronous Batch GET: who asked for what, and where its parts stand (see batch.services_bulk_jobs).

    ``request_key`` names the request (caller, target, query); at most one job per key is
    ``building`` at a time (a constraint), so a repeat while it is pending is refused, race-free.
    """

    class Status(models.TextChoices):
        BUILDING = "building", pgettext_lazy("bulk job status", "building")
        READY = "ready", pgettext_lazy("bulk job status", "ready")
        EXPIRED = "expired", pgettext_lazy("bulk job status", "expired (parts deleted)")
        FAILED = "failed", pgettext_lazy("bulk job status", "failed")

    correlation_id = models.UUIDField(_("correlation id"), default=uuid.uuid4, unique=True, editable=False)
    caller = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        related_name="bulk_jobs",
        verbose_name=_("caller"),
    )
    target_kind = models.CharField(_("target kind"), max_length=16, choices=Submission.TargetKind.choices)
    target_id = models.CharField(
        _("target id"), max_length=64, help_text=_("The bulk, subscription or retail customer id in the URL.")
    )
    bulk_user = models.ForeignKey(
        "grants.BulkUser",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bulk_jobs",
        verbose_name=_("bulk user"),
    )
    grant = models.ForeignKey(
        "grants.Grant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bulk_jobs",
        verbose_name=_("grant"),
    )
    customer = models.ForeignKey(
        "custodian.RetailCustomer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bulk_jobs",
        verbose_name=_("customer"),
    )
    query = models.CharField(
        _("query"), max_length=500, blank=True, help_text=_("The feed query it was asked with, normalized.")
    )
    request_key = models.CharField(_("request key"), max_length=64, db_index=True)
    status = models.CharField(
        pgettext_lazy("bulk job", "status"),
        max_length=12,
        choices=Status.choices,
        default=Status.BUILDING,
        db_index=True,
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    usage_points = models.PositiveIntegerField(_("usage points"), default=0)
    usage_point_days = models.PositiveBigIntegerField(
        _("usage point days"), default=0, help_text=_("The work estimate that decided 202.")
    )
    bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request_key"], condition=Q(status="building"), name="bulkjob_one_building_per_request"
            ),
        ]

    def __str__(self) -> str:
        return f"Bulk job {self.correlation_id} ({self.target_kind} {self.target_id}, {self.status})"


class BulkJobRange(models.Model):
    """One range of usage point ids ``[low_id, high_id)`` of a job: one task builds it, writing its parts at once."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("bulk job range status", "pending")
        DONE = "done", pgettext_lazy("bulk job range status", "done")

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="ranges", verbose_name=_("bulk job"))
    index = models.PositiveIntegerField(_("index"))
    low_id = models.BigIntegerField(_("low id"))
    high_id = models.BigIntegerField(_("high id"))
    status = models.CharField(
        pgettext_lazy("bulk job range", "status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    built_at = models.DateTimeField(_("built at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job range")
        verbose_name_plural = _("bulk job ranges")
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="bulkjobrange_unique_index")]

    def __str__(self) -> str:
        return f"{self.job.correlation_id} range {self.index} [{self.low_id}, {self.high_id})"


class BulkPart(models.Model):
    """One stored part of a job's result: a schema-valid feed of at most BATCH_CHUNK_BYTES.

    ``grants`` are the grants whose data it holds; it is served only while all of them still reach it.
    """

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="parts", verbose_name=_("bulk job"))
    range = models.ForeignKey(
        BulkJobRange, on_delete=models.CASCADE, related_name="parts", verbose_name=_("bulk job range")
    )
    seq = models.PositiveIntegerField(_("sequence number"))
    key = models.CharField(
        pgettext_lazy("name of a bulk part", "key"),
        max_length=24,
        help_text=_("The part's name in its URI: range-seq, 1-based."),
    )
    storage_name = models.CharField(_("storage name"), max_length=300)
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    usage_points = models.PositiveIntegerField(_("usage points"), default=0)
    grants = models.ManyToManyField("grants.Grant", related_name="bulk_parts", blank=True, verbose_name=_("grants"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("bulk part")
        verbose_name_plural = _("bulk parts")
        ordering = ["job", "range__index", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["range", "seq"], name="bulkpart_unique_seq_per_range"),
            models.UniqueConstraint(fields=["job", "key"], name="bulkpart_unique_key_per_job"),
        ]

    def __str__(self) -> str:
        return f"{self.job.correlation_id} part {self.key}"
