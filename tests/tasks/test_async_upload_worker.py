"""A batch POST with ``Prefer: respond-async`` applied by a real Celery worker process, read from its status URL."""

from __future__ import annotations

import time

from django.db.models import Sum
from django.test import Client

from batch.models import Submission
from bench import gen
from custodian.models import IntervalBlock, MeterReading
from tests.batch.conftest import build_upload_world, bulk_path, post, sample_feed


def test_a_real_worker_applies_the_spooled_upload_and_the_status_url_reports_it(celery_workers, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_upload_world()
    body = sample_feed(usage_point=world.a1, salt="worker")

    response = post(bulk_path("1"), body, world.tp_token, HTTP_PREFER="respond-async", HTTP_IDEMPOTENCY_KEY="w-1")
    assert response.status_code == 202
    # No worker runs yet: the upload waits, spooled, and nothing is applied.
    pending = Client().get(response["Location"], HTTP_AUTHORIZATION=f"Bearer {world.tp_token}")
    assert pending.status_code == 202 and pending.json()["status"] == "queued"
    assert not MeterReading.objects.exists()

    worker = celery_workers.start(env={"DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT)})
    deadline = time.monotonic() + 90
    while True:
        done = Client().get(response["Location"], HTTP_AUTHORIZATION=f"Bearer {world.tp_token}")
        if done.status_code == 200 or time.monotonic() > deadline:
            break
        assert done.status_code == 202
        time.sleep(0.3)
    assert done.status_code == 200, worker.output()[-3000:]
    data = done.json()
    assert (data["outcome"], data["http_status"]) == ("applied", 200)
    assert data["report"]["counts"]["accepted"] == data["report"]["counts"]["received"] > 0
    assert MeterReading.objects.filter(usage_point=world.a1).exists() and IntervalBlock.objects.exists()
    assert "batch.tasks.apply_submission" in worker.output()
    # The retry with the same key replays the stored report; nothing is applied twice.
    replay = post(bulk_path("1"), body, world.tp_token, HTTP_PREFER="respond-async", HTTP_IDEMPOTENCY_KEY="w-1")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1


def test_a_worker_killed_while_applying_leaves_it_to_another_that_applies_it_once(celery_workers, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_upload_world()
    feed = tmp_path / "year.xml"
    readings = gen.write_feed(
        feed, days=365, tag="kill", points=[(world.a1.public_id, str(world.a1.uuid).upper())], scope="Batch/Bulk/1"
    )
    media = {"DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    first = celery_workers.start("w1", env=media)
    response = post(bulk_path("1"), feed.read_bytes(), world.tp_token, HTTP_PREFER="respond-async")
    assert response.status_code == 202
    submission = Submission.objects.get()

    deadline = time.monotonic() + 60
    while Submission.objects.get().outcome == Submission.Outcome.QUEUED and time.monotonic() < deadline:
        time.sleep(0.05)
    celery_workers.kill(first)
    killed = Submission.objects.get()
    assert killed.outcome == Submission.Outcome.IN_PROGRESS, "the worker finished before it was killed"
    assert not IntervalBlock.objects.exists()  # it had committed nothing

    # SQLite has no session lease: the second worker takes it once BATCH_LEASE_SECONDS have passed.
    second = celery_workers.start("w2", env={**media, "BATCH_LEASE_SECONDS": "1"})
    deadline = time.monotonic() + 120
    while Submission.objects.get().outcome == Submission.Outcome.IN_PROGRESS and time.monotonic() < deadline:
        time.sleep(0.3)
    done = Client().get(response["Location"], HTTP_AUTHORIZATION=f"Bearer {world.tp_token}")
    assert done.status_code == 200, second.output()[-3000:]
    assert done.json()["outcome"] == "applied"
    assert "batch.tasks.apply_submission" in second.output()
    # Every reading once: nothing missing, nothing twice.
    assert done.json()["report"]["counts"]["readings_written"] == readings
    assert IntervalBlock.objects.aggregate(total=Sum("reading_count"))["total"] == readings
    assert Submission.objects.filter(pk=submission.pk, outcome="applied").count() == Submission.objects.count() == 1
