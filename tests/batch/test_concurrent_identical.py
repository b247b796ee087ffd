"""Two uploads of one feed at once, under two Idempotency-Keys, over real HTTP on PostgreSQL (rule 10).

Both plan before either applies (the first holds at "planned" until the second has planned too),
so the second plans "create" for rows the first then commits. The second waits for the grant lock,
finds the rows there, plans again, and reports every entry ``unchanged``: no duplicate key, no 500.
"""

from __future__ import annotations

import threading

import pytest
import requests
from django.db import connections

from batch import services
from batch.models import Submission
from custodian.models import IntervalBlock, MeterReading
from tests.batch.conftest import ATOM, bulk_path, sample_feed
from tests.conftest import requires_postgres
from tests.readings import reading_rows

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_feed_twice_at_once_creates_once_and_the_other_is_unchanged(upload_world, live_server):
    body = sample_feed(usage_point=upload_world.a1, salt="concurrent")
    both_planned = threading.Event()
    lock = threading.Lock()
    seen: list[str] = []

    def hold(*, stage, submission):
        if stage == "planned" and len(seen) < 2:
            with lock:
                seen.append(submission.public_id)
                if len(seen) == 2:
                    both_planned.set()
            both_planned.wait(30)

    results: dict[str, requests.Response | Exception] = {}

    def upload(key: str) -> None:
        try:
            results[key] = requests.post(
                live_server.url + bulk_path("1"),
                data=body,
                headers={
                    "Authorization": f"Bearer {upload_world.tp_token}",
                    "Content-Type": ATOM,
                    "Idempotency-Key": key,
                },
                timeout=60,
            )
        except Exception as exc:  # surfaced by the assertions below
            results[key] = exc
        finally:
            connections.close_all()

    services.apply_observers.append(hold)
    try:
        threads = [threading.Thread(target=upload, args=(key,)) for key in ("key-one", "key-two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        services.apply_observers.remove(hold)
    assert both_planned.is_set(), "both uploads planned before either applied"
    responses = [results["key-one"], results["key-two"]]
    assert all(isinstance(r, requests.Response) for r in responses), responses
    assert [r.status_code for r in responses] == [200, 200], [r.text[:500] for r in responses]
    reports = sorted((r.json() for r in responses), key=lambda report: report["counts"]["created"], reverse=True)
    creator, other = reports
    # The usage point is the utility's: the first upload fills it in, every other resource is new.
    assert (creator["counts"]["created"], creator["counts"]["updated"]) == (creator["counts"]["accepted"] - 1, 1)
    assert other["counts"]["unchanged"] == other["counts"]["accepted"] == creator["counts"]["accepted"]
    assert other["counts"]["created"] == other["counts"]["updated"] == 0
    assert {row["change"] for row in other["entries"] if row["status"] == "accepted"} == {"unchanged"}
    assert Submission.objects.filter(outcome=Submission.Outcome.APPLIED).count() == 2
    assert IntervalBlock.objects.count() == 14 and MeterReading.objects.count() == 1
    assert len(reading_rows()) == sum(block.reading_count for block in IntervalBlock.objects.all())
