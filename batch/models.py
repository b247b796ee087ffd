"""Batch submissions: one row per batch POST as received (see batch.services)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
        QUEUED = "queued", "queued for a worker (Prefer: respond-async)"
        IN_PROGRESS = "in_progress", "in progress"
        APPLIED = "applied", "applied"
        REJECTED = "rejected", "rejected (nothing applied)"
        DRY_RUN = "dry_run", "dry run (nothing applied)"
        MALFORMED = "malformed", "malformed body (nothing applied)"
        FAILED = "failed", "failed (nothing applied)"

    public_id = PublicIdField()
    caller = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="batch_submissions"
    )
    token_kind = models.CharField(max_length=24, help_text="access_token, client_access_token or custodian.")
    grant = models.ForeignKey(
        "grants.Grant", on_delete=models.SET_NULL, null=True, blank=True, related_name="batch_submissions"
    )
    target_kind = models.CharField(max_length=16, choices=TargetKind.choices)
    target_id = models.CharField(max_length=64, help_text="The bulk, subscription or retail customer id in the URL.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    mode = models.CharField(max_length=8, default="partial", help_text="partial or strict")
    dry_run = models.BooleanField(default=False)
    bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    payload = models.FileField(upload_to=payload_upload_to, blank=True, max_length=200)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took an asynchronous submission (Prefer: respond-async)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.IN_PROGRESS, db_index=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    received_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    applied_count = models.PositiveIntegerField(default=0)
    readings_written = models.PositiveBigIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="The response body as sent (JSON report).")
    error = models.TextField(blank=True)

    class Meta:
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

    day = models.DateField(help_text="The local day (TIME_ZONE) the request arrived.")
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
    )
    kind = models.CharField(max_length=48, help_text="The endpoint (its URL name), or 'unknown'.")
    method = models.CharField(max_length=8)
    status_class = models.PositiveSmallIntegerField(help_text="1 to 5: the hundreds digit of the status.")
    requests = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0, help_text="Response bytes actually sent.")

    class Meta:
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
        BUILDING = "building", "building"
        READY = "ready", "ready"
        EXPIRED = "expired", "expired (parts deleted)"
        FAILED = "failed", "failed"

    correlation_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    caller = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="bulk_jobs"
    )
    target_kind = models.CharField(max_length=16, choices=Submission.TargetKind.choices)
    target_id = models.CharField(max_length=64, help_text="The bulk, subscription or retail customer id in the URL.")
    bulk_user = models.ForeignKey(
        "grants.BulkUser", on_delete=models.SET_NULL, null=True, blank=True, related_name="bulk_jobs"
    )
    grant = models.ForeignKey(
        "grants.Grant", on_delete=models.SET_NULL, null=True, blank=True, related_name="bulk_jobs"
    )
    customer = models.ForeignKey(
        "custodian.RetailCustomer", on_delete=models.SET_NULL, null=True, blank=True, related_name="bulk_jobs"
    )
    query = models.CharField(max_length=500, blank=True, help_text="The feed query it was asked with, normalized.")
    request_key = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BUILDING, db_index=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    usage_points = models.PositiveIntegerField(default=0)
    usage_point_days = models.PositiveBigIntegerField(default=0, help_text="The work estimate that decided 202.")
    bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
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
        PENDING = "pending", "pending"
        DONE = "done", "done"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="ranges")
    index = models.PositiveIntegerField()
    low_id = models.BigIntegerField()
    high_id = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="bulkjobrange_unique_index")]

    def __str__(self) -> str:
        return f"{self.job.correlation_id} range {self.index} [{self.low_id}, {self.high_id})"


class BulkPart(models.Model):
    """One stored part of a job's result: a schema-valid feed of at most BATCH_CHUNK_BYTES.

    ``grants`` are the grants whose data it holds; it is served only while all of them still reach it.
    """

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="parts")
    range = models.ForeignKey(BulkJobRange, on_delete=models.CASCADE, related_name="parts")
    seq = models.PositiveIntegerField()
    key = models.CharField(max_length=24, help_text="The part's name in its URI: range-seq, 1-based.")
    storage_name = models.CharField(max_length=300)
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    usage_points = models.PositiveIntegerField(default=0)
    grants = models.ManyToManyField("grants.Grant", related_name="bulk_parts", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "range__index", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["range", "seq"], name="bulkpart_unique_seq_per_range"),
            models.UniqueConstraint(fields=["job", "key"], name="bulkpart_unique_key_per_job"),
        ]

    def __str__(self) -> str:
        return f"{self.job.correlation_id} part {self.key}"
