"""FB 1 (Usage Data Common) data elements, D000-D147 as far as they apply to what the portal serves.

GBA's FB_01 rows check, on a Batch/Subscription feed: the feed's id, title and updated; unique
entry ids; each entry's id, title, published, updated, self and up links (self unique); the
UsagePoint's related links (MeterReading, summaries, LocalTimeParameters) and ServiceCategory kind;
MeterReading's related ReadingType and IntervalBlock; the fields of ReadingType and
LocalTimeParameters; ids that are UUIDs of type 5 (GBA's persistent-UUID rules). Each test below
checks one group of rows on the feed as the harness fetches it, then follows the hrefs it names.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from tests.conformance.conftest import harness_get

NS = {"a": ATOM, "e": ESPI}
# ESPI ServiceKind: electricity 0, gas 1, water 2, pressure 4, heat 5, cold 6, communication 7, time 8.
SERVICE_KINDS = {"0", "1", "2", "4", "5", "6", "7", "8"}


@pytest.fixture
def feed(portal):
    """The Batch/Subscription feed of the demo's first active grant, as the harness reads it."""
    grant = portal.grant()
    response = harness_get(portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"])
    assert response.status_code == 200
    assert validate_document(response.content, strict_links=True) == []
    return grant, parse_small_document(response.content)


def entries_of(root, kind: str) -> list:
    return root.xpath(f"/a:feed/a:entry[a:content/e:{kind}]", namespaces=NS)


def links(entry, rel: str) -> list[str]:
    return entry.xpath(f"a:link[@rel='{rel}']/@href", namespaces=NS)


def urn_uuid(text: str) -> uuid.UUID:
    assert text.startswith("urn:uuid:"), text
    return uuid.UUID(text.removeprefix("urn:uuid:"))


def test_D000_D147_feed_id_title_updated_and_unique_entry_ids(feed):
    _grant, root = feed
    assert root.tag == f"{{{ATOM}}}feed"
    assert urn_uuid(root.findtext(f"{{{ATOM}}}id")).version == 5
    assert root.findtext(f"{{{ATOM}}}title")
    assert root.findtext(f"{{{ATOM}}}updated")
    ids = root.xpath("/a:feed/a:entry/a:id/text()", namespaces=NS)
    assert ids and len(ids) == len(set(ids))
    assert {urn_uuid(value).version for value in ids} == {5}


def test_D000_D147_every_entry_has_id_title_published_updated_self_and_up(feed, portal):
    grant, root = feed
    selfs = []
    for entry in root.xpath("/a:feed/a:entry", namespaces=NS):
        for element in ("id", "title", "published", "updated"):
            assert entry.find(f"{{{ATOM}}}{element}") is not None, element
        [own] = links(entry, "self")
        [up] = links(entry, "up")
        assert own.rsplit("/", 1)[0] == up  # up is the collection the entry's id sits in, without an id
        selfs.append(own)
    assert [href for href, count in Counter(selfs).items() if count > 1] == []


def test_D000_D147_usage_point_links_and_service_category(feed):
    _grant, root = feed
    points = entries_of(root, "UsagePoint")
    assert points
    meter_reading_hrefs = set(root.xpath("//a:entry[a:content/e:MeterReading]/a:link[@rel='up']/@href", namespaces=NS))
    for entry in points:
        [own] = links(entry, "self")
        related = links(entry, "related")
        assert f"{own}/MeterReading" in related and f"{own}/MeterReading" in meter_reading_hrefs
        assert [href for href in related if "/LocalTimeParameters/" in href]
        kind = entry.findtext("a:content/e:UsagePoint/e:ServiceCategory/e:kind", namespaces=NS)
        assert kind in SERVICE_KINDS


def test_D000_D147_meter_reading_reading_type_and_local_time_parameters(feed):
    _grant, root = feed
    reading_types = {links(e, "self")[0]: e for e in entries_of(root, "ReadingType")}
    local_times = {links(e, "self")[0]: e for e in entries_of(root, "LocalTimeParameters")}
    for entry in entries_of(root, "MeterReading"):
        related = links(entry, "related")
        assert f"{links(entry, 'self')[0]}/IntervalBlock" in related
        [reading_type] = [href for href in related if "/ReadingType/" in href]
        assert reading_type in reading_types  # the feed carries the ReadingType it names
    for entry in reading_types.values():
        content = entry.find("a:content/e:ReadingType", namespaces=NS)
        for field in ("accumulationBehaviour", "commodity", "flowDirection", "intervalLength", "kind", "uom"):
            assert content.findtext(f"{{{ESPI}}}{field}"), field
        assert content.findtext(f"{{{ESPI}}}powerOfTenMultiplier") is not None
    for entry in entries_of(root, "UsagePoint"):
        [ltp] = [href for href in links(entry, "related") if "/LocalTimeParameters/" in href]
        content = local_times[ltp].find("a:content/e:LocalTimeParameters", namespaces=NS)
        for field in ("dstEndRule", "dstOffset", "dstStartRule", "tzOffset"):
            assert content.findtext(f"{{{ESPI}}}{field}") is not None, field


def test_D000_D147_every_self_and_up_href_answers_with_the_same_entry(feed):
    """The harness follows hrefs: each self href is the entry itself, each up href a feed holding it."""
    grant, root = feed
    token = grant["access_token"]
    ups: dict[str, set[str]] = {}
    for entry in root.xpath("/a:feed/a:entry", namespaces=NS):
        [own] = links(entry, "self")
        response = harness_get(own, token)
        assert response.status_code == 200, own
        assert validate_document(response.content, strict_links=True) == []
        alone = parse_small_document(response.content)
        assert alone.findtext(f"{{{ATOM}}}id") == entry.findtext(f"{{{ATOM}}}id")
        ups.setdefault(links(entry, "up")[0], set()).add(own)
    for up, members in ups.items():
        if "/Subscription/" not in up:
            continue  # ReadingType and LocalTimeParameters have no collection to list (root resources)
        response = harness_get(up, token)
        assert response.status_code == 200, up
        listed = set(parse_small_document(response.content).xpath("//a:entry/a:link[@rel='self']/@href", namespaces=NS))
        assert members <= listed, up
