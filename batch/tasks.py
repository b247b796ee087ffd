"""Celery tasks of the batch app: the asynchronous batch POST (``Prefer: respond-async``) and the asynchronous Batch GET.

Thin wrappers over ``batch.services_async`` (POST) and ``batch.services_bulk_jobs`` (GET); each is
safe to run twice (a submission is claimed under its lease and only while pending; a range already
done is skipped, and an attempt's files count only once it marks the range done), so late
acknowledgement and redelivery apply and record nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from batch.services_async import submission_apply_queued, submission_stale_queued_ids
from batch.services_bulk_jobs import bulk_range_build, bulk_ranges_stale, bulk_results_expire


@shared_task(name="batch.tasks.apply_submission", ignore_result=True)
def apply_submission(submission_id: int) -> str | None:
    """Apply one queued batch submission; return its outcome (None: finished already or taken by another worker)."""
    submission = submission_apply_queued(submission_id=submission_id)
    return submission.outcome if submission is not None else None


@shared_task(name="batch.tasks.requeue_submissions", ignore_result=True)
def requeue_submissions() -> int:
    """Send again the tasks of submissions queued for longer than ``BATCH_ASYNC_REQUEUE_SECONDS``."""
    ids = submission_stale_queued_ids(older_than=timedelta(seconds=settings.BATCH_ASYNC_REQUEUE_SECONDS))
    for submission_id in ids:
        apply_submission.delay(submission_id)
    return len(ids)


@shared_task(name="batch.tasks.build_range", ignore_result=True)
def build_range(range_id: int) -> int:
    """Build one range of usage points of a job into stored parts (finishing the job if it was the last)."""
    return bulk_range_build(range_id=range_id)


@shared_task(name="batch.tasks.expire_results", ignore_result=True)
def expire_results() -> int:
    """Delete the parts of results kept longer than BATCH_RESULT_DAYS; send again the ranges whose task was lost."""
    # A range already being built by a live worker is built twice at worst: only one attempt is recorded.
    for range_id in bulk_ranges_stale(older_than=timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT_SECONDS)):
        build_range.delay(range_id)
    return bulk_results_expire()
