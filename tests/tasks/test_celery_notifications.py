"""Celery runs the outbox, expiry and the daily notice: in-process without a broker, and in real workers on Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from custodian.celery import app
from custodian.models import IntervalBlock, MeterReading
from grants import tasks
from grants.models import Grant, Notification
from grants.notifications import notification_enqueue_daily_new_data
from tests import factories
from tests.notifications.conftest import debug_on, notified_party, receiver  # noqa: F401 - fixtures

BASE = "http://127.0.0.1:8000/espi/1_1/resource"


def wait_until(check, *, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_without_a_broker_tasks_run_in_process():
    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    assert app.conf.task_always_eager is True
    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, entry["task"]
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == {
        "grants.tasks.deliver_notifications",
        "grants.tasks.expire_grants",
        "grants.tasks.daily_new_data_notices",
        "batch.tasks.expire_results",
        "batch.tasks.requeue_submissions",
        "grants.tasks.lifecycle_sweeps",
    }


@pytest.mark.django_db(transaction=True)
def test_eager_delivery_posts_the_batch_list(debug_on, receiver, notified_party, customer, usage_point):  # noqa: F811
    grant = factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])

    result = tasks.deliver_notifications.delay()

    assert result.get() == {"posts": 1, "delivered": 1, "retrying": 0, "failed": 0}
    assert [item.path for item in receiver.received] == ["/notify"]
    assert f"/Batch/Subscription/{grant.subscription_id}".encode() in receiver.received[0].body
    assert Notification.objects.get().status == Notification.Status.DELIVERED


def test_a_real_worker_delivers_from_the_test_database(celery_workers, receiver, customer, usage_point):  # noqa: F811
    party, _ = factories.make_third_party(name="Worker Co", notify_uri=receiver.uri())
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    worker = celery_workers.start()

    tasks.deliver_notifications.delay()

    wait_until(lambda: Notification.objects.filter(status="delivered").exists(), what="the delivery")
    assert f"/Batch/Subscription/{grant.subscription_id}".encode() in receiver.received[0].body
    row = Notification.objects.get()
    assert (row.status, row.last_status, row.attempts) == ("delivered", 200, 1)
    assert "grants.tasks.deliver_notifications" in worker.output()


def test_beat_and_a_worker_deliver_retry_and_expire_on_their_own(celery_workers, receiver, customer, usage_point):  # noqa: F811
    party, _ = factories.make_third_party(name="Beat Co", notify_uri=receiver.uri())
    receiver.status = 503
    grant = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    ending = factories.make_grant(
        customer=customer, third_party=party, usage_points=[usage_point], start=timezone.now() - timedelta(days=2)
    )
    Grant.objects.filter(pk=ending.pk).update(authorized_end=timezone.now() - timedelta(seconds=1))
    Notification.objects.update(next_attempt_at=timezone.now())
    celery_workers.start(env={"NOTIFICATION_BACKOFF_BASE_SECONDS": "1"})
    celery_workers.start_beat(env={"NOTIFICATION_DELIVERY_SECONDS": "1", "GRANT_EXPIRY_SECONDS": "2"})

    # The first attempt fails (503): the row is retried later by the next beat round, which succeeds.
    wait_until(lambda: len(receiver.received) >= 1, what="a first delivery attempt")
    receiver.status = 200
    wait_until(
        lambda: (
            not Notification.objects.exclude(status=Notification.Status.DELIVERED).exists()
            and Notification.objects.filter(kind=Notification.Kind.GRANT_EXPIRED).exists()
        ),
        timeout=120,
        what="every notification delivered, the expiry included",
    )
    assert Grant.objects.get(pk=ending.pk).status == Grant.Status.EXPIRED
    assert Grant.objects.get(pk=grant.pk).status == Grant.Status.ACTIVE
    assert Notification.objects.filter(attempts__gte=2).exists()


def _block(point, *, published: datetime) -> None:
    reading = MeterReading.objects.create(usage_point=point, title="energy")
    start = int((published - timedelta(days=1)).timestamp())
    block = IntervalBlock(meter_reading=reading, start=start, duration=86400, published=published, updated=published)
    block.set_readings([(start, 900, 100, None, None, None)])
    block.save()


@pytest.mark.django_db
def test_daily_notice_goes_to_opted_in_third_parties_once(customer, other_customer):
    day_end = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    opted, _ = factories.make_third_party(name="Daily Co", notify_uri="https://daily.example/notify")
    opted.daily_new_data_notice = True
    opted.save(update_fields=["daily_new_data_notice"])
    silent, _ = factories.make_third_party(name="Quiet Co", notify_uri="https://quiet.example/notify")
    bulk = factories.make_bulk_user(third_party=opted, bulk_id="7")
    fresh = factories.make_usage_point(customer=customer)
    stale = factories.make_usage_point(customer=other_customer)
    _block(fresh, published=day_end - timedelta(hours=3))
    _block(stale, published=day_end - timedelta(days=3))
    lone = factories.make_grant(customer=customer, third_party=opted, usage_points=[fresh])
    factories.make_grant(customer=customer, third_party=opted, usage_points=[fresh], bulk_user=bulk)
    factories.make_grant(customer=other_customer, third_party=opted, usage_points=[stale])
    factories.make_grant(customer=customer, third_party=silent, usage_points=[fresh])
    Notification.objects.all().delete()

    created = notification_enqueue_daily_new_data(day_end=day_end)

    window = "published-min=" + (day_end - timedelta(days=1)).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    uris = sorted(uri for row in created for uri in row.resources)
    assert [row.third_party for row in created] == [opted, opted]
    assert uris[0].startswith(f"{BASE}/Batch/Bulk/7?") and window in uris[0]
    assert uris[1].startswith(f"{BASE}/Batch/Subscription/{lone.subscription_id}?")
    assert notification_enqueue_daily_new_data(day_end=day_end) == []
    assert tasks.daily_new_data_notices.delay(day_end=day_end.isoformat()).get() == 0


@pytest.mark.django_db
def test_staff_set_the_daily_notice_and_rate_limits_on_an_existing_third_party(admin_user):
    from custodian.models import AuditEvent
    from grants.services import third_party_update

    party, _ = factories.make_third_party(name="Limits Co")
    third_party_update(
        third_party=party,
        information={"daily_new_data_notice": True, "rate_limit_per_second": 5, "rate_limit_per_day": 900},
        actor=admin_user,
    )
    party.refresh_from_db()
    assert (party.daily_new_data_notice, party.rate_limit_per_second, party.rate_limit_per_day) == (True, 5, 900)
    event = AuditEvent.objects.filter(object_id=party.public_id).order_by("-id").first()
    assert "rate_limit_per_second" in event.detail["fields"]


@pytest.mark.django_db
def test_the_admin_change_form_shows_the_limits(admin_client):
    party, _ = factories.make_third_party(name="Form Co")
    page = admin_client.get(f"/admin/grants/thirdparty/{party.pk}/change/")
    assert page.status_code == 200
    for name in ("daily_new_data_notice", "rate_limit_per_second", "rate_limit_per_hour", "rate_limit_per_day"):
        assert f'name="{name}"' in page.content.decode()
