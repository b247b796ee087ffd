"""Read interval readings back from their blocks' packed column, as rows tests can compare."""

from __future__ import annotations

from django.db.models import QuerySet, Sum

from custodian.models import IntervalBlock


def _blocks(blocks: QuerySet[IntervalBlock] | None) -> QuerySet[IntervalBlock]:
    return IntervalBlock.objects.all() if blocks is None else blocks


def reading_rows(blocks: QuerySet[IntervalBlock] | None = None) -> list[tuple]:
    """Return every reading of ``blocks`` (default: all) as ``(block uuid, start, duration, value, cost, quality, tou)``, sorted.

    Each block's ``reading_count`` is checked against its packed readings on the way.
    """
    rows: list[tuple] = []
    for block in _blocks(blocks).only("uuid", "readings", "reading_count"):
        readings = block.reading_list()
        assert block.reading_count == len(readings), (block.uuid, block.reading_count, len(readings))
        assert [r[0] for r in readings] == sorted({r[0] for r in readings}), "readings not sorted by unique start"
        rows += [(block.uuid, *reading) for reading in readings]
    return sorted(rows)


def block_readings(block: IntervalBlock) -> list[tuple]:
    """Return one block's readings as ``(start, duration, value, cost, quality, tou)`` tuples, oldest first."""
    return [tuple(reading) for reading in block.reading_list()]


def reading_count(blocks: QuerySet[IntervalBlock] | None = None) -> int:
    """Return how many readings ``blocks`` (default: all) hold, from ``reading_count``."""
    return _blocks(blocks).aggregate(n=Sum("reading_count"))["n"] or 0


def reading_value(blocks: QuerySet[IntervalBlock], *, start: int) -> int | None:
    """Return the value of the one reading starting at ``start`` among ``blocks`` (AssertionError unless exactly one)."""
    values = [row[3] for row in reading_rows(blocks) if row[1] == start]
    assert len(values) == 1, f"{len(values)} readings start at {start}"
    return values[0]
