"""Lenient normalizations: each reads what real files do, gives repeatable ids, and says what it did."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from custodian.espi import normalize
from custodian.espi.parser import iter_entries

U = "d6b30db4-4423-11e6-8f11-349c5700a7df"


def test_urn_uuid_in_any_case_is_read_without_warning():
    assert normalize.normalize_atom_id(f"urn:uuid:{U.upper()}", self_href=None) == (UUID(U), None)
    assert normalize.normalize_atom_id(f"URN:UUID:{U}", self_href=None) == (UUID(U), None)


def test_bare_and_braced_uuids_are_read_with_a_warning():
    for text in (U.upper(), U, "{" + U + "}", U.replace("-", "")):
        uuid, warning = normalize.normalize_atom_id(text, self_href=None)
        assert uuid == UUID(U)
        assert "bare UUID" in warning and f"urn:uuid:{U}" in warning


def test_other_ids_get_a_repeatable_v5_id():
    first, warning = normalize.normalize_atom_id("tag:utility.example,2016:meter/42", self_href=None)
    again, _ = normalize.normalize_atom_id("tag:utility.example,2016:meter/42", self_href=None)
    other, _ = normalize.normalize_atom_id("tag:utility.example,2016:meter/43", self_href=None)
    assert first == again != other and first.version == 5
    assert "not a urn:uuid" in warning


def test_a_missing_id_comes_from_the_self_href_and_repeats():
    href = "https://utility.example/espi/1_1/resource/Subscription/9/UsagePoint/1"
    first, warning = normalize.normalize_atom_id("", self_href=href)
    assert first == normalize.normalize_atom_id("  ", self_href=f" {href} ")[0] == normalize.id_from_self_href(href)
    assert first != normalize.normalize_atom_id("", self_href=href + "0")[0]
    assert first.version == 5 and "no atom:id" in warning
    assert normalize.normalize_atom_id("", self_href=None) == (None, None)


def test_a_repeated_id_on_another_resource_gets_its_own_repeatable_id():
    ids = normalize.RepeatedIds()
    same = UUID(U)
    assert ids.check(same, kind="UsagePoint", self_href="UsagePoint/1") == (same, None)
    mr, warning = ids.check(same, kind="MeterReading", self_href="UsagePoint/1/MeterReading/1")
    block, _ = ids.check(same, kind="IntervalBlock", self_href="UsagePoint/1/MeterReading/1/IntervalBlock/1")
    assert len({same, mr, block}) == 3 and "also the id of an earlier entry" in warning
    # The same resource twice keeps its id (the import rejects the second as a duplicate).
    assert ids.check(same, kind="UsagePoint", self_href="UsagePoint/1") == (same, None)
    # Another reading of the same file gives the same ids.
    again = normalize.RepeatedIds()
    again.check(same, kind="UsagePoint", self_href="UsagePoint/1")
    assert again.check(same, kind="MeterReading", self_href="UsagePoint/1/MeterReading/1")[0] == mr


def test_date_only_timestamps_are_midnight_utc_with_a_warning():
    assert normalize.normalize_timestamp("2024-06-21") == (
        datetime(2024, 6, 21, tzinfo=UTC),
        "lenient: '2024-06-21' is a date, not a date-time: read as 2024-06-21T00:00:00Z",
    )
    assert normalize.normalize_timestamp("2024-06-21T10:26:24") == (datetime(2024, 6, 21, 10, 26, 24, tzinfo=UTC), None)
    assert normalize.normalize_timestamp("2024-06-21T10:26:24-07:00")[0] == datetime(
        2024, 6, 21, 17, 26, 24, tzinfo=UTC
    )
    assert normalize.normalize_timestamp("last tuesday") == (None, None)


def test_relative_and_foreign_hrefs_are_reported():
    assert "relative href" in normalize.href_warning(["User/1/UsagePoint/01"])
    assert "another host (api.pge.com)" in normalize.href_warning(
        ["https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/1/UsagePoint/1"],
        own_host="portal.example",
    )
    assert (
        normalize.href_warning(["https://Portal.example/espi/1_1/resource/UsagePoint/1"], own_host="portal.example")
        is None
    )


FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <entry>
    <link rel="self" href="User/1/UsagePoint/01/MeterReading/01"/>
    <updated>2024-06-21</updated>
    <content><espi:MeterReading><espi:ReadingType><espi:uom>72</espi:uom></espi:ReadingType></espi:MeterReading></content>
  </entry>
  <entry>
    <id>%s</id>
    <link rel="self" href="User/1/UsagePoint/01/MeterReading/01/IntervalBlock/1"/>
    <content><espi:IntervalBlock><espi:interval><espi:duration>3600</espi:duration><espi:start>0</espi:start></espi:interval>
      <espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration><espi:start>0</espi:start></espi:timePeriod>
      <espi:value>5</espi:value></espi:IntervalReading></espi:IntervalBlock></content>
  </entry>
</feed>
""" % U.upper().encode()


def test_the_reader_applies_them_in_lenient_mode_only():
    strict = list(iter_entries(FEED))
    assert len(strict) == 2
    assert "the entry has no atom:id" in strict[0].problems and strict[0].uuid is None
    assert any("is not a urn:uuid" in p for p in strict[1].problems)

    mr, block, rt = list(iter_entries(FEED, lenient=True))
    assert mr.uuid == normalize.id_from_self_href("User/1/UsagePoint/01/MeterReading/01")
    assert mr.updated == datetime(2024, 6, 21, tzinfo=UTC)
    assert block.uuid == UUID(U) and block.index == 1
    # The nested ReadingType comes after the feed's entries, linked from its meter reading.
    assert (rt.kind, rt.index, rt.uuid) == ("ReadingType", 2, normalize.nested_id(mr.uuid, "ReadingType"))
    assert rt.content.uom == 72 and f"ReadingType/{rt.uuid}" in mr.related_hrefs
    assert b"ReadingType" not in mr.content_xml
    assert all(p.startswith("lenient:") for e in (mr, block, rt) for p in e.problems), [
        e.problems for e in (mr, block, rt)
    ]
    # Read again, the same file gives the same ids.
    assert [e.uuid for e in iter_entries(FEED, lenient=True)] == [mr.uuid, block.uuid, rt.uuid]


def _block(start: int, value: int) -> str:
    return (
        f"<espi:IntervalBlock><espi:interval><espi:duration>86400</espi:duration><espi:start>{start}</espi:start>"
        f"</espi:interval><espi:IntervalReading><espi:timePeriod><espi:duration>86400</espi:duration>"
        f"<espi:start>{start}</espi:start></espi:timePeriod><espi:value>{value}</espi:value></espi:IntervalReading>"
        "</espi:IntervalBlock>"
    )


# One IntervalBlock entry holding three daily blocks (ESPI allows a list; early GBA samples write it so).
BLOCKS_FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <entry>
    <id>urn:uuid:{U}</id>
    <link rel="self" href="/User/9/UsagePoint/01/MeterReading/01/IntervalBlock/0173"/>
    <link rel="up" href="/User/9/UsagePoint/01/MeterReading/01"/>
    <content>{_block(86400, 7)}{_block(2 * 86400, 8)}{_block(3 * 86400, 9)}</content>
  </entry>
</feed>
""".encode()


def test_several_blocks_in_one_entry_are_refused_strict_and_split_lenient():
    # Strict mode stores a block per id: it refuses the entry rather than keep the first block only.
    (strict,) = iter_entries(BLOCKS_FEED)
    assert any("the content holds 3 IntervalBlocks" in p and not p.startswith("lenient:") for p in strict.problems)

    first, second, third = list(iter_entries(BLOCKS_FEED, lenient=True))
    assert first.uuid == UUID(U) and first.content.start == 86400 and [r[2] for r in first.content.readings] == [7]
    assert "lenient: the content holds 3 IntervalBlocks" in first.problems[-1]
    assert (second.uuid, third.uuid) == (normalize.split_block_id(UUID(U), 2), normalize.split_block_id(UUID(U), 3))
    assert [(b.index, b.content.start, b.content.readings[0][2]) for b in (second, third)] == [
        (1, 2 * 86400, 8),
        (2, 3 * 86400, 9),
    ]
    # Under the same meter reading: the parent's "up", and a self href naming the block's own id.
    assert second.up_href == first.up_href
    assert second.self_href == f"/User/9/UsagePoint/01/MeterReading/01/IntervalBlock/{second.uuid}"
    assert "IntervalBlock 2 of 3" in second.problems[0] and all(p.startswith("lenient:") for p in second.problems)
    # Read again, the same file gives the same ids.
    assert [e.uuid for e in iter_entries(BLOCKS_FEED, lenient=True)] == [first.uuid, second.uuid, third.uuid]


def test_a_split_blocks_self_href_names_its_id_by_whole_segments():
    new = UUID(int=5)
    assert (
        normalize.split_block_self_href("/MeterReading/1/IntervalBlock/0173", new)
        == f"/MeterReading/1/IntervalBlock/{new}"
    )
    assert (
        normalize.split_block_self_href("/MeterReading/1/IntervalBlock/", new) == f"/MeterReading/1/IntervalBlock/{new}"
    )
    assert normalize.split_block_self_href("/a/MyIntervalBlock/5", new) == f"/a/MyIntervalBlock/5/IntervalBlock/{new}"
    assert normalize.split_block_self_href(None, new) == f"IntervalBlock/{new}"
