"""Celery tasks of the grants app: the notification outbox, grant expiry, lifecycle sweeps, the daily notice.

Each task is a thin wrapper over a service and is safe to run twice (the outbox claims rows with a
lease, expiry and the daily notice skip what they already did), so late acknowledgement and beat
overlaps never send or expire anything twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from celery import shared_task
from django.utils import timezone

from grants.notifications import notification_deliver_due, notification_enqueue_daily_new_data
from grants.services import grant_expire_due, third_party_lifecycle_sweep, third_party_lifecycle_sweeps_due


@shared_task(name="grants.tasks.deliver_notifications", ignore_result=True)
def deliver_notifications(limit: int = 500) -> dict[str, int]:
    """Deliver the due notifications (first attempts and retries) once."""
    report = notification_deliver_due(limit=limit)
    return {"posts": report.posts, "delivered": report.delivered, "retrying": report.retrying, "failed": report.failed}


@shared_task(name="grants.tasks.expire_grants", ignore_result=True)
def expire_grants() -> int:
    """Expire the grants whose authorized period has ended."""
    return grant_expire_due(now=timezone.now())


@shared_task(name="grants.tasks.third_party_lifecycle_sweep", ignore_result=True)
def third_party_lifecycle_sweep_task(third_party_id: int) -> int:
    """Do the row work of one Third Party's On Hold or revocation, batch by batch, from where it stopped."""
    return third_party_lifecycle_sweep(third_party_id=third_party_id)


@shared_task(name="grants.tasks.lifecycle_sweeps", ignore_result=True)
def lifecycle_sweeps() -> int:
    """Finish every unfinished lifecycle sweep (one lost with a worker, or never queued)."""
    return sum(third_party_lifecycle_sweep(third_party_id=pk) for pk in third_party_lifecycle_sweeps_due())


@shared_task(name="grants.tasks.daily_new_data_notices", ignore_result=True)
def daily_new_data_notices(day_end: str | None = None) -> int:
    """Queue yesterday's "new data ready" notices (``day_end``: an ISO instant; default today 00:00 UTC)."""
    end = (
        datetime.fromisoformat(day_end)
        if day_end
        else datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)
    )
    created = notification_enqueue_daily_new_data(day_end=end)
    if created:
        deliver_notifications.delay()
    return len(created)
