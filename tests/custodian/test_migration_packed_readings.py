"""Migration 0005 packs each block's IntervalReading rows into the block's row, and unpacks them going back."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from custodian.readings import readings_unpack

BEFORE = ("custodian", "0004_intervalreading_block_index_covered_by_unique")
AFTER = ("custodian", "0005_readings_packed_per_block")
FIELDS = ("start", "duration", "value", "cost", "quality", "tou")
# More blocks than the migration updates in one batch (500), so that its batching is exercised too.
MANY_BLOCKS = 620


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # see the migrations just applied or unapplied
    return executor


def _create_blocks(apps) -> dict[uuid.UUID, list[tuple]]:
    """Create blocks with readings through the 0004 models; return block uuid -> readings, sorted by start."""
    User = apps.get_model("custodian", "User")
    RetailCustomer = apps.get_model("custodian", "RetailCustomer")
    UsagePoint = apps.get_model("custodian", "UsagePoint")
    MeterReading = apps.get_model("custodian", "MeterReading")
    IntervalBlock = apps.get_model("custodian", "IntervalBlock")
    IntervalReading = apps.get_model("custodian", "IntervalReading")

    user = User.objects.create(username="migrated", password="!")
    customer = RetailCustomer.objects.create(user=user, name="Migrated")
    point = UsagePoint.objects.create(customer=customer, title="Home")
    energy = MeterReading.objects.create(usage_point=point, title="energy")
    cost = MeterReading.objects.create(usage_point=point, title="cost")

    expected: dict[uuid.UUID, list[tuple]] = {}
    # Rows inserted out of start order, every optional field both set and null, int64 extremes (quality
    # and tou were smallint columns: 32767 at most).
    mixed = IntervalBlock.objects.create(meter_reading=energy, start=1_700_000_000, duration=3600)
    mixed_rows = [
        (1_700_002_700, 900, 2**63 - 1, -(2**63), 17, 32767),
        (1_700_000_000, 900, 5, None, None, None),
        (1_700_001_800, 900, None, 123_456, 0, 3),
        (1_700_000_900, 900, -(2**53) - 1, 2**53 + 1, None, 0),
    ]
    IntervalReading.objects.bulk_create(
        [IntervalReading(block=mixed, **dict(zip(FIELDS, row, strict=True))) for row in mixed_rows]
    )
    expected[mixed.uuid] = sorted(mixed_rows)

    empty = IntervalBlock.objects.create(meter_reading=energy, start=1_700_003_600, duration=3600)
    expected[empty.uuid] = []

    blocks = IntervalBlock.objects.bulk_create(
        [
            IntervalBlock(meter_reading=cost, start=1_600_000_000 + day * 86400, duration=86400)
            for day in range(MANY_BLOCKS)
        ]
    )
    readings = []
    for day, block in enumerate(blocks):
        block_start = 1_600_000_000 + day * 86400
        rows = [(block_start + slot * 21600, 21600, day * 10 + slot, None, None, None) for slot in (3, 1, 0, 2)]
        readings += [IntervalReading(block=block, **dict(zip(FIELDS, row, strict=True))) for row in rows]
        expected[block.uuid] = sorted(rows)
    IntervalReading.objects.bulk_create(readings, batch_size=1000)
    return expected


def _rows_0004(apps) -> dict[uuid.UUID, list[tuple]]:
    IntervalBlock = apps.get_model("custodian", "IntervalBlock")
    IntervalReading = apps.get_model("custodian", "IntervalReading")
    out: dict[uuid.UUID, list[tuple]] = {
        block_uuid: [] for block_uuid in IntervalBlock.objects.values_list("uuid", flat=True)
    }
    for block_uuid, *row in IntervalReading.objects.order_by("block_id", "start").values_list("block__uuid", *FIELDS):
        out[block_uuid].append(tuple(row))
    return out


@pytest.mark.django_db(transaction=True)
def test_readings_are_packed_into_their_block_and_unpacked_going_back():
    executor = MigrationExecutor(connection)
    if AFTER not in executor.loader.graph.nodes:
        pytest.skip("migrations are disabled (--nomigrations)")
    try:
        executor = _migrate([BEFORE])
        old_apps = executor.loader.project_state([BEFORE]).apps
        expected = _create_blocks(old_apps)
        assert _rows_0004(old_apps) == expected

        executor = _migrate([AFTER])
        assert "custodian_intervalreading" not in connection.introspection.table_names()
        new_apps = executor.loader.project_state([AFTER]).apps
        IntervalBlock = new_apps.get_model("custodian", "IntervalBlock")
        packed = {
            block_uuid: (json_text, count)
            for block_uuid, json_text, count in IntervalBlock.objects.values_list("uuid", "readings", "reading_count")
        }
        assert packed.keys() == expected.keys()
        for block_uuid, rows in expected.items():
            json_text, count = packed[block_uuid]
            assert [tuple(r) for r in readings_unpack(json_text)] == rows, block_uuid
            assert count == len(rows), block_uuid
        assert packed[next(iter(expected))][0] == (
            "[[1700000000,900,5,null,null,null],[1700000900,900,-9007199254740993,9007199254740993,null,0],"
            "[1700001800,900,null,123456,0,3],[1700002700,900,9223372036854775807,-9223372036854775808,17,32767]]"
        )
        assert sum(count for _text, count in packed.values()) == 4 + 4 * MANY_BLOCKS

        # Back to 0004: the rows are recreated from the packed column, block by block.
        executor = _migrate([BEFORE])
        assert _rows_0004(executor.loader.project_state([BEFORE]).apps) == expected
    finally:
        # Whatever happened, leave the database at the latest migration for the tests that follow. The
        # rows made here are disposable: dropping them first lets a failing forward step still complete.
        if "custodian_intervalreading" in connection.introspection.table_names():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM custodian_intervalreading")
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert "custodian_intervalreading" not in connection.introspection.table_names()
    latest = MigrationExecutor(connection)
    assert not latest.migration_plan(latest.loader.graph.leaf_nodes())
