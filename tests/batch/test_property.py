"""Property: over random grants and random feeds, nothing outside the caller's active grants is ever written."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custodian.espi import writer
from custodian.espi.content import (
    IntervalBlockContent,
    PowerQualitySummaryContent,
    ReadingTypeContent,
    UsageSummaryContent,
)
from custodian.models import ElectricPowerQualitySummary, IntervalBlock, MeterReading, ReadingType, UsageSummary
from grants.services import grant_revoke
from tests import factories
from tests.batch.conftest import bulk_path, client_token, post, snapshot

pytestmark = pytest.mark.django_db

_counter = itertools.count()
NOW = datetime(2024, 1, 1, tzinfo=UTC)
NEEDS = {"IntervalBlock": {4}, "UsageSummary": {15, 16}, "ElectricPowerQualitySummary": {17}, "MeterReading": set()}

point_spec = st.fixed_dictionaries(
    {
        "member": st.sampled_from(["bulk1", "bulk10", "none"]),
        "active": st.booleans(),
        "blocks": st.sets(st.sampled_from([4, 15, 17])),
    }
)
entry_spec = st.fixed_dictionaries(
    {
        "target": st.integers(min_value=-1, max_value=3),  # -1: an unknown usage point id
        "kind": st.sampled_from(["MeterReading", "IntervalBlock", "UsageSummary", "ElectricPowerQualitySummary"]),
        "reuse": st.sampled_from(["new", "new", "new", "duplicate", "foreign"]),
    }
)


def scope_for(blocks: set[int]) -> str:
    fbs = "_".join(str(fb) for fb in sorted({1, 3, 35} | blocks))
    return f"FB={fbs};IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"


def build_feed(entries: list[dict], decoy: str) -> bytes:
    paths = writer.ResourcePaths(scope=f"RetailCustomer/{decoy}")
    atom = []
    for e in entries:
        if e["kind"] == "MeterReading":
            links = paths.meter_reading(e["ref"], e["mr"], reading_type_id=e["rt"])
            content = writer.meter_reading_xml()
        elif e["kind"] == "IntervalBlock":
            links = paths.interval_block(e["ref"], e["mr"], e["id"])
            start = 1704067200 + 86400 * e["n"]
            readings = [(start + 900 * i, 900, 100 + i, None, None, None) for i in range(4)]
            content = writer.interval_block_xml(IntervalBlockContent(start=start, duration=86400, readings=readings))
        elif e["kind"] == "UsageSummary":
            links = paths.usage_point_child(e["ref"], "UsageSummary", e["id"])
            content = writer.usage_summary_xml(UsageSummaryContent(status_time_stamp=1704067200 + e["n"]))
        elif e["kind"] == "ElectricPowerQualitySummary":
            links = paths.usage_point_child(e["ref"], "ElectricPowerQualitySummary", e["id"])
            content = writer.power_quality_summary_xml(
                PowerQualitySummaryContent(summary_interval_start=e["n"], summary_interval_duration=60)
            )
        else:
            links = paths.root_resource("ReadingType", e["id"])
            content = writer.reading_type_xml(ReadingTypeContent(uom=72, interval_length=900))
        atom.append(
            writer.AtomEntry(uuid=e["uuid"], title="", published=NOW, updated=NOW, links=links, content=content)
        )
    return b"".join(
        writer.feed_chunks(
            feed_uuid=uuid.uuid4(),
            title="random",
            updated=NOW,
            links=[paths.feed_self("Batch", "Bulk", "1")],
            entries=atom,
        )
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(points=st.lists(point_spec, min_size=4, max_size=4), specs=st.lists(entry_spec, min_size=1, max_size=10))
def test_no_entry_outside_active_grants_is_ever_written(db, tmp_path, settings, points, specs):
    settings.MEDIA_ROOT = tmp_path / f"media{next(_counter)}"
    n = next(_counter)
    tp, _ = factories.make_third_party(name=f"TP {n}")
    bulks = {
        "bulk1": factories.make_bulk_user(third_party=tp, bulk_id="1"),
        "bulk10": factories.make_bulk_user(third_party=tp, bulk_id="10"),
    }
    owner, stranger = factories.make_customer(username=f"p{n}a"), factories.make_customer(username=f"p{n}b")
    usage_points = []
    allowed: dict[int, set[int]] = {}
    for i, spec in enumerate(points):
        customer = owner if i % 2 == 0 else stranger
        up = factories.make_usage_point(customer=customer, title=f"up{i}")
        usage_points.append(up)
        if spec["member"] != "none":
            grant = factories.make_grant(
                customer=customer,
                third_party=tp,
                usage_points=[up],
                bulk_user=bulks[spec["member"]],
                scope=scope_for(spec["blocks"]) + f";BR={spec['member'][4:]}",
            )
            if not spec["active"]:
                grant_revoke(grant=grant)
            elif spec["member"] == "bulk1":
                allowed[up.pk] = {1, 3, 35} | spec["blocks"]
    # A resource that already lives under a usage point no grant names: it must never change.
    vault = factories.make_usage_point(customer=stranger, title="vault")
    foreign_mr = MeterReading.objects.create(usage_point=vault, title="lives elsewhere")
    token = client_token(tp, scope="FB=35;BR=1")

    entries, seen = [], []
    rt_uuid = uuid.uuid4()
    for k, spec in enumerate(specs):
        ref = usage_points[spec["target"]].public_id if spec["target"] >= 0 else "ffffffffffffffff"
        e = {
            "kind": spec["kind"],
            "ref": ref,
            "mr": f"m{spec['target']}",
            "rt": "rt1",
            "id": str(k),
            "n": k,
            "uuid": uuid.uuid4(),
        }
        if spec["reuse"] == "duplicate" and seen:
            e["uuid"] = seen[0]
        elif spec["reuse"] == "foreign" and spec["kind"] == "MeterReading":
            e["uuid"] = foreign_mr.uuid
        seen.append(e["uuid"])
        if spec["kind"] == "IntervalBlock":
            # Its meter reading comes first in the feed.
            entries.append(
                {
                    **e,
                    "kind": "MeterReading",
                    "id": f"m{spec['target']}",
                    "uuid": uuid.uuid5(uuid.NAMESPACE_URL, f"{n}-{ref}"),
                }
            )
        entries.append(e)
    entries.append({"kind": "ReadingType", "ref": None, "mr": None, "rt": None, "id": "rt1", "n": 0, "uuid": rt_uuid})
    body = build_feed(entries, decoy=owner.public_id)

    before = snapshot()
    response = post(bulk_path("1"), body, token)
    assert response.status_code in (200, 400, 403)
    data = response.json()
    assert data["counts"]["received"] == len(entries) == len(data["entries"])
    assert data["counts"]["accepted"] + data["counts"]["rejected"] == data["counts"]["received"]

    # Every row the upload wrote lies under an active grant of bulk 1 whose function blocks cover it.
    after = snapshot()
    earlier = {row[0] for table in before.values() for row in table if table is not before["readings"]}
    for model, kind in (
        (MeterReading, "MeterReading"),
        (UsageSummary, "UsageSummary"),
        (ElectricPowerQualitySummary, "ElectricPowerQualitySummary"),
        (IntervalBlock, "IntervalBlock"),
    ):
        for row in model.objects.all():
            if model is MeterReading and row.uuid == foreign_mr.uuid:
                assert (row.usage_point_id, row.title) == (vault.pk, "lives elsewhere")
                continue
            if row.uuid in earlier:
                continue
            up = row.meter_reading.usage_point_id if model is IntervalBlock else row.usage_point_id
            assert up in allowed, (kind, up)
            assert not NEEDS[kind] or NEEDS[kind] & allowed[up], kind
    for rt in ReadingType.objects.filter(uuid=rt_uuid):
        assert rt.meter_readings.filter(usage_point_id__in=list(allowed)).exists()

    # Posting the same feed again changes nothing.
    again = post(bulk_path("1"), body, token)
    assert again.status_code == response.status_code
    assert snapshot() == after
