"""Asynchronous Batch GET on real worker processes: ranges built in parallel, and a worker killed mid-job.

A worker is SIGKILLed after writing its part files but before recording them (its transaction
waits on a row this test holds); late acknowledgement gives the range to another worker, which
builds it again. The job finishes with every part once: none missing, none twice.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction

from batch.models import BulkJob, BulkJobRange, BulkPart
from tests import factories
from tests.conftest import requires_postgres
from tests.feeds.conftest import RESOURCE, Feed, assert_valid, bearer, make_point_with_data, shared_resources

POINTS = 6


def wait_until(check, *, timeout: float = 90, what: str = "", workers=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {w.name}\n{w.output()[-3000:]}" for w in (workers.started if workers else []))
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def results(settings, tmp_path):
    root = tmp_path / "results"
    settings.STORAGES = {
        **settings.STORAGES,
        "batch_results": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    settings.BATCH_RANGE_USAGE_POINTS = 2
    return root


@pytest.fixture
def bulk_world(celery_workers):
    reading_type, ltp = shared_resources()
    party, _ = factories.make_third_party(name="Worker Bulk Co")
    bulk = factories.make_bulk_user(third_party=party, bulk_id="3")
    points = []
    for n in range(POINTS):
        customer = factories.make_customer(username=f"bulk{n}")
        point = make_point_with_data(customer=customer, title=f"Home {n}", days=3, reading_type=reading_type, ltp=ltp)
        factories.make_grant(customer=customer, third_party=party, usage_points=[point], bulk_user=bulk)
        points.append(point)
    return party, factories.make_client_token(party, scope="FB=3_35"), points


def _get(client, token: str, query: dict | None = None, **headers):
    response = client.get(f"{RESOURCE}/Batch/Bulk/3", query or {}, **bearer(token), **headers)
    response.body = b"".join(response.streaming_content) if response.streaming else response.content
    return response


def _parts_read(client, token: str, job: BulkJob) -> list[bytes]:
    bodies = []
    for part in BulkPart.objects.filter(job=job).order_by("range__index", "seq"):
        response = _get(client, token, {"correlationID": str(job.correlation_id), "part": part.key})
        assert response.status_code == 200, response.body
        bodies.append(response.body)
    return bodies


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_two_workers_build_the_ranges_and_every_part_is_served(client, celery_workers, results, bulk_world):
    party, token, points = bulk_world
    env = {"BATCH_RESULTS_DIR": str(results)}
    first = celery_workers.start("w1", env=env)
    second = celery_workers.start("w2", env=env)

    response = _get(client, token, HTTP_PREFER="respond-async")

    assert response.status_code == 202
    job = BulkJob.objects.get()
    wait_until(
        lambda: BulkJob.objects.get(pk=job.pk).status == BulkJob.Status.READY, what="the job", workers=celery_workers
    )
    bodies = _parts_read(client, token, job)
    assert len(bodies) == 3
    ids = [i for data in bodies for i in Feed.of(data).ids_of("UsagePoint")]
    assert sorted(ids) == sorted(p.public_id for p in points)
    for data in bodies:
        assert_valid(data)
    assert "batch.tasks.build_range" in first.output() + second.output()


@requires_postgres
def test_a_worker_killed_mid_job_leaves_it_to_another_with_no_part_missing_or_twice(
    client, celery_workers, results, bulk_world
):
    party, token, points = bulk_world
    env = {"BATCH_RESULTS_DIR": str(results)}
    response = _get(client, token, HTTP_PREFER="respond-async")
    assert response.status_code == 202
    job = BulkJob.objects.get()
    assert BulkJobRange.objects.filter(job=job).count() == 3

    with transaction.atomic():
        # Holding the job row: the first worker writes its files, then waits to record them.
        BulkJob.objects.select_for_update().get(pk=job.pk)
        doomed = celery_workers.start("doomed", env=env)
        wait_until(lambda: any(results.rglob("*.xml")) and _waiting_on_a_lock(), what="files written, then a wait")
        celery_workers.kill(doomed)
    written_by_the_dead = {p.relative_to(results).as_posix() for p in results.rglob("*.xml")}
    assert written_by_the_dead and not BulkPart.objects.filter(job=job).exists()

    heir = celery_workers.start("heir", env=env)
    wait_until(
        lambda: BulkJob.objects.get(pk=job.pk).status == BulkJob.Status.READY,
        timeout=120,
        what="the job",
        workers=celery_workers,
    )

    parts = list(BulkPart.objects.filter(job=job).order_by("range__index", "seq"))
    assert [p.key for p in parts] == ["1-1", "2-1", "3-1"]
    # The killed attempt's files are not what is served: the heir built that range again.
    assert not {p.storage_name for p in parts} & written_by_the_dead
    assert sorted(BulkJobRange.objects.filter(job=job).values_list("attempts", flat=True)) == [1, 1, 2]
    bodies = _parts_read(client, token, job)
    ids = [i for data in bodies for i in Feed.of(data).ids_of("UsagePoint")]
    assert sorted(ids) == sorted(p.public_id for p in points), "every usage point once"
    for data in bodies:
        assert_valid(data)
    assert "batch.tasks.build_range" in heir.output()
