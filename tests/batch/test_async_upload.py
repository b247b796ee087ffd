"""A batch POST with ``Prefer: respond-async``: spooled, 202 with a status URL, applied by a worker under the same rules.

Without a broker the task runs in the web process (eager), so the POST's 202 already has a finished
report behind it; the pending states are reached by spooling without sending the task
(``batch_spool``) and applying it afterwards (``submission_apply_queued``), as a worker does.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.test import Client

from batch import async_rules, services, services_async, tasks
from batch.models import Submission
from batch.reports import report_json
from custodian.models import IntervalBlock, MeterReading
from grants.models import ThirdParty
from grants.services import grant_revoke, third_party_registration_token_issue
from tests import factories
from tests.batch.conftest import access_token, bulk_path, client_token, post, sample_feed, snapshot, subscription_path

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


def status(url: str, token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get(url, **headers)


def spool_bulk(world, body: bytes, *, key: str = "", dry_run: bool = False) -> Submission:
    """Spool a bulk-1 upload as the API does, without sending its task (a worker has not taken it yet)."""
    spooled = services_async.batch_spool(
        target=services.BatchTarget(
            kind=Submission.TargetKind.BULK,
            target_id="1",
            caller=world.tp,
            token_kind="client_access_token",
            bulk_user=world.bulk1,
        ),
        options=services.BatchOptions(idempotency_key=key, dry_run=dry_run, content_type="application/atom+xml"),
        stream=io.BytesIO(body),
        content_length=len(body),
    )
    assert isinstance(spooled, Submission)
    return spooled


def status_path(submission: Submission) -> str:
    return f"/espi/1_1/resource/Batch/Submission/{submission.public_id}"


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        ("respond-async", True),
        ("Respond-Async, wait=10", True),
        ("return=minimal; foo=bar, respond-async", True),
        ("return=minimal", False),
        ("respond-asynchronously", False),
        ("", False),
    ],
)
def test_prefer_respond_async_is_read_as_rfc_7240_says(prefer, expected):
    assert async_rules.prefers_async(prefer) is expected


def test_the_post_is_202_with_the_status_url_and_the_url_gives_the_report(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="async")
    response = post(bulk_path("1"), body, upload_world.tp_token, **ASYNC)
    assert response.status_code == 202
    submission = Submission.objects.get()
    url = f"http://testserver{status_path(submission)}"
    assert response["Location"] == url and response.json()["status_url"] == url
    assert response["Preference-Applied"] == "respond-async"
    assert response["X-Submission-Id"] == submission.public_id
    done = status(response["Location"], upload_world.tp_token)
    assert done.status_code == 200
    data = done.json()
    assert (data["status"], data["outcome"], data["http_status"]) == ("done", "applied", 200)
    report = data["report"]
    assert report["submission"] == submission.public_id and report["applied"] is True
    assert report["counts"]["accepted"] == report["counts"]["received"] > 0
    assert MeterReading.objects.filter(usage_point=upload_world.a1).exists()
    assert IntervalBlock.objects.exists()
    assert submission.started_at is not None


def test_the_async_report_is_the_synchronous_one(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="same")
    post(bulk_path("1"), body, upload_world.tp_token, **ASYNC)
    submission = Submission.objects.get()
    async_report = report_json(submission, submission.report)  # its rows are kept beside the payload
    # The same feed again, synchronously: rule 10 makes every entry unchanged, in both forms alike.
    again = post(bulk_path("1"), body, upload_world.tp_token).json()
    assert again["counts"]["received"] == async_report["counts"]["received"]
    assert [(r["index"], r["id"], r["kind"], r["status"]) for r in again["entries"]] == [
        (r["index"], r["id"], r["kind"], r["status"]) for r in async_report["entries"]
    ]
    assert set(async_report) == set(again)


def test_before_a_worker_takes_it_the_status_url_is_202_with_progress(upload_world):
    submission = spool_bulk(upload_world, sample_feed(usage_point=upload_world.a1, salt="p"))
    before = snapshot()
    pending = status(status_path(submission), upload_world.tp_token)
    assert pending.status_code == 202 and pending["Retry-After"] == "5"
    data = pending.json()
    assert (data["status"], data["progress"], data["started_at"]) == ("queued", "waiting for a worker", None)
    assert data["bytes"] == submission.bytes and data["sha256"] == submission.sha256
    assert snapshot() == before  # nothing applied yet

    applied = services_async.submission_apply_queued(submission_id=submission.pk)
    assert applied is not None and applied.outcome == Submission.Outcome.APPLIED
    assert status(status_path(submission), upload_world.tp_token).json()["report"]["applied"] is True
    # A redelivered task finds it done and applies nothing twice.
    after = snapshot()
    assert services_async.submission_apply_queued(submission_id=submission.pk) is None
    assert snapshot() == after


def test_a_retry_with_the_same_key_gets_the_same_202_then_the_stored_report(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="k")
    submission = spool_bulk(upload_world, body, key="upload-7")
    retry = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="upload-7", **ASYNC)
    assert retry.status_code == 202 and retry["Idempotent-Replayed"] == "true"
    assert retry["Location"].endswith(status_path(submission))
    # Without the preference too: it is still queued, so the answer is the same 202.
    assert post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="upload-7").status_code == 202
    assert Submission.objects.count() == 1
    services_async.submission_apply_queued(submission_id=submission.pk)
    replayed = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="upload-7", **ASYNC)
    assert replayed.status_code == 200 and replayed["Idempotent-Replayed"] == "true"
    stored = Submission.objects.get()
    assert replayed.json() == report_json(stored, stored.report)
    other = post(bulk_path("1"), body + b" ", upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="upload-7", **ASYNC)
    assert other.status_code == 422


def test_a_grant_revoked_before_the_worker_applies_gets_nothing(upload_world):
    submission = spool_bulk(upload_world, sample_feed(usage_point=upload_world.a1, salt="r"))
    grant_revoke(grant=upload_world.grant_a)
    services_async.submission_apply_queued(submission_id=submission.pk)
    data = status(status_path(submission), upload_world.tp_token).json()
    assert (data["outcome"], data["http_status"]) == ("rejected", 403)
    assert data["report"]["counts"]["by_reason"] == {"not_granted": data["report"]["counts"]["received"]}
    assert not MeterReading.objects.exists()


def test_entries_outside_the_grants_are_rejected_as_in_a_synchronous_post(upload_world):
    # a2 is alice's but not granted: the filter applies in the worker exactly as in the request.
    response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a2, salt="n"), upload_world.tp_token, **ASYNC)
    assert response.status_code == 202
    data = status(response["Location"], upload_world.tp_token).json()
    assert (data["outcome"], data["http_status"]) == ("rejected", 403)
    assert not MeterReading.objects.exists()


def test_a_malformed_body_is_reported_at_the_status_url(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="m")[:-200]
    response = post(bulk_path("1"), body, upload_world.tp_token, **ASYNC)
    assert response.status_code == 202
    data = status(response["Location"], upload_world.tp_token).json()
    assert (data["outcome"], data["http_status"]) == ("malformed", 400)
    assert data["report"]["error"] == "malformed" and data["report"]["line"] > 1


def test_dry_run_and_strict_travel_with_the_submission(upload_world):
    response = post(
        bulk_path("1") + "?dry_run=1",
        sample_feed(usage_point=upload_world.a1, salt="d"),
        upload_world.tp_token,
        **ASYNC,
    )
    data = status(response["Location"], upload_world.tp_token).json()
    assert data["outcome"] == "dry_run" and not MeterReading.objects.exists()
    strict = post(
        bulk_path("1") + "?mode=strict",
        sample_feed(usage_point=upload_world.a2, salt="s"),
        upload_world.tp_token,
        **ASYNC,
    )
    assert status(strict["Location"], upload_world.tp_token).json()["report"]["mode"] == "strict"


def test_headers_are_checked_before_anything_is_spooled(upload_world):
    response = post(bulk_path("1"), b"<feed/>", upload_world.tp_token, content_type="text/plain", **ASYNC)
    assert response.status_code == 415
    assert not Submission.objects.exists()


def test_only_the_token_it_was_sent_with_reads_it_others_get_the_404_of_a_missing_id(upload_world):
    submission = spool_bulk(upload_world, sample_feed(usage_point=upload_world.a1, salt="o"))
    missing = status("/espi/1_1/resource/Batch/Submission/nosuchsubmission", upload_world.tp_token)
    assert missing.status_code == 404
    other_party, _ = factories.make_third_party(name="Other Co")
    assert status(status_path(submission), upload_world.tp_any_bulk_token).status_code == 202  # same client, no BR
    for token in (
        client_token(other_party, scope="FB=35"),  # another Third Party
        client_token(upload_world.tp, scope="FB=35;BR=10"),  # the same one's token of another bulk
        access_token(upload_world.grant_a),  # a customer's access token, not the client token it was sent with
        upload_world.custodian_token,  # the back office
    ):
        refused = status(status_path(submission), token)
        assert (refused.status_code, refused.json()) == (404, missing.json())
    assert status(status_path(submission), None).status_code == 401
    registration = third_party_registration_token_issue(third_party=upload_world.tp)
    assert status(status_path(submission), registration).status_code == 403


def test_a_subscription_upload_is_read_with_that_grants_token_only(upload_world):
    other_customer = factories.make_customer()
    point = factories.make_usage_point(customer=other_customer)
    other_grant = factories.make_grant(customer=other_customer, third_party=upload_world.tp, usage_points=[point])
    token = access_token(upload_world.grant_c)
    response = post(
        subscription_path(upload_world.grant_c), sample_feed(usage_point=upload_world.c1, salt="c"), token, **ASYNC
    )
    assert response.status_code == 202
    assert status(response["Location"], token).status_code == 200
    assert status(response["Location"], access_token(other_grant)).status_code == 404
    assert status(response["Location"], upload_world.tp_any_bulk_token).status_code == 404


def test_a_submission_queued_too_long_is_sent_again_by_beat(upload_world, settings, _clock):
    submission = spool_bulk(upload_world, sample_feed(usage_point=upload_world.a1, salt="q"))
    assert tasks.requeue_submissions.delay().get() == 0  # not stale yet
    _clock.shift(timedelta(seconds=settings.BATCH_ASYNC_REQUEUE_SECONDS + 1))
    assert tasks.requeue_submissions.delay().get() == 1
    submission.refresh_from_db()
    assert submission.outcome == Submission.Outcome.APPLIED


def test_a_task_that_could_not_be_sent_closes_the_submission_and_frees_its_key(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="b")
    submission = spool_bulk(upload_world, body, key="b-1")
    services_async.submission_enqueue_failed(submission=submission)  # what the API does when the broker refuses
    submission.refresh_from_db()
    assert (submission.outcome, submission.http_status, submission.idempotency_key) == ("failed", 503, "")
    assert status(status_path(submission), upload_world.tp_token).json()["report"]["error"] == "unavailable"
    # The retry runs anew: nothing of the failed attempt was applied or kept.
    retry = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="b-1", **ASYNC)
    assert retry.status_code == 202
    assert status(retry["Location"], upload_world.tp_token).json()["outcome"] == "applied"


def test_the_back_office_upload_goes_async_too(upload_world):
    path = f"/espi/1_1/resource/Batch/RetailCustomer/{upload_world.alice.public_id}/UsagePoint"
    body = sample_feed(usage_point=upload_world.a2, salt="bo")
    response = post(path, body, upload_world.custodian_token, **ASYNC)
    assert response.status_code == 202
    data = status(response["Location"], upload_world.custodian_token).json()
    assert data["outcome"] == "applied"
    assert MeterReading.objects.filter(usage_point=upload_world.a2).exists()
    assert ThirdParty.objects.filter(pk=upload_world.custodian.pk).exists()
