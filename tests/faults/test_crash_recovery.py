"""A worker killed in the middle of an apply (or its database session ended): the retry with the same key applies once."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import requests
from django.db import connection

from batch.models import Submission
from custodian.models import IntervalBlock
from tests.batch.conftest import bulk_path, sample_feed, upload_world  # noqa: F401
from tests.conftest import requires_postgres
from tests.faults.conftest import Server, wait_until
from tests.readings import reading_count

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] > 0


def _upload(server: Server, upload_world, key: str, salt: str = "crash") -> requests.Response:  # noqa: F811
    return requests.post(
        server.url + bulk_path("1"),
        data=sample_feed(usage_point=upload_world.a1, salt=salt),
        headers={
            "Authorization": f"Bearer {upload_world.tp_token}",
            "Content-Type": "application/atom+xml",
            "Idempotency-Key": key,
        },
        timeout=60,
    )


def _first_upload_in_background(server, upload_world, key) -> tuple[threading.Thread, dict]:  # noqa: F811
    outcome: dict = {}

    def run():
        try:
            outcome["response"] = _upload(server, upload_world, key)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _assert_applied_once(upload_world, key: str, *, cause: str = "Abandoned") -> int:  # noqa: F811
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14
    once = reading_count()
    submissions = Submission.objects.filter(caller=upload_world.tp).order_by("id")
    assert [s.outcome for s in submissions] == [Submission.Outcome.FAILED, Submission.Outcome.APPLIED]
    abandoned, applied = submissions
    assert cause in abandoned.error and abandoned.idempotency_key == ""
    assert applied.idempotency_key == key
    return once


def test_worker_killed_mid_apply_then_the_retry_applies_exactly_once(upload_world, media_root, tmp_path):  # noqa: F811
    pause_file = tmp_path / "paused"
    server = Server(
        db_port=int(connection.settings_dict["PORT"] or 5432),
        media_root=media_root,
        env={"FAULT_PAUSE_FILE": str(pause_file)},
    )
    server.start()
    try:
        thread, outcome = _first_upload_in_background(server, upload_world, "crash-key-1")
        wait_until(pause_file.exists, what="the worker to reach the middle of the apply", attempts=1200)
        worker_pid, backend_pid = (int(part) for part in pause_file.read_text().split())
        assert Submission.objects.get().outcome == Submission.Outcome.IN_PROGRESS

        os.kill(worker_pid, signal.SIGKILL)
        thread.join(30)
        assert "error" in outcome  # the client saw its connection drop, with no answer
        wait_until(lambda: not _backend_alive(backend_pid), what="PostgreSQL to end the dead worker's session")
        assert not IntervalBlock.objects.exists()  # nothing partial was committed

        retry = _upload(server, upload_world, "crash-key-1")
        assert retry.status_code == 200, retry.text[:500]
        assert retry.json()["counts"]["applied"] > 0
        once = _assert_applied_once(upload_world, "crash-key-1")

        replay = _upload(server, upload_world, "crash-key-1")
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert reading_count() == once
    finally:
        server.stop()


def test_database_session_killed_mid_apply_then_the_retry_applies_exactly_once(upload_world, media_root, tmp_path):  # noqa: F811
    pause_file = tmp_path / "paused"
    server = Server(
        db_port=int(connection.settings_dict["PORT"] or 5432),
        media_root=media_root,
        env={"FAULT_PAUSE_FILE": str(pause_file), "FAULT_PAUSE_RESUME_ON_DB_LOSS": "1"},
    )
    server.start()
    try:
        thread, outcome = _first_upload_in_background(server, upload_world, "crash-key-2")
        wait_until(pause_file.exists, what="the worker to reach the middle of the apply", attempts=1200)
        _worker_pid, backend_pid = (int(part) for part in pause_file.read_text().split())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        thread.join(30)
        first = outcome["response"]
        assert first.status_code in (500, 503)
        assert first.headers["Content-Type"].startswith("application/json")
        assert not IntervalBlock.objects.exists()

        retry = _upload(server, upload_world, "crash-key-2")
        assert retry.status_code == 200, retry.text[:500]
        # The worker lived on: it recorded the failure itself (its lease died with its session either way).
        _assert_applied_once(upload_world, "crash-key-2", cause="terminating connection")
    finally:
        server.stop()
