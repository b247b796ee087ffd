"""Asynchronous Batch GET with its parts in S3: the settings' own S3 configuration against a live S3 endpoint.

moto's S3 server answers the S3 REST protocol over HTTP on a local port; boto3 (through django-storages)
talks to it exactly as it talks to AWS or any S3-compatible store, signatures included. The storage
entry is the one ``custodian.settings.batch_results_storage`` builds from the README's variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from moto.server import ThreadedMotoServer

from batch import tasks
from batch.models import BulkJob, BulkPart
from custodian.settings import batch_results_storage
from grants.models import Notification
from tests import factories
from tests.faults.conftest import free_port
from tests.feeds.conftest import RESOURCE, Feed, assert_valid, fetch
from tests.feeds.test_batch_async import batch_list, fetch_parts, get, part_query, request_async

pytestmark = pytest.mark.django_db

BUCKET = "portal-results"
PREFIX = "gb/batch-results"
KEYS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}  # noqa: S105 - the test server's


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """A fresh bucket; ``STORAGES["batch_results"]`` as the settings build it from the README's variables."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    environ = {
        "BATCH_RESULTS_S3_BUCKET": BUCKET,
        "BATCH_RESULTS_S3_PREFIX": PREFIX,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
    }
    entry = batch_results_storage(environ, directory=settings.BASE_DIR / "unused")
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "batch_results": entry}
    yield s3
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in listed:
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def _keys(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_parts_are_private_objects_under_the_prefix_and_served_whole(
    client, notified, bucket, django_capture_on_commit_callbacks
):
    world = notified
    response = request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    job = BulkJob.objects.get()
    assert job.status == BulkJob.Status.READY
    parts = list(BulkPart.objects.filter(job=job).order_by("range__index", "seq"))
    keys = _keys(bucket)
    assert keys == sorted(f"{PREFIX}/{part.storage_name}" for part in parts)
    assert all(key.startswith(f"{PREFIX}/{job.correlation_id}/") for key in keys)
    # Private: no grant to anyone but the owner (default_acl None), so nothing is readable by URL.
    for key in keys:
        grants = bucket.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert [g["Grantee"].get("URI") for g in grants if g["Grantee"]["Type"] == "Group"] == []

    uris = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    bodies = fetch_parts(client, "Batch/Bulk/1", world.tp_token, uris)
    stored = [bucket.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{p.storage_name}")["Body"].read() for p in parts]
    assert bodies == stored
    for data, part in zip(bodies, parts, strict=True):
        assert_valid(data)
        assert len(data) == part.bytes
    sync = Feed.of(fetch(client, f"{RESOURCE}/Batch/Bulk/1", world.tp_token).body)
    blocks = sorted(b for data in bodies for b in Feed.of(data).ids_of("IntervalBlock"))
    assert blocks == sorted(sync.ids_of("IntervalBlock"))


def test_expired_results_are_deleted_from_the_bucket(
    client, notified, bucket, settings, django_capture_on_commit_callbacks, _clock
):
    world = notified
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    job = BulkJob.objects.get()
    (uri, *_) = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    assert _keys(bucket)
    # A range attempt a killed worker left behind (no BulkPart row) goes with the rest.
    stray = f"{PREFIX}/{job.correlation_id}/00001/deadbeef0000/00001.xml"
    bucket.put_object(Bucket=BUCKET, Key=stray, Body=b"<feed/>")

    _clock.shift(timedelta(days=settings.BATCH_RESULT_DAYS, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_results() == 1

    assert _keys(bucket) == []
    job.refresh_from_db()
    assert job.status == BulkJob.Status.EXPIRED
    token = factories.make_client_token(world.tp, scope="FB=3_35")
    assert get(client, "Batch/Bulk/1", token, part_query(uri)).status_code == 404
