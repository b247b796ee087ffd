"""One lock order for everything that touches grants, raced in every pair on PostgreSQL with real second connections.

Five operations: staff revoke (Third Party revoked), On Hold, customer revoke, token issue (refresh at
``/oauth/token``) and a batch apply (bulk POST). For each ordered pair, the first runs in its own thread
and connection and stops just before its COMMIT, holding every lock it took; the second starts in
another thread and connection and runs until it finishes or waits on a lock; then the first commits.
Neither may die of a deadlock, and a revoke or On Hold that commits first leaves the upload nothing.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from batch import services as batch_services
from custodian.models import IntervalBlock
from grants import services as grant_services
from grants.models import Grant, ThirdParty
from tests import factories
from tests.batch.conftest import bulk_path, client_token, post, sample_feed
from tests.conftest import requires_postgres
from tests.faults.conftest import wait_until
from tests.grants.oauth_helpers import approve, basic_auth, exchange_code
from tests.worlds import RaceWorld

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

SECRET = "lock-order-third-party-secret"
OPERATIONS = ("staff_revoke", "on_hold", "customer_revoke", "token_issue", "batch_apply")
REVOKING = {"staff_revoke", "on_hold", "customer_revoke"}


class Hold:
    """Stop one operation just before its COMMIT until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        assert self.release.wait(30), "never released"


def build_race_world() -> RaceWorld:
    customer = factories.make_customer(username="alice")
    point = factories.make_usage_point(customer=customer, title="Home")
    third_party, _ = factories.make_third_party(name="Solar Co", client_secret=SECRET)
    factories.make_bulk_user(third_party=third_party, bulk_id="1")
    browser = Client()
    browser.force_login(customer.user)
    query, verifier = approve(
        browser, third_party=third_party, usage_points=[point], scope=factories.DEFAULT_SCOPE + ";BR=1"
    )
    tokens = exchange_code(
        Client(), client_id=third_party.client_id, secret=SECRET, code=query["code"], verifier=verifier
    ).json()
    return RaceWorld(
        customer=customer,
        point=point,
        third_party=third_party,
        refresh_token=tokens["refresh_token"],
        grant=Grant.objects.get(customer=customer),
        upload_token=client_token(third_party, scope="FB=35;BR=1"),
    )


def _in_transaction(work, hold: Hold | None):
    with transaction.atomic():
        result = work()
        if hold is not None:
            hold()
    return result


def _run(name: str, world: RaceWorld, hold: Hold | None):
    """Run one operation as production runs it; ``hold`` stops it just before it commits."""
    if name in ("staff_revoke", "on_hold"):
        lifecycle = ThirdParty.Lifecycle.REVOKED if name == "staff_revoke" else ThirdParty.Lifecycle.ON_HOLD
        return _in_transaction(
            lambda: grant_services.third_party_set_lifecycle(third_party=world.third_party, lifecycle=lifecycle),
            hold,
        )
    if name == "customer_revoke":
        return _in_transaction(lambda: grant_services.grant_revoke(grant=Grant.objects.get(pk=world.grant.pk)), hold)
    if name == "token_issue":
        return Client().post(
            "/oauth/token",
            {"grant_type": "refresh_token", "refresh_token": world.refresh_token},
            HTTP_AUTHORIZATION=basic_auth(world.third_party.client_id, SECRET),
        )
    if name == "batch_apply":
        return post(bulk_path("1"), sample_feed(usage_point=world.point, salt="race"), world.upload_token)
    raise AssertionError(name)


@pytest.fixture
def token_hold(monkeypatch):
    """Let a test stop the token issue after it wrote the new token (refresh token locked), before COMMIT."""
    holds: list[Hold] = []
    real = grant_services.token_issue_record

    def record_then_hold(**kwargs):
        real(**kwargs)
        if holds:
            holds.pop()()

    monkeypatch.setattr(grant_services, "token_issue_record", record_then_hold)
    return holds


@pytest.fixture
def batch_hold():
    holds: list[Hold] = []

    def observer(*, stage, submission):
        if stage == "applied" and holds:  # entries written under the locks, not committed
            holds.pop()()

    batch_services.apply_observers.append(observer)
    yield holds
    batch_services.apply_observers.remove(observer)


def _thread(target, results: dict, key: str) -> threading.Thread:
    def run():
        try:
            results[key] = target()
        except Exception as exc:  # examined by the test
            results[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _outcome(result) -> str:
    """Name what an operation ended with: ok, refused (a clear 4xx or rule), or failed (500, deadlock, error)."""
    if isinstance(result, Exception):
        from django.core.exceptions import ValidationError

        return "refused" if isinstance(result, ValidationError) else f"failed: {result!r}"
    status = getattr(result, "status_code", None)
    if status is None:
        return "ok"
    if status >= 500:
        return f"failed: {status} {result.content[:300]!r}"
    return "ok" if status < 300 else "refused"


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(OPERATIONS, 2)))
def test_every_pair_in_either_order_finishes_without_deadlock(first, second, token_hold, batch_hold):
    world = build_race_world()
    hold = Hold()
    if first == "token_issue":
        token_hold.append(hold)
    elif first == "batch_apply":
        batch_hold.append(hold)
    results: dict = {}
    one = _thread(lambda: _run(first, world, None if first in ("token_issue", "batch_apply") else hold), results, "a")
    assert hold.reached.wait(30), f"{first} never reached its commit: {results.get('a')!r}"
    two = _thread(lambda: _run(second, world, None), results, "b")
    wait_until(lambda: not two.is_alive() or _lock_waiters() > 0, what=f"{second} to finish or wait on a lock")
    second_waited = two.is_alive()
    hold.release.set()
    one.join(40)
    two.join(40)
    assert not one.is_alive() and not two.is_alive(), "an operation never finished"
    first_outcome, second_outcome = _outcome(results["a"]), _outcome(results["b"])
    assert not first_outcome.startswith("failed"), f"{first} (first): {first_outcome}"
    assert not second_outcome.startswith("failed"), f"{second} (second): {second_outcome}"
    assert first_outcome == "ok"

    if first in REVOKING and second == "batch_apply":
        # The revoke or On Hold committed first: the upload applies nothing.
        assert results["b"].status_code == 403
        assert {row["reason"] for row in results["b"].json()["entries"]} == {"not_granted"}
        assert not IntervalBlock.objects.exists()
    if first == "batch_apply":
        # A revoke or On Hold that arrives while an upload applies waits for it (it never commits under it).
        assert second_waited or second not in REVOKING
        assert results["a"].status_code == 200
        assert IntervalBlock.objects.filter(meter_reading__usage_point=world.point).count() == 14
    if second in REVOKING:
        assert second_outcome == "ok" or (second == "on_hold" and first == "staff_revoke")
    if first in REVOKING and second == "token_issue":
        assert second_outcome == "refused"
    grant = Grant.objects.get(pk=world.grant.pk)
    if {first, second} & {"staff_revoke", "customer_revoke"}:
        assert grant.status == Grant.Status.REVOKED
    if "token_issue" in (first, second) and not grant.is_active:
        # A token issued before the revocation committed is revoked with it; none issued after.
        issued = results["a"] if first == "token_issue" else results["b"]
        if issued.status_code == 200:
            bearer = issued.json()["access_token"]
            reach = Client().get("/oauth/token_grant", HTTP_AUTHORIZATION=f"Bearer {bearer}")
            assert reach.status_code == 401
