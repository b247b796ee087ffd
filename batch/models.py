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
    third_party = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
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
