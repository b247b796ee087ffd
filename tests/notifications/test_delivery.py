"""Delivery against a real HTTP server on loopback: grouping, retries with backoff, failure, refusals."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from custodian.espi.namespaces import ESPI
from custodian.espi.parser import parse_small_document
from grants.models import Notification
from grants.notifications import backoff_delay, notification_deliver_due
from tests import factories
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "http://127.0.0.1:8000/espi/1_1/resource"


def batch_list_uris(body: bytes) -> list[str]:
    """Parse a received BatchList with the project's hardened parser and return its URIs in order."""
    root = parse_small_document(body)
    assert root.tag == f"{{{ESPI}}}BatchList"
    assert all(child.tag == f"{{{ESPI}}}resources" for child in root)
    return [child.text for child in root]


def test_one_batch_list_per_third_party_with_every_uri(debug_on, receiver, customer, other_customer):
    first, _ = factories.make_third_party(name="First", notify_uri=receiver.uri("first"))
    second, _ = factories.make_third_party(name="Second", notify_uri=receiver.uri("second"))
    bulk = factories.make_bulk_user(third_party=first, bulk_id="1")
    home = factories.make_usage_point(customer=customer)
    barn = factories.make_usage_point(customer=other_customer)
    lone = factories.make_grant(customer=customer, third_party=first, usage_points=[home])
    member = factories.make_grant(customer=customer, third_party=first, usage_points=[home], bulk_user=bulk)
    other = factories.make_grant(customer=other_customer, third_party=first, usage_points=[barn], bulk_user=bulk)
    theirs = factories.make_grant(customer=customer, third_party=second, usage_points=[home])
    assert Notification.objects.filter(status="pending").count() == 4

    report = notification_deliver_due()

    assert (report.posts, report.delivered, report.retrying, report.failed) == (2, 4, 0, 0)
    by_path = {item.path: item for item in receiver.received}
    assert sorted(by_path) == ["/first", "/second"]
    # Two bulk members announce the same Batch/Bulk URI: it is sent once; each new grant's Authorization too.
    assert batch_list_uris(by_path["/first"].body) == [
        f"{BASE}/Batch/Subscription/{lone.subscription_id}",
        f"{BASE}/Authorization/{lone.public_id}",
        f"{BASE}/Batch/Bulk/1",
        f"{BASE}/Authorization/{member.public_id}",
        f"{BASE}/Authorization/{other.public_id}",
    ]
    assert batch_list_uris(by_path["/second"].body) == [
        f"{BASE}/Batch/Subscription/{theirs.subscription_id}",
        f"{BASE}/Authorization/{theirs.public_id}",
    ]
    assert by_path["/first"].headers["Content-Type"] == "application/xml"
    assert by_path["/first"].body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<BatchList xmlns="http://naesb.org/espi">'
    )
    assert "Authorization" not in by_path["/first"].headers
    assert set(Notification.objects.values_list("status", "last_status")) == {("delivered", 200)}
    assert Notification.objects.filter(delivered_at__isnull=True).count() == 0

    assert notification_deliver_due().posts == 0
    assert len(receiver.received) == 2


def test_server_error_is_retried_with_backoff_then_failed(debug_on, settings, receiver, notified_party, grant):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.NOTIFICATION_BACKOFF_BASE_SECONDS = 60
    receiver.status = 500
    factories.make_grant(
        customer=grant.customer,
        third_party=notified_party,
        usage_points=[factories.make_usage_point(customer=grant.customer)],
    )
    row = Notification.objects.get()
    t0 = timezone.now()

    report = notification_deliver_due(now=t0, rand=lambda: 1.0)
    row.refresh_from_db()
    assert (report.retrying, row.status, row.attempts, row.last_status) == (1, "pending", 1, 500)
    assert row.next_attempt_at == t0 + timedelta(seconds=60)
    assert "HTTP 500" in row.last_error and "attempt 1 of 3" in row.last_error

    # Not due yet: nothing is sent before the backoff ends.
    assert notification_deliver_due(now=t0 + timedelta(seconds=59)).posts == 0
    assert len(receiver.received) == 1

    t1 = t0 + timedelta(seconds=60)
    notification_deliver_due(now=t1, rand=lambda: 0.0)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at == t1 + timedelta(seconds=60)  # 60 x 2, times the 0.5 jitter floor

    report = notification_deliver_due(now=t1 + timedelta(seconds=60))
    row.refresh_from_db()
    assert (report.failed, row.status, row.attempts, row.last_status) == (1, "failed", 3, 500)
    assert "gave up" in row.last_error
    assert len(receiver.received) == 3
    assert notification_deliver_due(now=t1 + timedelta(days=30)).posts == 0


def test_backoff_doubles_is_capped_and_jittered(settings):
    settings.NOTIFICATION_BACKOFF_BASE_SECONDS = 30
    settings.NOTIFICATION_BACKOFF_MAX_SECONDS = 3600
    assert backoff_delay(attempts=1, rand=lambda: 1.0) == timedelta(seconds=30)
    assert backoff_delay(attempts=1, rand=lambda: 0.0) == timedelta(seconds=15)
    assert backoff_delay(attempts=2, rand=lambda: 1.0) == timedelta(seconds=60)
    assert backoff_delay(attempts=4, rand=lambda: 0.5) == timedelta(seconds=240 * 0.75)
    assert backoff_delay(attempts=20, rand=lambda: 1.0) == timedelta(seconds=3600)
    assert backoff_delay(attempts=20, rand=lambda: 0.0) == timedelta(seconds=1800)


def test_plain_http_notify_uri_is_refused_outside_debug(settings, receiver, notified_party, customer, usage_point):
    settings.DEBUG = False
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])

    report = notification_deliver_due()

    row = Notification.objects.get()
    assert receiver.received == []
    assert (report.retrying, row.status, row.last_status) == (1, "pending", None)
    assert "only to https" in row.last_error and "Refused notify URI scheme 'http'" in row.last_error


def test_redirects_are_not_followed(debug_on, receiver, notified_party, customer, usage_point):
    receiver.status = 307
    receiver.headers = {"Location": receiver.uri("elsewhere")}
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])

    notification_deliver_due()

    row = Notification.objects.get()
    assert [item.path for item in receiver.received] == ["/notify"]
    assert (row.status, row.last_status) == ("pending", 307)
    assert "redirects are not followed" in row.last_error


def test_a_receiver_that_does_not_answer_times_out(debug_on, settings, receiver, notified_party, customer, usage_point):
    settings.NOTIFICATION_TIMEOUT_SECONDS = 0.3
    release = threading.Event()
    receiver.respond = lambda item: release.wait(5)
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    try:
        notification_deliver_due()
    finally:
        release.set()

    row = Notification.objects.get()
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert "timed out" in row.last_error


def test_unreachable_receiver_is_an_error_not_a_crash(debug_on, notified_party, customer, usage_point):
    notified_party.notify_uri = "http://127.0.0.1:9/notify"  # discard port: nothing listens
    notified_party.save(update_fields=["notify_uri"])
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])

    report = notification_deliver_due()

    row = Notification.objects.get()
    assert report.retrying == 1 and "Connection failed" in row.last_error


def test_delivery_refuses_to_run_inside_a_transaction(notified_party):
    with pytest.raises(RuntimeError, match="outside any transaction"), transaction.atomic():
        notification_deliver_due()


@requires_postgres
def test_rows_locked_by_another_worker_are_skipped(debug_on, receiver, notified_party, customer, usage_point):
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    row = Notification.objects.get()
    locked = threading.Event()
    release = threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                Notification.objects.select_for_update().get(pk=row.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert notification_deliver_due().posts == 0  # SKIP LOCKED: no waiting, no double send
    finally:
        release.set()
        thread.join(10)
    assert notification_deliver_due().delivered == 1
    assert len(receiver.received) == 1
