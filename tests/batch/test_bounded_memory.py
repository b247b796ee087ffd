"""An upload decides the same with its per-entry state on disk as in memory, and streams a large report.

The bounds are shrunk to a few entries (``custodian.imports.store``, the spool, the report's inline
size), so a 40-entry feed goes through every on-disk path: entry plans in chunks on disk written back
between passes, the ids seen in a temporary SQLite table, the spool on disk, the report's rows
streamed from their file (JSON and Atom). How much memory that saves is measured in ``bench/``.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from batch import reports
from batch.models import Submission
from custodian.espi.parser import iter_entries
from custodian.imports import spool as spool_module
from custodian.imports import store
from custodian.models import IntervalBlock
from tests.batch.conftest import bulk_path, post, sample_feed, snapshot

pytestmark = pytest.mark.django_db


def _two_feeds(world) -> bytes:
    """The sample for a granted usage point, then the one for a usage point out of the bulk, one id twice."""
    granted = sample_feed(usage_point=world.a1, salt="bounded")
    not_granted = sample_feed(usage_point=world.a2, salt="bounded-ng")
    not_granted = not_granted.replace(b"ReadingType/07", b"ReadingType/08").replace(b"Parameters/01", b"Parameters/02")
    tail = not_granted.split(b"<entry>", 1)[1].rsplit(b"</feed>", 1)[0]
    first_block = granted.split(b"<entry>")[-1].split(b"</entry>")[0]
    return granted.replace(b"</feed>", b"<entry>" + tail + b"<entry>" + first_block + b"</entry></feed>")


@pytest.fixture
def tiny_bounds(monkeypatch):
    monkeypatch.setattr(store, "CHUNK", 3)
    monkeypatch.setattr(store, "PLAN_MEMORY_ENTRIES", 3)
    monkeypatch.setattr(store, "SEEN_MEMORY_IDS", 2)
    monkeypatch.setattr(spool_module, "SPOOL_MEMORY_BUDGET", 0)
    monkeypatch.setattr(reports, "REPORT_INLINE_BYTES", 0)


def _streamed_json(response) -> dict:
    assert response.streaming
    return json.loads(b"".join(response.streaming_content))


def test_an_upload_with_its_state_on_disk_decides_and_writes_what_one_in_memory_does(upload_world, monkeypatch):
    body = _two_feeds(upload_world)
    # In memory (the default bounds), as a dry run: what the upload would do.
    expected = post(bulk_path("1") + "?dry_run=1", body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="dry")
    assert expected.status_code == 200 and not expected.streaming
    expected_rows = expected.json()["entries"]
    assert {row["reason"] for row in expected_rows} == {None, "not_granted", "duplicate"}

    monkeypatch.setattr(store, "CHUNK", 3)
    monkeypatch.setattr(store, "PLAN_MEMORY_ENTRIES", 3)
    monkeypatch.setattr(store, "SEEN_MEMORY_IDS", 2)
    monkeypatch.setattr(spool_module, "SPOOL_MEMORY_BUDGET", 0)
    monkeypatch.setattr(reports, "REPORT_INLINE_BYTES", 0)
    response = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="real")
    assert response.status_code == 200
    data = _streamed_json(response)
    assert data["outcome"] == "applied"
    assert data["entries"] == expected_rows
    assert data["counts"]["received"] == len(expected_rows) == 41
    assert data["counts"]["accepted"] == sum(1 for row in expected_rows if row["status"] == "accepted")
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14
    assert not IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a2).exists()
    submission = Submission.objects.get(idempotency_key="real")
    assert "entries" not in submission.report

    # The retry replays the stored report, streamed again from its rows file; nothing changes.
    before = snapshot()
    again = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="real")
    assert again["Idempotent-Replayed"] == "true"
    assert _streamed_json(again) == data
    assert snapshot() == before


def test_the_atom_report_of_a_streamed_report_gives_every_entry_its_status(upload_world, tiny_bounds):
    body = _two_feeds(upload_world)
    response = Client().post(
        bulk_path("1"),
        data=body,
        content_type="application/atom+xml",
        HTTP_AUTHORIZATION=f"Bearer {upload_world.tp_token}",
        HTTP_ACCEPT="application/atom+xml",
    )
    assert response.status_code == 200
    feed = b"".join(response.streaming_content)
    submission = Submission.objects.get()
    rows = list(reports.report_entries(submission))
    echoed = list(iter_entries(feed))
    assert len(echoed) == len(rows) == 41
    assert feed.count(b"<statusCode>") == 41
    assert feed.count(b"<statusCode>200<") == sum(1 for row in rows if row["status"] == "accepted") == 20
    assert feed.count(b"<statusCode>400<") == 1  # the id given twice


def test_chunks_on_disk_keep_what_a_pass_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "CHUNK", 4)
    items = store.ChunkStore(pack=lambda x: tuple(x), unpack=list, directory=tmp_path, memory_items=4)
    for i in range(30):
        items.append([i, 0])
    assert len(items) == 30 and items.chunks_on_disk > 0
    for item in items:
        item[1] = item[0] * 2  # a pass that changes every item, chunk by chunk
    assert list(items.scan()) == [[i, i * 2] for i in range(30)]


def test_ids_seen_answer_the_same_in_memory_and_on_disk():
    seen = store.SeenIds(memory_ids=3)
    ids = [uuid.uuid4() for _ in range(10)]
    assert [seen.add(u) for u in ids] == [False] * 10
    assert [seen.add(u) for u in reversed(ids)] == [True] * 10
    assert seen._db is not None  # past the bound: on disk
    seen.close()


def test_the_status_url_of_an_async_upload_streams_a_large_report(upload_world, tiny_bounds):
    from batch import services_async
    from tests.batch.test_async_upload import spool_bulk, status, status_path

    body = _two_feeds(upload_world)
    submission = spool_bulk(upload_world, body)
    services_async.submission_apply_queued(submission_id=submission.pk)
    done = status(status_path(submission), upload_world.tp_token)
    assert done.status_code == 200
    data = _streamed_json(done)
    assert (data["status"], data["outcome"]) == ("done", "applied")
    submission.refresh_from_db()
    assert data["report"] == reports.report_json(submission, submission.report)
    assert len(data["report"]["entries"]) == data["report"]["counts"]["received"] == 41
