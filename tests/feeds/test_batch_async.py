"""Asynchronous Batch GET: 202 with a correlation id, parts built into storage, a BatchList, each part served and valid.

Tasks run in-process (no broker): the build runs when the request's transaction commits, which
these tests let happen with ``django_capture_on_commit_callbacks(execute=True)``, or hold back to
revoke a grant between the request and the build.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from batch import async_rules, tasks
from batch.models import BulkJob, BulkJobRange, BulkPart
from batch.parts import FOOTER
from custodian.espi.parser import parse_small_document
from custodian.models import AuditEvent
from grants import services as grant_services
from grants.models import GrantUsagePoint, Notification
from tests import factories
from tests.feeds.conftest import RESOURCE, Feed, assert_valid, bearer, fetch, make_point_with_data

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


@pytest.fixture
def results(settings, tmp_path) -> Path:
    """Parts go to a folder of this test's own."""
    root = tmp_path / "results"
    settings.STORAGES = {
        **settings.STORAGES,
        "batch_results": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


def get(client, path: str, token: str, query: dict | None = None, **headers):
    response = client.get(f"{RESOURCE}/{path}", query or {}, **bearer(token), **headers)
    response.body = b"".join(response.streaming_content) if response.streaming else response.content
    return response


def request_async(client, path: str, token: str, capture, *, build: bool = True, **query):
    with capture(execute=build):
        return get(client, path, token, query, **ASYNC)


def part_query(uri: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(uri).query).items()}


def batch_list(notification: Notification) -> list[str]:
    return list(notification.resources)


def fetch_parts(client, path: str, token: str, uris: list[str]) -> list[bytes]:
    bodies = []
    for uri in uris:
        assert urlsplit(uri).path.endswith(f"{RESOURCE}/{path}")
        response = get(client, path, token, part_query(uri))
        assert response.status_code == 200, response.body
        assert response["Content-Type"] == "application/atom+xml"
        bodies.append(response.body)
    return bodies


# ---- the decision -------------------------------------------------------------------------------


def test_prefer_parsing_and_ranges():
    assert async_rules.prefers_async("respond-async")
    assert async_rules.prefers_async("wait=10, Respond-Async")
    assert async_rules.prefers_async("return=minimal; foo, respond-async; x=1")
    assert not async_rules.prefers_async("return=representation")
    assert not async_rules.prefers_async(None)
    assert async_rules.usage_point_ranges([3, 5, 9, 12, 40], per_range=2) == [(3, 9), (9, 40), (40, 41)]
    assert async_rules.usage_point_ranges([], per_range=2) == [(0, 1)]


def test_small_request_still_streams_at_once(client, feed_world, results):
    response = fetch(client, f"{RESOURCE}/Batch/Bulk/1", feed_world.tp_token)
    assert response.status_code == 200
    assert response.streaming
    assert not BulkJob.objects.exists()


def test_prefer_respond_async_answers_202_then_a_batch_list_of_valid_parts(
    client, notified, results, django_capture_on_commit_callbacks
):
    world = notified
    response = request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    job = BulkJob.objects.get()
    body = response.json()
    assert body["correlationID"] == str(job.correlation_id)
    assert response["Location"].endswith(f"/Batch/Bulk/1?correlationID={job.correlation_id}")
    assert response["Preference-Applied"] == "respond-async"
    job.refresh_from_db()
    assert job.status == BulkJob.Status.READY
    notice = Notification.objects.get(kind=Notification.Kind.BATCH_READY)
    assert notice.third_party == world.tp and notice.bulk_user == world.bulks["1"]
    uris = batch_list(notice)
    assert len(uris) == BulkPart.objects.filter(job=job).count() >= 1
    bodies = fetch_parts(client, "Batch/Bulk/1", world.tp_token, uris)
    for data in bodies:
        assert_valid(data)
    # Together the parts hold exactly what the synchronous feed holds.
    sync = Feed.of(fetch(client, f"{RESOURCE}/Batch/Bulk/1", world.tp_token).body)
    ids = set().union(*(Feed.of(data).ids_of("UsagePoint") for data in bodies))
    assert (
        ids == sync.ids_of("UsagePoint") == {world.points["alice_home"].public_id, world.points["bob_shop"].public_id}
    )
    blocks = [b for data in bodies for b in Feed.of(data).ids_of("IntervalBlock")]
    assert sorted(blocks) == sorted(sync.ids_of("IntervalBlock"))
    # The status URI now answers the same BatchList.
    status = get(client, "Batch/Bulk/1", world.tp_token, {"correlationID": str(job.correlation_id)})
    assert status.status_code == 200
    listed = parse_small_document(status.body).xpath("//*[local-name()='resources']/text()")
    assert listed == uris


def test_large_work_is_asynchronous_without_asking(
    client, feed_world, results, settings, django_capture_on_commit_callbacks
):
    # Two usage points x the grants' history: over a threshold of one usage-point-day.
    settings.BATCH_ASYNC_USAGE_POINT_DAYS = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = get(client, "Batch/Bulk/1", feed_world.tp_token)
    assert response.status_code == 202
    job = BulkJob.objects.get()
    assert job.usage_points == 2 and job.usage_point_days >= 2
    assert "Preference-Applied" not in response


def test_parts_are_at_most_the_chunk_size_and_each_reads_alone(
    client, notified, results, settings, django_capture_on_commit_callbacks
):
    world = notified
    settings.BATCH_CHUNK_BYTES = 6_000
    settings.BATCH_RANGE_USAGE_POINTS = 1
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)

    job = BulkJob.objects.get()
    assert job.status == BulkJob.Status.READY
    assert BulkJobRange.objects.filter(job=job).count() == 2
    uris = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    assert len(uris) > 2, "a usage point of 5 days of data does not fit in 6 kB: parts within a range"
    bodies = fetch_parts(client, "Batch/Bulk/1", world.tp_token, uris)
    blocks: list[str] = []
    for data in bodies:
        assert len(data) <= 6_000
        assert data.endswith(FOOTER)
        assert_valid(data)
        feed = Feed.of(data)
        # Each part carries the usage point, meter reading and shared resources its entries refer to.
        assert feed.ids_of("UsagePoint") and feed.ids_of("MeterReading")
        assert {"ReadingType", "LocalTimeParameters"} <= set(feed.kinds())
        blocks.extend(feed.ids_of("IntervalBlock"))
    sync = Feed.of(fetch(client, f"{RESOURCE}/Batch/Bulk/1", world.tp_token).body)
    assert sorted(blocks) == sorted(sync.ids_of("IntervalBlock")), "every block once, none twice"


def test_a_repeat_while_pending_is_400_with_gbas_message_and_a_repeat_later_gets_the_stored_result(
    client, notified, results, django_capture_on_commit_callbacks
):
    world = notified
    first = request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks, build=False)
    assert first.status_code == 202
    repeat = get(client, "Batch/Bulk/1", world.tp_token, **ASYNC)
    assert repeat.status_code == 400
    assert "An unprocessed batch request for the same resource already exists" in repeat.json()["detail"]
    # While building, the status URI says 202 again.
    job = BulkJob.objects.get()
    status = get(client, "Batch/Bulk/1", world.tp_token, {"correlationID": str(job.correlation_id)})
    assert status.status_code == 202
    # Another query is another request.
    other = request_async(
        client,
        "Batch/Bulk/1",
        world.tp_token,
        django_capture_on_commit_callbacks,
        **{"published-min": "2026-01-01T00:00:00Z"},
    )
    assert other.status_code == 202
    for job_range in BulkJobRange.objects.filter(job=job):
        tasks.build_range(job_range.pk)
    job.refresh_from_db()
    assert job.status == BulkJob.Status.READY

    again = request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    assert again.status_code == 202
    assert again.json()["correlationID"] == str(job.correlation_id)
    assert BulkJob.objects.count() == 2
    ready = Notification.objects.filter(kind=Notification.Kind.BATCH_READY, bulk_user=world.bulks["1"])
    mentions = [n for n in ready if str(job.correlation_id) in n.resources[0]]
    assert len(mentions) == 2  # the first delivery and the repeat's
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BATCH_REQUESTED).count() == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BATCH_READY).count() == 2


def test_a_grant_revoked_before_its_range_is_built_is_left_out(
    client, notified, results, django_capture_on_commit_callbacks
):
    world = notified
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks, build=False)
    grant_services.grant_revoke(grant=world.grants["bob"])
    job = BulkJob.objects.get()
    for job_range in BulkJobRange.objects.filter(job=job):
        tasks.build_range(job_range.pk)

    uris = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    bodies = fetch_parts(client, "Batch/Bulk/1", world.tp_token, uris)
    ids = set().union(*(Feed.of(data).ids_of("UsagePoint") for data in bodies))
    assert ids == {world.points["alice_home"].public_id}
    assert all(world.points["bob_shop"].public_id.encode() not in data for data in bodies)


def test_a_part_already_written_is_not_served_after_a_revoke(
    client, notified, results, settings, django_capture_on_commit_callbacks
):
    world = notified
    settings.BATCH_RANGE_USAGE_POINTS = 1
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    uris = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    by_point = {}
    for uri, data in zip(uris, fetch_parts(client, "Batch/Bulk/1", world.tp_token, uris), strict=True):
        (point,) = Feed.of(data).ids_of("UsagePoint")
        by_point[point] = uri
    read_before = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count()

    grant_services.grant_revoke(grant=world.grants["bob"])

    bob_part = get(client, "Batch/Bulk/1", world.tp_token, part_query(by_point[world.points["bob_shop"].public_id]))
    assert bob_part.status_code == 410
    assert bob_part.json()["error"] == "part_withdrawn"
    assert world.points["bob_shop"].public_id.encode() not in bob_part.body
    alice_part = get(client, "Batch/Bulk/1", world.tp_token, part_query(by_point[world.points["alice_home"].public_id]))
    assert alice_part.status_code == 200
    # One data-read row for the part served, none for the part refused.
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count() == read_before + 1
    # The stored result is no longer good for an identical request: a new job is built.
    again = request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    assert again.status_code == 202
    assert BulkJob.objects.count() == 2


def test_a_usage_point_taken_back_after_the_build_withdraws_its_part(
    client, notified, results, django_capture_on_commit_callbacks
):
    world = notified
    extra = make_point_with_data(
        customer=world.customers["bob"], title="Annex", days=2, reading_type=world.reading_type
    )
    grant = world.grants["bob"]
    GrantUsagePoint.objects.create(grant=grant, usage_point=extra)
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    (uri,) = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    assert get(client, "Batch/Bulk/1", world.tp_token, part_query(uri)).status_code == 200

    grant_services.grant_revoke_usage_point(grant=grant, usage_point=extra)

    assert get(client, "Batch/Bulk/1", world.tp_token, part_query(uri)).status_code == 410


def test_only_the_caller_reads_its_job_and_unknown_ids_are_the_same_404(
    client, notified, results, django_capture_on_commit_callbacks
):
    world = notified
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    job = BulkJob.objects.get()
    (uri, *_) = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    query = part_query(uri)
    other = get(client, "Batch/Bulk/1", world.other_tp_token, query)
    assert other.status_code == 404
    assert get(client, "Batch/Bulk/1", world.tp_token, {**query, "part": "99-1"}).status_code == 404
    assert get(client, "Batch/Bulk/1", world.tp_token, {"correlationID": "not-a-uuid"}).status_code == 404
    assert get(client, "Batch/Bulk/10", world.tp_token, query).status_code == 404
    assert get(client, "Batch/Bulk/1", world.tp_token, {**query, "max-results": "2"}).status_code == 400
    assert get(client, "Batch/Bulk/1", world.tp_token, query).status_code == 200
    assert BulkJob.objects.get(pk=job.pk).caller == world.tp


def test_parts_expire_and_are_deleted(client, notified, results, settings, django_capture_on_commit_callbacks, _clock):
    world = notified
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks)
    job = BulkJob.objects.get()
    (uri, *_) = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    files = list(results.rglob("*.xml"))
    assert files
    assert tasks.expire_results() == 0

    _clock.shift(timedelta(days=settings.BATCH_RESULT_DAYS, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_results() == 1

    job.refresh_from_db()
    assert job.status == BulkJob.Status.EXPIRED
    assert not BulkPart.objects.filter(job=job).exists()
    assert not list(results.rglob("*.xml"))
    token = factories.make_client_token(world.tp, scope="FB=3_35")  # the first one has expired by now
    assert get(client, "Batch/Bulk/1", token, part_query(uri)).status_code == 404
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BATCH_EXPIRED).count() == 1
    # An identical request after expiry builds again.
    again = request_async(client, "Batch/Bulk/1", token, django_capture_on_commit_callbacks)
    assert again.status_code == 202 and again.json()["correlationID"] != str(job.correlation_id)


def test_subscription_and_retail_customer_answer_202_too(
    client, feed_world, results, django_capture_on_commit_callbacks
):
    grant = feed_world.grants["alice"]
    party = grant.third_party
    party.notify_uri = "https://solar.example/notify"
    party.save(update_fields=["notify_uri"])
    path = f"Batch/Subscription/{grant.subscription_id}"
    response = request_async(client, path, feed_world.tokens["alice"], django_capture_on_commit_callbacks)
    assert response.status_code == 202
    job = BulkJob.objects.get(grant=grant)
    notice = Notification.objects.get(kind=Notification.Kind.BATCH_READY, grant=grant)
    (data,) = fetch_parts(client, path, feed_world.tokens["alice"], batch_list(notice))
    assert_valid(data)
    assert Feed.of(data).ids_of("UsagePoint") == {feed_world.points["alice_home"].public_id}
    assert job.status == BulkJob.Status.READY

    # The back office has no notify URI here: it polls the status URI for the BatchList.
    customer = feed_world.customers["alice"]
    path = f"Batch/RetailCustomer/{customer.public_id}/UsagePoint"
    response = request_async(client, path, feed_world.custodian_token, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    status = get(client, path, feed_world.custodian_token, {"correlationID": response.json()["correlationID"]})
    assert status.status_code == 200
    uris = parse_small_document(status.body).xpath("//*[local-name()='resources']/text()")
    (data,) = fetch_parts(client, path, feed_world.custodian_token, uris)
    assert_valid(data)
    assert len(Feed.of(data).ids_of("UsagePoint")) == 3  # all of alice's usage points, granted or not
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ, customer=customer).exists()


def test_an_empty_bulk_still_delivers_one_valid_part(client, results, django_capture_on_commit_callbacks):
    party, _ = factories.make_third_party(name="Empty Co", notify_uri="https://empty.example/notify")
    factories.make_bulk_user(third_party=party, bulk_id="5")
    token = factories.make_client_token(party, scope="FB=3_35")
    assert request_async(client, "Batch/Bulk/5", token, django_capture_on_commit_callbacks).status_code == 202
    (uri,) = batch_list(Notification.objects.get(kind=Notification.Kind.BATCH_READY))
    (data,) = fetch_parts(client, "Batch/Bulk/5", token, [uri])
    assert_valid(data)
    assert Feed.of(data).kinds() == []


def test_a_range_whose_task_was_lost_is_sent_again_by_the_beat_task(
    client, notified, results, settings, django_capture_on_commit_callbacks, _clock
):
    world = notified
    request_async(client, "Batch/Bulk/1", world.tp_token, django_capture_on_commit_callbacks, build=False)
    job = BulkJob.objects.get()
    tasks.expire_results()
    assert BulkJob.objects.get(pk=job.pk).status == BulkJob.Status.BUILDING  # not late yet

    _clock.shift(timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT_SECONDS + 1))
    tasks.expire_results()

    assert BulkJob.objects.get(pk=job.pk).status == BulkJob.Status.READY
    assert Notification.objects.filter(kind=Notification.Kind.BATCH_READY).count() == 1
