"""Celery tasks of the batch app: build one range of an asynchronous Batch GET, delete expired results.

Thin wrappers over ``batch.services_async``, both safe to run twice (late acknowledgement hands a
killed worker's task to another worker, which finds the range done or builds it again).
"""

from __future__ import annotations

from celery import shared_task

from batch.services_async import bulk_range_build, bulk_results_expire


@shared_task(name="batch.tasks.build_range", ignore_result=True)
def build_range(range_id: int) -> int:
    """Build one range of usage points of a job into stored parts (finishing the job if it was the last)."""
    return bulk_range_build(range_id=range_id)


@shared_task(name="batch.tasks.expire_results", ignore_result=True)
def expire_results() -> int:
    """Delete the parts of results kept longer than BATCH_RESULT_DAYS."""
    return bulk_results_expire()
