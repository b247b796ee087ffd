"""Two connections at once on PostgreSQL: a revocation against an applying batch, one Idempotency-Key twice, a failure."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from batch import services
from batch.models import Submission
from custodian.models import IntervalBlock, MeterReading
from grants.models import Grant
from grants.services import grant_revoke
from tests.batch.conftest import bulk_path, post, sample_feed
from tests.conftest import requires_postgres
from tests.readings import reading_count, reading_rows

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


class Observer:
    """Register a stage hook for the duration of a test."""

    def __init__(self, hook):
        self.hook = hook

    def __enter__(self):
        services.apply_observers.append(self.hook)
        return self

    def __exit__(self, *exc):
        services.apply_observers.remove(self.hook)


def in_thread(target, results, name):
    def run():
        try:
            results[name] = target()
        except Exception as exc:  # surfaced by the assertions below
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_revocation_arriving_while_a_batch_applies_waits_for_it(upload_world):
    applying, release = threading.Event(), threading.Event()

    def hold(*, stage, submission):
        if stage == "applied":  # entries written, grant locks held, not committed yet
            applying.set()
            release.wait(20)

    results: dict = {}
    with Observer(hold):
        upload = in_thread(
            lambda: post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="race"), upload_world.tp_token),
            results,
            "upload",
        )
        assert applying.wait(20)

        def revoke():
            grant_revoke(grant=Grant.objects.get(pk=upload_world.grant_a.pk))
            return time.monotonic()

        revoker = in_thread(revoke, results, "revoked_at")
        time.sleep(1.0)
        assert revoker.is_alive(), "the revocation must wait for the batch holding the grant lock"
        released_at = time.monotonic()
        release.set()
        upload.join(20)
        revoker.join(20)
    assert results["upload"].status_code == 200
    assert results["revoked_at"] > released_at
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14
    # After the revocation committed nothing more lands under the grant.
    readings = reading_rows()
    later = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="after"), upload_world.tp_token)
    assert later.status_code == 403
    assert reading_rows() == readings


def test_revocation_committed_before_the_batch_locks_means_nothing_lands(upload_world):
    planned, revoked = threading.Event(), threading.Event()

    def wait_for_revocation(*, stage, submission):
        if stage == "planned":
            planned.set()
            revoked.wait(20)

    results: dict = {}
    with Observer(wait_for_revocation):
        upload = in_thread(
            lambda: post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="early"), upload_world.tp_token),
            results,
            "upload",
        )
        assert planned.wait(20)
        grant_revoke(grant=Grant.objects.get(pk=upload_world.grant_a.pk))
        revoked.set()
        upload.join(20)
    assert results["upload"].status_code == 403
    assert {row["reason"] for row in results["upload"].json()["entries"]} == {"not_granted"}
    assert not MeterReading.objects.exists()


def test_two_concurrent_requests_with_one_idempotency_key_apply_once(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="twin")
    first_inside, second_done = threading.Event(), threading.Event()

    def hold(*, stage, submission):
        if stage == "planned":
            first_inside.set()
            second_done.wait(20)

    results: dict = {}
    with Observer(hold):
        first = in_thread(
            lambda: post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="twin-key"), results, "first"
        )
        assert first_inside.wait(20)
        second = in_thread(
            lambda: post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="twin-key"),
            results,
            "second",
        )
        second.join(20)
        second_done.set()
        first.join(20)
    assert results["second"].status_code == 409
    assert results["second"].json()["error"] == "idempotency_in_progress"
    assert results["first"].status_code == 200
    assert Submission.objects.count() == 1
    assert IntervalBlock.objects.count() == 14
    replay = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="twin-key")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert IntervalBlock.objects.count() == 14


def test_failure_injected_mid_apply_leaves_nothing_and_the_submission_failed(upload_world):
    def explode(*, stage, submission):
        if stage == "applied":
            raise RuntimeError("disk full (injected)")

    with Observer(explode):
        response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="fail"), upload_world.tp_token)
    assert response.status_code == 500
    assert not MeterReading.objects.exists() and reading_count() == 0
    submission = Submission.objects.get()
    assert submission.outcome == Submission.Outcome.FAILED
    assert "disk full" in submission.error
