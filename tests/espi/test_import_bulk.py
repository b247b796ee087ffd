"""Bulk import paths: new blocks queued and COPYed (PostgreSQL), re-import upserts, a failed apply leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from bench.gen import write_feed
from custodian.espi.content import IntervalBlockSummary
from custodian.espi.parser import iter_entries
from custodian.espi.validate import EntryValidator
from custodian.imports import CustomerUsagePoints, ImportFailed, import_apply, import_plan
from custodian.models import IntervalBlock, MeterReading, UsagePoint
from tests.readings import block_readings, reading_count, reading_rows


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.xml"
    write_feed(path, usage_points=2, days=3, tag="bulk")
    return path


def _expected(path: Path) -> dict[str, list[tuple]]:
    """atom id -> readings as the reader sees them."""
    return {entry.atom_id: entry.content.readings for entry in iter_entries(path) if entry.kind == "IntervalBlock"}


def _stored() -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    reading_rows()  # each block's reading_count matches its readings, sorted by unique start
    for block in IntervalBlock.objects.all():
        out[f"urn:uuid:{str(block.uuid).upper()}"] = block_readings(block)
    return out


def _import(path: Path, customer):
    plan = import_plan(source=path, resolver=CustomerUsagePoints(customer))
    assert not plan.rejected, plan.rejected[0].describe()
    return plan, import_apply(source=path, plan=plan, accept=plan.ok_indexes, customer=customer)


@pytest.mark.django_db(transaction=True)
def test_import_then_reimport_gives_the_readings_of_the_feed(feed, customer):
    expected = _expected(feed)
    plan, result = _import(feed, customer)
    assert result.readings == plan.readings == 2 * 3 * 96
    assert result.created == {"UsagePoint": 2, "MeterReading": 2, "ReadingType": 1, "IntervalBlock": 6}
    assert _stored() == expected
    assert MeterReading.objects.filter(reading_type__isnull=False).count() == 2
    blocks = dict(IntervalBlock.objects.values_list("uuid", "pk"))
    # A second import updates the same rows in place.
    plan, result = _import(feed, customer)
    assert result.readings == 576 and result.updated["IntervalBlock"] == 6 and "IntervalBlock" not in result.created
    assert dict(IntervalBlock.objects.values_list("uuid", "pk")) == blocks
    assert _stored() == expected
    assert reading_count() == 576
    assert all(len(pk) == 16 for pk in IntervalBlock.objects.values_list("public_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_feed_changed_between_plan_and_apply_writes_nothing(feed, tmp_path, customer):
    plan = import_plan(source=feed, resolver=CustomerUsagePoints(customer))
    data = feed.read_bytes()
    last = data.rindex(b"<id>urn:uuid:")
    changed = tmp_path / "changed.xml"
    # The last block gets another id: the apply has written or queued the earlier blocks when it finds out.
    changed.write_bytes(data[: last + 13] + b"00000000-0000-0000-0000-000000000000" + data[last + 13 + 36 :])
    with pytest.raises(ImportFailed, match="changed between plan and apply"):
        import_apply(source=changed, plan=plan, accept=plan.ok_indexes, customer=customer)
    assert reading_count() == 0 and not IntervalBlock.objects.exists()
    assert not MeterReading.objects.exists()
    with connection.cursor() as cursor:  # the connection is usable again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_the_plan_summarises_blocks_without_reading_tuples(feed):
    blocks = [
        entry.content
        for entry in iter_entries(feed, validator=EntryValidator(), block_readings=False)
        if entry.kind == "IntervalBlock"
    ]
    assert len(blocks) == 6
    assert all(isinstance(b, IntervalBlockSummary) and b.reading_count == 96 for b in blocks)
    assert not any(b.duplicate_starts for b in blocks)


@pytest.mark.django_db
@pytest.mark.parametrize("spool", [False, True], ids=["summarised", "spooled"])
def test_the_plan_rejects_a_block_with_two_readings_at_one_start(feed, customer, spool):
    data = feed.read_bytes()
    first = data.index(b"<start>1672531200</start>", data.index(b"<IntervalReading>"))
    # The second reading of the first block gets the start of the first one.
    second = data.index(b"<start>1672532100</start>")
    assert first < second
    data = data[:second] + b"<start>1672531200</start>" + data[second + len(b"<start>1672532100</start>") :]
    plan = import_plan(source=data, resolver=CustomerUsagePoints(customer), spool=spool)
    try:
        assert [p.reason for p in plan.rejected] == ["two readings of the block have the same start"]
    finally:
        plan.close()


@pytest.mark.parametrize("spool", [False, True], ids=["summarised", "spooled"])
def test_the_plan_rejects_a_block_with_a_reading_before_1970_with_or_without_its_readings(feed, customer, spool):
    data = feed.read_bytes()
    # The XSD lets a TimeType be negative; the portal stores no reading before 1970.
    second = data.index(b"<start>1672532100</start>")
    data = data[:second] + b"<start>-900</start>" + data[second + len(b"<start>1672532100</start>") :]
    plan = import_plan(source=data, resolver=CustomerUsagePoints(customer), spool=spool)
    try:
        assert [p.reason for p in plan.rejected] == ["a reading starts before 1970"]
    finally:
        plan.close()


@pytest.mark.django_db(transaction=True)
def test_blocks_before_their_meter_reading_and_usage_point_entries(feed, tmp_path, customer):
    data = feed.read_bytes()
    head, *entries = data.split(b"\t<entry>")
    tail = entries[-1][entries[-1].index(b"</entry>") + len(b"</entry>\n") :]
    entries[-1] = entries[-1][: len(entries[-1]) - len(tail)]
    # ReadingType, then per usage point: UsagePoint, MeterReading, 3 blocks. Put the blocks first,
    # then the meter reading, then the usage point.
    rt, rest = entries[0], entries[1:]
    reordered = [rt]
    for i in range(0, len(rest), 5):
        up, mr, *blocks = rest[i : i + 5]
        reordered += [*blocks, mr, up]
    changed = tmp_path / "reordered.xml"
    changed.write_bytes(head + b"".join(b"\t<entry>" + e for e in reordered) + tail)
    expected = _expected(feed)
    plan, result = _import(changed, customer)
    assert result.readings == 576
    assert result.created == {"UsagePoint": 2, "MeterReading": 2, "ReadingType": 1, "IntervalBlock": 6}
    assert _stored() == expected
    assert UsagePoint.objects.filter(customer=customer, status=1).count() == 2
    assert MeterReading.objects.filter(reading_type__isnull=False).count() == 2


def _usage_point_atom_id(path: Path) -> str:
    return next(entry.atom_id for entry in iter_entries(path) if entry.kind == "UsagePoint")


@pytest.mark.django_db
def test_children_never_follow_a_usage_point_id_into_another_customers_data(tmp_path, customer, other_customer):
    """A feed declaring another customer's usage point uuid places nothing under it, children included."""
    theirs, mine = tmp_path / "theirs.xml", tmp_path / "mine.xml"
    write_feed(theirs, usage_points=1, days=1, tag="theirs")
    write_feed(mine, usage_points=1, days=1, tag="mine")
    _import(theirs, other_customer)
    foreign = UsagePoint.objects.get(customer=other_customer)
    before = (MeterReading.objects.count(), IntervalBlock.objects.count(), reading_count())
    hijack = mine.read_bytes().replace(_usage_point_atom_id(mine).encode(), _usage_point_atom_id(theirs).encode())
    mine.write_bytes(hijack)

    plan = import_plan(source=mine, resolver=CustomerUsagePoints(customer))
    assert plan.rejected
    assert all(p.usage_point_id != foreign.pk for p in plan.entries if p.status == "ok")
    import_apply(source=mine, plan=plan, accept=plan.ok_indexes, customer=customer)
    assert (MeterReading.objects.count(), IntervalBlock.objects.count(), reading_count()) == before
    assert not MeterReading.objects.filter(usage_point__customer=customer).exists()
    assert MeterReading.objects.filter(usage_point=foreign).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_usage_point_moved_to_another_owner_between_plan_and_apply_fails_the_import(feed, customer, other_customer):
    """On PostgreSQL the UPDATE of an existing row waits for a pause of the COPY; it still refuses a moved row."""
    _import(feed, customer)
    before = (IntervalBlock.objects.count(), reading_count())
    plan = import_plan(source=feed, resolver=CustomerUsagePoints(customer))
    assert not plan.rejected
    UsagePoint.objects.filter(customer=customer).update(customer=other_customer)
    with pytest.raises(ImportFailed, match="changed owner"):
        import_apply(source=feed, plan=plan, accept=plan.ok_indexes, customer=customer)
    assert (IntervalBlock.objects.count(), reading_count()) == before
    assert not UsagePoint.objects.filter(customer=customer).exists()
    with connection.cursor() as cursor:  # the connection is usable again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_a_spooled_plan_is_applied_from_its_spool_without_parsing_the_source_again(feed, customer):
    expected = _expected(feed)
    plan = import_plan(source=feed, resolver=CustomerUsagePoints(customer), spool=True)
    assert not plan.rejected and plan.spool is not None
    assert plan.readings == 2 * 3 * 96
    # The source is not read again: the entries come from the spool, readings included.
    result = import_apply(source=b"<not-a-feed/>", plan=plan, accept=plan.ok_indexes, customer=customer)
    assert result.readings == 2 * 3 * 96
    assert _stored() == expected
    assert plan.spool is None  # closed by the apply
