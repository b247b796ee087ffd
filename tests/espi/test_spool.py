"""The plan's spool holds entries in memory up to a budget and the rest on disk; both replay the same."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from bench.gen import write_feed
from custodian.espi.parser import Entry, iter_entries
from custodian.imports import CustomerUsagePoints, import_apply, import_plan
from custodian.imports import spool as spool_module
from custodian.models import IntervalBlock
from tests.readings import block_readings


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.xml"
    write_feed(path, usage_points=2, days=3, tag="spool")
    return path


@pytest.mark.parametrize("budget", [0, 20_000, 16 << 20], ids=["all-on-disk", "overflows", "all-in-memory"])
@pytest.mark.django_db(transaction=True)
def test_spooled_entries_replay_the_same_within_and_beyond_the_memory_budget(feed, customer, budget, monkeypatch):
    monkeypatch.setattr(spool_module, "SPOOL_MEMORY_BUDGET", budget)
    expected = {e.atom_id: e.content.readings for e in iter_entries(feed) if e.kind == "IntervalBlock"}
    plan = import_plan(source=feed, resolver=CustomerUsagePoints(customer), spool=True)
    spool = plan.spool
    on_disk = spool.on_disk
    assert (on_disk == 0) == (budget == 16 << 20) and (on_disk == len(plan.entries)) == (budget == 0)
    # The source is not read again.
    result = import_apply(source=b"<not-a-feed/>", plan=plan, accept=plan.ok_indexes, customer=customer)
    assert result.readings == 2 * 3 * 96
    stored = {f"urn:uuid:{str(b.uuid).upper()}": block_readings(b) for b in IntervalBlock.objects.all()}
    assert stored == expected


def test_an_entry_spooled_to_disk_comes_back_equal(feed):
    """On disk an entry is pickled as plain values (spool._entry_values): every field comes back as it was."""
    assert [f.name for f in fields(Entry)] == [
        "index",
        "line",
        "atom_id",
        "uuid",
        "title",
        "published",
        "updated",
        "links",
        "kind",
        "namespace",
        "content",
        "content_xml",
        "problems",
        "schema_errors",
        "skipped",
        "fingerprint",
    ], "a new Entry field must be spooled too (spool._entry_values)"
    entries = list(iter_entries(feed, block_readings="text"))
    for entry in entries:
        if entry.kind == "IntervalBlock":
            entry.content = spool_module.pack_block(entry.content)
    odd = entries[0]
    odd.uuid, odd.published, odd.problems, odd.schema_errors, odd.skipped = (
        None,
        None,
        ["a problem"],
        ["an error"],
        True,
    )
    assert {entry.kind for entry in entries} >= {"UsagePoint", "MeterReading", "ReadingType", "IntervalBlock"}
    spool = spool_module.EntrySpool(memory_budget=0)
    for entry in entries:
        spool.add(entry)
    assert spool.on_disk == len(entries)
    assert list(spool.entries(lambda index: True)) == entries
    spool.close()
