"""Payload storage full or read-only, and a submission left in progress: JSON answers, nothing stuck."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
from contextlib import contextmanager
from datetime import timedelta

import pytest

from batch.models import Submission
from custodian.models import IntervalBlock
from tests.batch.conftest import bulk_path, post, sample_feed, upload_world  # noqa: F401
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def file_size_limit(max_bytes: int):
    """Let no file of this process grow past ``max_bytes``: writes beyond fail with EFBIG, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def _big_feed(upload_world) -> bytes:  # noqa: F811
    body = sample_feed(usage_point=upload_world.a1, salt="big")
    # Padding (small XML comments before the feed) so the spool file passes the limit.
    return body.replace(b"<feed", b"<!-- padding -->\n" * 200_000 + b"<feed", 1)


def _assert_storage_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "storage_unavailable"
    assert "nothing was applied" in body["detail"]
    assert response["Retry-After"].isdigit()
    assert not IntervalBlock.objects.exists()


def test_full_payload_storage_answers_json_and_stores_nothing(upload_world, tmp_path, settings):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    with file_size_limit(1024 * 1024):
        response = post(bulk_path("1"), _big_feed(upload_world), upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="full-1")
    _assert_storage_unavailable(response)
    assert not list((tmp_path / "media").rglob("*.part"))  # the partial spool file was removed
    assert not Submission.objects.exists()
    # Space again: the same key goes through.
    again = post(bulk_path("1"), _big_feed(upload_world), upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="full-1")
    assert again.status_code == 200


def _mount_read_only(path) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return True
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def test_read_only_payload_storage_answers_json(upload_world, tmp_path, settings):  # noqa: F811
    media = tmp_path / "ro-media"
    if not _mount_read_only(media):
        pytest.skip("needs mount (root) or a non-root user to make a read-only directory")
    settings.MEDIA_ROOT = media
    try:
        response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="ro"), upload_world.tp_token)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(media)], check=False)
        else:
            media.chmod(0o755)
    _assert_storage_unavailable(response)


def test_a_submission_left_in_progress_by_a_dead_worker_is_recovered_by_its_retry(upload_world, _clock, settings):  # noqa: F811
    settings.BATCH_LEASE_SECONDS = 600
    body = sample_feed(usage_point=upload_world.a1, salt="left")

    # What a worker killed after opening the submission leaves behind (its session, and lease, are gone).
    Submission.objects.create(
        caller=upload_world.tp,
        token_kind="client_access_token",
        target_kind=Submission.TargetKind.BULK,
        target_id="1",
        idempotency_key="left-1",
        bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )
    if not is_postgres():
        # SQLite has no advisory locks: the lease runs out BATCH_LEASE_SECONDS after the request was received.
        early = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="left-1")
        assert early.status_code == 409
        assert early.json()["error"] == "idempotency_in_progress"
        assert early["Retry-After"] == "5"
        _clock.shift(timedelta(seconds=settings.BATCH_LEASE_SECONDS + 1))
    retry = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="left-1")
    assert retry.status_code == 200, retry.content[:300]
    assert IntervalBlock.objects.count() == 14
    assert sorted(Submission.objects.values_list("outcome", flat=True)) == ["applied", "failed"]
