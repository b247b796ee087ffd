"""Operations: failed deliveries in admin with a retry action, restarts lose nothing, grants expire unattended."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, connections
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_backends import get_oauthlib_core

from custodian.models import AuditEvent
from grants import selectors
from grants.models import Grant, Notification
from grants.notifications import notification_deliver_due
from grants.services import grant_token_issue
from tests import factories
from tests.bulk_reach import bulk_reach
from tests.conftest import requires_postgres

CHANGELIST = "admin:grants_notification_changelist"


def bearer_is_valid(raw_token: str) -> bool:
    """Ask the portal's OAuth validator, as every ESPI request does, whether a bearer token is accepted."""
    request = RequestFactory().get("/espi/1_1/resource/ReadServiceStatus", HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    valid, _ = get_oauthlib_core().verify_request(request, scopes=[])
    return valid


@pytest.mark.django_db(transaction=True)
def test_failing_receiver_ends_failed_in_admin_and_retry_now_delivers(
    debug_on, settings, receiver, notified_party, customer, usage_point, admin_client, admin_user
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    receiver.status = 500
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    t0 = timezone.now()
    notification_deliver_due(now=t0)
    notification_deliver_due(now=t0 + timedelta(days=1))
    row = Notification.objects.get()
    assert (row.status, row.attempts, row.last_status) == ("failed", 2, 500)

    page = admin_client.get(reverse(CHANGELIST), {"status__exact": "failed"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/admin/grants/notification/{row.pk}/change/" in html
    assert "HTTP 500 Internal Server Error" in html and "Notified Co" in html
    assert "retry_now" in html
    assert (
        f"/admin/grants/notification/{row.pk}/"
        not in admin_client.get(reverse(CHANGELIST), {"status__exact": "delivered"}).content.decode()
    )
    assert admin_client.get(reverse("admin:grants_notification_change", args=[row.pk])).status_code == 200

    response = admin_client.post(reverse(CHANGELIST), {"action": "retry_now", "_selected_action": [row.pk]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at <= timezone.now()
    audit = AuditEvent.objects.get(action="notification.retried")
    assert (audit.actor_user, audit.object_id) == (admin_user, str(row.pk))

    receiver.status = 204
    report = notification_deliver_due()
    row.refresh_from_db()
    assert (report.delivered, row.status, row.last_status, row.last_error) == (1, "delivered", 204, "")
    assert len(receiver.received) == 3


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_post_leaves_the_row_due_again(debug_on, receiver, notified_party, customer, usage_point):
    factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    t0 = timezone.now()

    def killed(**kwargs):
        raise KeyboardInterrupt  # the process dies between the claim commit and the outcome

    with pytest.raises(KeyboardInterrupt):
        notification_deliver_due(now=t0, post=killed)
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("pending", 0)
    assert notification_deliver_due(now=t0 + timedelta(seconds=5)).posts == 0  # claimed: a second worker skips it

    report = notification_deliver_due(now=row.next_attempt_at)
    row.refresh_from_db()
    assert (report.delivered, row.status) == (1, "delivered")
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_change_committed_then_connections_dropped_then_command_delivers(
    debug_on, receiver, notified_party, customer, usage_point
):
    grant = factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    connections.close_all()
    out = io.StringIO()

    call_command("deliver_notifications", "--once", stdout=out)

    assert "1 delivered" in out.getvalue() and "Notified Co: 1 notification(s)" in out.getvalue()
    assert grant.subscription_id in receiver.bodies()[0].decode()
    assert Notification.objects.get().status == "delivered"


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_fresh_process_delivers_what_the_portal_committed(receiver, notified_party, customer, usage_point):
    grant = factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    revoked = factories.make_grant(customer=customer, third_party=notified_party, usage_points=[usage_point])
    from grants.services import grant_revoke

    grant_revoke(grant=revoked)
    connections.close_all()  # the portal goes away; only the database remembers
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_DEBUG": "1"}

    done = subprocess.run(
        [sys.executable, "manage.py", "deliver_notifications", "--once"],
        cwd=Path(django_settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "3 delivered" in done.stdout, done.stdout
    [body] = receiver.bodies()
    # The two grants' data URIs and Authorizations, the revoked grant's URIs once though two rows named them.
    assert body.decode().count("<resources>") == 4
    assert grant.subscription_id in body.decode() and revoked.subscription_id in body.decode()
    assert set(Notification.objects.values_list("status", flat=True)) == {"delivered"}


@pytest.mark.django_db
def test_a_grant_past_its_end_reaches_nothing_before_expire_grants_runs(customer, usage_point, third_party):
    third_party.notify_uri = "https://push.example/notify"
    third_party.save(update_fields=["notify_uri"])
    bulk = factories.make_bulk_user(third_party=third_party, bulk_id="1")
    start = timezone.now() - timedelta(days=3)
    ended = factories.make_grant(
        customer=customer, third_party=third_party, usage_points=[usage_point], bulk_user=bulk, start=start, days=1
    )
    running = factories.make_grant(customer=customer, third_party=third_party, usage_points=[usage_point])
    grant_token_issue(grant=ended, raw_token="ended-grant-token-0123456789")
    grant_token_issue(grant=running, raw_token="running-grant-token-0123456789")

    # Before anyone acts: still marked active, yet it reaches nothing at request time.
    assert Grant.objects.get(pk=ended.pk).status == "active"
    assert not ended.is_active
    assert not selectors.grant_active_list().filter(pk=ended.pk).exists()
    assert not bulk_reach(third_party=third_party, bulk_id="1")
    assert not bearer_is_valid("ended-grant-token-0123456789")
    assert bearer_is_valid("running-grant-token-0123456789")

    out = io.StringIO()
    call_command("expire_grants", stdout=out)

    assert "1 grant(s) expired" in out.getvalue()
    ended.refresh_from_db()
    assert ended.status == "expired"
    assert not get_access_token_model().objects.filter(grant_binding__grant=ended).exists()
    assert AuditEvent.objects.filter(action="grant.expired", object_id=ended.public_id).count() == 1
    [row] = Notification.objects.filter(kind="grant_expired")
    assert (row.grant, row.resources) == (
        ended,
        [
            "http://127.0.0.1:8000/espi/1_1/resource/Batch/Bulk/1",
            f"http://127.0.0.1:8000/espi/1_1/resource/Authorization/{ended.public_id}",
        ],
    )
    assert bearer_is_valid("running-grant-token-0123456789")

    call_command("expire_grants", stdout=io.StringIO())
    assert Notification.objects.filter(kind="grant_expired").count() == 1


def test_deliver_notifications_rejects_bad_arguments():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("deliver_notifications", "--once", "--limit", "0")
