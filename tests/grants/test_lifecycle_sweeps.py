"""Revoking a Third Party and expiring grants: refused at once at request time, row work in bounded batches.

The admin's revoke action changes one row and returns; the sweep then revokes grants and tokens a
batch at a time, each batch one transaction with the same number of queries, continuing where it
stopped. Expiry works the same way and skips grants another transaction holds.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from custodian.models import AuditEvent
from grants import services
from grants.models import Grant, Notification, ThirdParty
from tests import factories
from tests.conftest import requires_postgres

BATCH = 50


def _sweep_batches(third_party: ThirdParty, *, batch_size: int = BATCH) -> list[int]:
    """Run the sweep batch by batch until it finishes; return the queries of each batch."""
    counts = []
    while True:
        with CaptureQueriesContext(connection) as queries:
            _handled, finished = services.third_party_lifecycle_sweep_batch(
                third_party_id=third_party.pk, batch_size=batch_size
            )
        counts.append(len(queries))
        if finished:
            return counts


def _revoke_from_admin(admin_client, third_party: ThirdParty) -> int:
    """Revoke through the admin's changelist action; return the request's queries."""
    url = reverse("admin:grants_thirdparty_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(url, {"action": "revoke", "_selected_action": [third_party.pk]})
    assert response.status_code == 302
    return len(queries)


def _assert_swept(third_party: ThirdParty, grants: list[Grant]) -> None:
    assert not Grant.objects.filter(third_party=third_party, status=Grant.Status.ACTIVE).exists()
    assert Grant.objects.filter(third_party=third_party, status=Grant.Status.REVOKED).count() == len(grants)
    assert not AccessToken.objects.filter(application=third_party).exists()
    assert not RefreshToken.objects.filter(application=third_party, revoked__isnull=True).exists()
    audited = AuditEvent.objects.filter(
        action=AuditEvent.Action.GRANT_REVOKED, object_type="Grant", object_id__in=[g.public_id for g in grants]
    )
    assert audited.count() == len(grants)
    third_party.refresh_from_db()
    assert third_party.lifecycle_swept_to is None


@pytest.mark.django_db
def test_the_admin_revokes_at_once_and_the_sweep_costs_the_same_per_batch_at_any_size(admin_client, client):
    small, _ = factories.make_third_party(name="Small Co", notify_uri="https://small.example/notify")
    large, _ = factories.make_third_party(name="Large Co", notify_uri="https://large.example/notify")
    small_grants = factories.make_many_grants(third_party=small, count=BATCH // 2, tokens_every=3)
    large_grants = factories.make_many_grants(third_party=large, count=BATCH * 6, tokens_every=3)
    client_token = factories.make_client_token(large, scope="FB=35")
    grant_token = factories.make_access_token(large_grants[1])
    assert (
        client.get("/espi/1_1/resource/ReadServiceStatus", HTTP_AUTHORIZATION=f"Bearer {client_token}").status_code
        == 200
    )

    assert _revoke_from_admin(admin_client, small) == _revoke_from_admin(admin_client, large)
    # Refused at once, before any grant or token row changed.
    assert Grant.objects.filter(third_party=large, status=Grant.Status.ACTIVE).count() == len(large_grants)
    anonymous = Client()
    assert (
        anonymous.get("/espi/1_1/resource/ReadServiceStatus", HTTP_AUTHORIZATION=f"Bearer {client_token}").status_code
        == 401
    )
    subscription = f"/espi/1_1/resource/Batch/Subscription/{large_grants[1].subscription_id}"
    assert anonymous.get(subscription, HTTP_AUTHORIZATION=f"Bearer {grant_token}").status_code == 401

    small_batches = _sweep_batches(small)
    _assert_swept(small, small_grants)
    large_batches = _sweep_batches(large)
    grant_batches = large_batches[: len(large_grants) // BATCH]
    assert len(set(grant_batches)) == 1, f"queries per batch of {BATCH} grants: {large_batches}"
    assert small_batches[0] == grant_batches[0]
    assert len(large_batches) <= len(large_grants) // BATCH + 3  # the grants, the remaining tokens, the end
    _assert_swept(large, large_grants)
    assert Notification.objects.filter(third_party=large, kind=Notification.Kind.GRANT_REVOKED).count() == len(
        large_grants
    )
    revoked = Grant.objects.get(pk=large_grants[0].pk)
    assert revoked.revoked_by is not None and revoked.revoked_by.is_staff  # the staff member who revoked it
    assert services.third_party_lifecycle_sweep(third_party_id=large.pk) == 0  # done: nothing more


@pytest.mark.django_db
def test_a_sweep_continues_where_it_stopped_and_e_mails_each_customer_once(django_capture_on_commit_callbacks):
    third_party, _ = factories.make_third_party(name="Paused Co")
    grants = factories.make_many_grants(third_party=third_party, count=7)
    services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    with django_capture_on_commit_callbacks(execute=True):
        services.third_party_lifecycle_sweep_batch(third_party_id=third_party.pk, batch_size=3)
    assert len(mail.outbox) == 3
    # Interrupted here; the next run (task, beat or command) goes on from the fourth grant.
    assert services.third_party_lifecycle_sweeps_due() == [third_party.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.third_party_lifecycle_sweep(third_party_id=third_party.pk, batch_size=3) == 4
    assert sorted(m.to[0] for m in mail.outbox) == sorted(g.customer.user.email for g in grants)
    assert services.third_party_lifecycle_sweeps_due() == []
    assert Grant.objects.filter(third_party=third_party, status=Grant.Status.ACTIVE).count() == 7  # On Hold keeps them


@pytest.mark.django_db
def test_expiry_runs_in_batches_of_the_same_cost(settings):
    third_party, _ = factories.make_third_party(name="Ending Co", notify_uri="https://ending.example/notify")
    start = timezone.now() - timedelta(days=40)
    factories.make_many_grants(third_party=third_party, count=BATCH * 4, days=30, start=start, tokens_every=2)
    moment = timezone.now()
    counts = []
    while True:
        with CaptureQueriesContext(connection) as queries:
            expired = services.grant_expire_batch(moment=moment, batch_size=BATCH)
        if not expired:
            break
        counts.append(len(queries))
    assert len(counts) == 4 and len(set(counts)) == 1, counts
    assert Grant.objects.filter(status=Grant.Status.EXPIRED).count() == BATCH * 4
    assert not AccessToken.objects.filter(application=third_party).exists()
    assert Notification.objects.filter(kind=Notification.Kind.GRANT_EXPIRED).count() == BATCH * 4


@requires_postgres
@pytest.mark.django_db
def test_twenty_thousand_grants_are_revoked_from_the_admin_in_bounded_batches(admin_client):
    third_party, _ = factories.make_third_party(name="Huge Co", notify_uri="https://huge.example/notify")
    grants = factories.make_many_grants(third_party=third_party, count=20_000, tokens_every=10)
    small, _ = factories.make_third_party(name="Tiny Co", notify_uri="https://tiny.example/notify")
    factories.make_many_grants(third_party=small, count=3)
    assert _revoke_from_admin(admin_client, small) == _revoke_from_admin(admin_client, third_party)
    batches = _sweep_batches(third_party, batch_size=500)
    assert len(batches) <= 20_000 // 500 + 3
    assert len(set(batches[: 20_000 // 500])) == 1, batches
    _assert_swept(third_party, grants)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_expiry_skips_a_grant_another_transaction_holds_and_never_waits_for_it():
    third_party, _ = factories.make_third_party(name="Busy Co")
    start = timezone.now() - timedelta(days=40)
    grants = factories.make_many_grants(third_party=third_party, count=5, days=30, start=start)
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold_one():  # as an upload does: the Third Party shared, then the grant for update
        try:
            with transaction.atomic():
                services.grant_lock(
                    grants=Grant.objects.filter(pk=grants[2].pk), third_party=third_party, bulk_user=None
                )
                held.set()
                release.wait(30)
        finally:
            connections.close_all()
            done.set()

    holder = threading.Thread(target=hold_one, daemon=True)
    holder.start()
    assert held.wait(30)
    try:
        assert services.grant_expire_due(batch_size=2) == 4  # the held grant is left for the next run
    finally:
        release.set()
        holder.join(30)
    assert Grant.objects.get(pk=grants[2].pk).status == Grant.Status.ACTIVE
    assert services.grant_expire_due(batch_size=2) == 1
    assert not Grant.objects.filter(status=Grant.Status.ACTIVE).exists()
