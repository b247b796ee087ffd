"""A bulk POST costs what its feed names: the same queries, no longer SQL and one grant locked, at 10 or 1,000 members.

The feed carries one usage point of bulk ``1`` (``upload_world.a1``, through ``grant_a``); the bulk
grows by members that the feed does not name. On PostgreSQL, second connections show that only the
grant written through is locked: the other members stay free to lock and to revoke while the upload
holds its locks, and a revocation of the written grant that commits first still leaves it nothing.
"""

from __future__ import annotations

import threading
from itertools import count

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from batch import services
from custodian.models import IntervalBlock, RetailCustomer, UsagePoint, User
from grants.models import Grant, GrantUsagePoint
from grants.services import grant_revoke
from tests.batch.conftest import bulk_path, post, sample_feed
from tests.conftest import requires_postgres

_numbers = count()


def add_members(world, how_many: int) -> list[Grant]:
    """Add ``how_many`` members to bulk ``1``, one customer and usage point each (rows inserted together)."""
    template = world.grant_a
    first = next(_numbers) * 100_000
    users = User.objects.bulk_create(User(username=f"member{first + i}") for i in range(how_many))
    customers = RetailCustomer.objects.bulk_create(RetailCustomer(user=user, name=user.username) for user in users)
    points = UsagePoint.objects.bulk_create(UsagePoint(customer=c, title=c.name) for c in customers)
    grants = Grant.objects.bulk_create(
        Grant(
            customer=customer,
            third_party=template.third_party,
            bulk_user=template.bulk_user,
            scope=template.scope,
            function_blocks=template.function_blocks,
            interval_duration=template.interval_duration,
            block_duration=template.block_duration,
            history_length=template.history_length,
            authorized_start=template.authorized_start,
            authorized_end=template.authorized_end,
        )
        for customer in customers
    )
    GrantUsagePoint.objects.bulk_create(
        GrantUsagePoint(grant=g, usage_point=p) for g, p in zip(grants, points, strict=True)
    )
    return list(Grant.objects.filter(customer__in=customers).order_by("pk"))


def _post_queries(world, salt: str) -> list[str]:
    body = sample_feed(usage_point=world.a1, salt=salt)
    with CaptureQueriesContext(connection) as queries:
        response = post(bulk_path("1"), body, world.tp_token)
    assert response.status_code == 200, response.content[:500]
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_a_one_usage_point_post_costs_the_same_at_ten_and_a_thousand_members(upload_world):
    add_members(upload_world, 10)
    small = _post_queries(upload_world, "small")
    add_members(upload_world, 990)
    large = _post_queries(upload_world, "large")
    assert len(large) == len(small), "queries grew with the bulk"
    # No query carries a list that grows with the bulk (ids of more digits may add a few characters).
    assert max(map(len, large)) <= max(map(len, small)) + 64
    assert sum(map(len, large)) <= sum(map(len, small)) + 64 * len(small)
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 2 * 14


def _hold_at(wanted: str):
    """Return (reached, release, observer): the observer stops the upload at stage ``wanted`` until released."""
    reached, release = threading.Event(), threading.Event()

    def observer(*, stage, submission):
        if stage == wanted:
            reached.set()
            assert release.wait(30), "never released"

    return reached, release, observer


def _in_thread(target, results: dict, key: str) -> threading.Thread:
    def run():
        try:
            results[key] = target()
        except Exception as exc:  # examined by the test
            results[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _lockable_now(grant_pk: int) -> bool:
    """Return whether another session can lock the grant's row at once (NOWAIT), in a thread and connection of its own."""
    results: dict = {}

    def try_lock():
        with transaction.atomic():
            try:
                list(Grant.objects.select_for_update(nowait=True).filter(pk=grant_pk).values_list("pk", flat=True))
            except OperationalError:
                return False
        return True

    _in_thread(try_lock, results, "lockable").join(30)
    return results["lockable"] is True


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_upload_locks_only_the_grant_it_writes_through(upload_world):
    others = add_members(upload_world, 200)
    reached, release, hook = _hold_at("applied")  # entries written under the locks, not committed
    results: dict = {}
    services.apply_observers.append(hook)
    try:
        upload = _in_thread(
            lambda: post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="locks"), upload_world.tp_token),
            results,
            "upload",
        )
        assert reached.wait(30), f"the upload never applied: {results.get('upload')!r}"
        assert not _lockable_now(upload_world.grant_a.pk), "the grant written through is locked"
        assert all(_lockable_now(grant.pk) for grant in (others[0], others[100], others[-1]))
        # A customer of another member revokes meanwhile: it does not wait for the upload.
        revoker = _in_thread(lambda: grant_revoke(grant=others[7]), results, "revoke")
        revoker.join(30)
        assert not revoker.is_alive() and isinstance(results["revoke"], Grant)
        assert upload.is_alive(), "the upload still holds its locks"
    finally:
        release.set()
        services.apply_observers.remove(hook)
    upload.join(30)
    assert results["upload"].status_code == 200
    assert Grant.objects.get(pk=others[7].pk).status == Grant.Status.REVOKED
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_in_a_large_bulk_a_revocation_committed_first_still_leaves_the_upload_nothing(upload_world):
    add_members(upload_world, 200)
    reached, release, hook = _hold_at("planned")  # planned, before the grant locks
    results: dict = {}
    services.apply_observers.append(hook)
    try:
        upload = _in_thread(
            lambda: post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="early"), upload_world.tp_token),
            results,
            "upload",
        )
        assert reached.wait(30), f"the upload never planned: {results.get('upload')!r}"
        grant_revoke(grant=Grant.objects.get(pk=upload_world.grant_a.pk))  # commits in this connection
    finally:
        release.set()
        services.apply_observers.remove(hook)
    upload.join(30)
    assert results["upload"].status_code == 403
    assert {row["reason"] for row in results["upload"].json()["entries"]} == {"not_granted"}
    assert not IntervalBlock.objects.exists()


def _feed_naming(points, salt: str) -> bytes:
    """Return one bulk feed carrying the sample's resources for each of ``points`` (fresh ids per point)."""
    feeds = [sample_feed(usage_point=p, salt=f"{salt}-{p.pk}").decode() for p in points]
    entries = "".join(f[f.index("<entry") : f.rindex("</feed>")] for f in feeds[1:])
    return (feeds[0][: feeds[0].rindex("</feed>")] + entries + "</feed>").encode()


def _reach_lookups(body: bytes, token: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = post(bulk_path("1"), body, token)
    assert response.status_code == 200, response.content[:500]
    # Each copy's MeterReading links the first copy's ReadingType href: the later shared copies go unused.
    refused = {e["kind"] for e in response.json()["entries"] if e["status"] != "accepted"}
    assert refused <= {"ReadingType", "LocalTimeParameters"}, refused
    return sum('FROM "grants_grantusagepoint"' in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_the_usage_points_a_feed_names_are_looked_up_together_not_one_by_one(upload_world):
    members = add_members(upload_world, 40)
    points = [m.usage_points.get() for m in members]
    few = _reach_lookups(_feed_naming(points[:3], "few"), upload_world.tp_token)
    many = _reach_lookups(_feed_naming(points[3:33], "many"), upload_world.tp_token)
    # Ten times the usage points in the feed, the same lookups of the grants' links (2,000 per query).
    assert many == few
    assert IntervalBlock.objects.filter(meter_reading__usage_point=points[32]).count() == 14


def test_the_prefetch_hint_sees_an_id_cut_by_a_block_end(tmp_path, monkeypatch):
    from batch import selectors

    monkeypatch.setattr(selectors, "_SCAN_BLOCK", 64)
    body = b"x" * 50 + b'<link href="/espi/1_1/resource/UsagePoint/0123456789abcdef/MeterReading/1"/>'
    path = tmp_path / "feed.xml"
    path.write_bytes(body + b"<!-- UsagePoint/notahref -->")
    # The id starts in the first 64-byte block and ends in the second; the comment has no leading slash.
    assert "0123456789abcdef" in selectors.usage_point_refs_hinted(path)
    assert "notahref" not in selectors.usage_point_refs_hinted(path)


def test_the_prefetch_hint_gathered_while_receiving_is_the_one_read_from_the_file(tmp_path):
    import io
    import re

    from batch import selectors, services

    parts = [b"/UsagePoint/", b"/", b"a", b"U", b"UsagePoint", b"<", b"-", b"9", b" ", b"/UsagePoint//", b"x" * 300]
    rng = __import__("random").Random(14)
    old = re.compile(rb"/UsagePoint/([0-9A-Za-z_.~-]{1,200})")
    for _ in range(200):
        body = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 60)))
        path = tmp_path / "feed.xml"
        path.write_bytes(body)
        from_file = selectors.usage_point_refs_hinted(path)
        # What the regex it replaced found in the whole body, and the same in chunks of any size.
        assert from_file == {ref.decode() for ref in old.findall(body)}
        scan = selectors.UsagePointRefScan()
        at = 0
        while at < len(body):
            step = rng.randint(1, 400)
            scan.feed(body[at : at + step])
            at += step
        # Every id is seen; one cut by a chunk's end may also be seen cut, as by the file's blocks
        # (a hint costs one more lookup, never a decision).
        assert scan.refs() >= from_file
    stored = services.payload_store(stream=io.BytesIO(body), content_length=len(body), max_bytes=10**6, hint=True)
    try:
        # One chunk (the body is smaller than a received chunk): exactly the ids the file holds.
        assert stored.usage_point_refs == from_file
    finally:
        stored.path.unlink()
