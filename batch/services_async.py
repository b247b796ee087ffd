"""Asynchronous batch POST (``Prefer: respond-async``): spooled by the web request, applied by a worker.

A thin layer over ``batch.services.batch_submit``'s stages, so the rules, locks and idempotency are
the same ones:

1. :func:`batch_spool` (web request): the body is streamed to disk and hashed (``payload_store``),
   the submission opened with its ``Idempotency-Key`` (``_submission_open``: a retry replays, a
   reused key is 422, a concurrent duplicate 409), then marked ``queued`` and its lease given back.
   The API answers 202 with the status URL and sends :func:`batch.tasks.apply_submission`.
2. :func:`submission_apply_queued` (worker): takes the submission's lease and moves it to
   ``in_progress``, rebuilds its target from the row (caller, grant, bulk, customer), and runs
   ``_submission_run``: plan, grant locks, the grants checked again under them, one transaction.
   Whatever happens is written to the submission (report, or error body with the status the
   synchronous answer would have had), which the status URL reads.

Crashes: the lease is the worker's database session (as for synchronous uploads), and the task is
acknowledged late, so a worker killed mid-apply has committed nothing and its task is delivered to
another worker, which takes the now-free lease and applies the submission once. A retry with the
same key while it is queued gets the same 202; while a worker applies it, 409. A submission whose
task was lost before it reached the broker (the web process died in between) is sent again by
:func:`batch.tasks.requeue_submissions` (beat).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batch import selectors
from batch.models import Submission
from batch.services import (
    BatchOptions,
    BatchResult,
    BatchTarget,
    PayloadTooLarge,
    _lease_key,
    _submission_open,
    _submission_run,
    payload_store,
    submission_lease_release,
)
from custodian.api_errors import error_body
from custodian.exceptions import DomainError
from grants import selectors as grant_selectors

logger = logging.getLogger(__name__)

#: Outcomes of a submission a worker has still to finish.
PENDING = (Submission.Outcome.QUEUED, Submission.Outcome.IN_PROGRESS)


def batch_spool(
    *, target: BatchTarget, options: BatchOptions, stream: IO[bytes], content_length: int
) -> Submission | BatchResult:
    """Store the body and open a ``queued`` submission; or answer a retry of an earlier one (``BatchResult``)."""
    max_bytes = settings.BATCH_MAX_BODY_BYTES
    if content_length > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    stored = payload_store(stream=stream, content_length=content_length, max_bytes=max_bytes)
    opened = _submission_open(target=target, options=options, stored=stored)
    if isinstance(opened, BatchResult):
        return opened
    try:
        # Queued rows are never taken as abandoned; a retry with the same key gets this 202 again.
        Submission.objects.filter(pk=opened.pk).update(outcome=Submission.Outcome.QUEUED)
        opened.outcome = Submission.Outcome.QUEUED
    finally:
        submission_lease_release(submission=opened)
    return opened


def submission_enqueue_failed(*, submission: Submission) -> None:
    """Close a queued submission whose task could not be sent (broker down): nothing applied, key freed."""
    report = error_body("unavailable", "The upload could not be queued; nothing was applied. Retry later.")
    Submission.objects.filter(pk=submission.pk, outcome=Submission.Outcome.QUEUED).update(
        outcome=Submission.Outcome.FAILED,
        http_status=503,
        report=report,
        finished_at=timezone.now(),
        idempotency_key="",
        error="The task could not be sent to the broker.",
    )


def _lease_try(submission: Submission) -> bool:
    """Take the submission's lease for this database session if nobody holds it (always True on SQLite)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lease_key(submission)])
        return bool(cursor.fetchone()[0])


def _claim(submission_id: int) -> Submission | None:
    """Take a pending submission for this worker (lease, then ``in_progress``); None if done or held elsewhere."""
    submission = Submission.objects.filter(pk=submission_id, outcome__in=PENDING).select_related("caller").first()
    if submission is None:
        return None  # finished (a redelivered task), or gone
    if submission.outcome == Submission.Outcome.IN_PROGRESS and transaction.get_connection().vendor != "postgresql":
        # SQLite (development) has no session leases: an in-progress one is left to its worker until
        # BATCH_LEASE_SECONDS have passed, as for synchronous uploads.
        began = submission.started_at or submission.received_at
        if began + timedelta(seconds=settings.BATCH_LEASE_SECONDS) > timezone.now():
            return None
    if not _lease_try(submission):
        return None  # another worker is applying it
    claimed = Submission.objects.filter(pk=submission.pk, outcome__in=PENDING).update(
        outcome=Submission.Outcome.IN_PROGRESS, started_at=timezone.now()
    )
    if not claimed:
        submission_lease_release(submission=submission)
        return None
    submission.refresh_from_db()
    return submission


def _target(submission: Submission) -> BatchTarget:
    """Rebuild the target the API resolved, from the row (the grants are checked again when applying)."""
    customer = bulk_user = None
    if submission.target_kind == Submission.TargetKind.BULK:
        bulk_user = grant_selectors.bulk_user_get(third_party=submission.caller, bulk_id=submission.target_id)
    elif submission.target_kind == Submission.TargetKind.RETAIL_CUSTOMER:
        customer = selectors.retail_customer_get(public_id=submission.target_id)
    return BatchTarget(
        kind=submission.target_kind,
        target_id=submission.target_id,
        caller=submission.caller,
        token_kind=submission.token_kind,
        grant=submission.grant,
        bulk_user=bulk_user,
        customer=customer,
    )


def submission_apply_queued(*, submission_id: int) -> Submission | None:
    """Apply a queued submission as the synchronous POST would; return it finished, or None if not ours to run."""
    submission = _claim(submission_id)
    if submission is None:
        return None
    options = BatchOptions(
        strict=submission.mode == "strict",
        dry_run=submission.dry_run,
        idempotency_key=submission.idempotency_key,
        content_type=submission.content_type,
    )
    try:
        _submission_run(
            submission, target=_target(submission), options=options, max_bytes=settings.BATCH_MAX_BODY_BYTES
        )
    except DomainError as exc:
        # Malformed bodies and apply failures are already written by _submission_run; anything else
        # (the bulk or customer gone, storage) is written here, with the key freed: nothing was applied.
        Submission.objects.filter(pk=submission.pk, outcome=Submission.Outcome.IN_PROGRESS).update(
            outcome=Submission.Outcome.FAILED,
            http_status=exc.status_code,
            report=error_body(exc.code, exc.message, **exc.extra),
            finished_at=timezone.now(),
            idempotency_key="",
            error=exc.message[:2000],
        )
    finally:
        submission_lease_release(submission=submission)
    submission.refresh_from_db()
    return submission


def submission_stale_queued_ids(*, older_than: timedelta) -> list[int]:
    """Return the ids of queued submissions received more than ``older_than`` ago (their task may be lost)."""
    cutoff = timezone.now() - older_than
    return list(
        Submission.objects.filter(outcome=Submission.Outcome.QUEUED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
