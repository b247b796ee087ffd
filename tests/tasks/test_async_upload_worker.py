"""A batch POST with ``Prefer: respond-async`` applied by a real Celery worker process, read from its status URL."""

from __future__ import annotations

import time

from django.test import Client

from batch.models import Submission
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
