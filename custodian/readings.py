"""Interval readings, stored packed in their IntervalBlock's row.

ESPI gives an IntervalReading no id of its own: it is only ever read, written and replaced with its
block. So a block keeps its readings in one column, a JSON array of
``[start, duration, value, cost, quality, tou]`` arrays (``custodian.espi.content.Reading``, with
``null`` for an absent field), sorted by start with one reading per start. One row per block
instead of one per reading is what makes imports and batch uploads fast: a day of 15-minute readings
is one insert, not 96 inserts and 96 foreign-key checks.

Pure code, no ORM: the model calls :func:`readings_pack`, every reader :func:`readings_unpack`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from custodian.espi.content import Reading

FIELDS = ("start", "duration", "value", "cost", "quality", "tou")
EMPTY = "[]"

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class ReadingsInvalid(ValueError):
    """Readings that cannot be stored: two with one start, a negative start, or not integers."""


def readings_pack(readings: Iterable[Reading]) -> tuple[str, int]:
    """Return ``(packed, count)`` for a block's readings, sorted by start; ReadingsInvalid if they cannot be stored."""
    rows = list(readings)
    if not rows:
        return EMPTY, 0
    starts = [row[0] for row in rows]
    if any(later <= earlier for earlier, later in zip(starts, starts[1:], strict=False)):
        rows.sort(key=lambda row: row[0])
        starts.sort()
        if len(set(starts)) != len(starts):
            raise ReadingsInvalid("two readings of the block have the same start")
    if starts[0] < 0:
        raise ReadingsInvalid("a reading starts before 1970")
    for row in rows:
        if len(row) != len(FIELDS) or type(row[0]) is not int or type(row[1]) is not int:
            raise ReadingsInvalid(f"a reading must be {FIELDS} with integer start and duration, not {row!r:.80}")
    try:
        packed = _encode(rows)
    except (TypeError, ValueError) as exc:
        raise ReadingsInvalid(f"a reading is not made of integers: {exc}") from None
    return packed, len(rows)


def readings_unpack(packed: str | None) -> list[Sequence[int | None]]:
    """Return a block's readings, oldest first, each ``(start, duration, value, cost, quality, tou)``."""
    if not packed or packed == EMPTY:
        return []
    return json.loads(packed)


def readings_between(
    readings: list[Sequence[int | None]], *, start_min: int | None, start_max: int | None
) -> list[Sequence[int | None]]:
    """Return the readings starting in ``[start_min, start_max)`` (either bound may be None)."""
    if start_min is None and start_max is None:
        return readings
    low = start_min if start_min is not None else -1
    if start_max is None:
        return [r for r in readings if r[0] >= low]
    return [r for r in readings if low <= r[0] < start_max]
