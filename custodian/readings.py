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
from itertools import islice, repeat
from operator import itemgetter, lt

from custodian.espi.content import Reading

FIELDS = ("start", "duration", "value", "cost", "quality", "tou")
EMPTY = "[]"

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class ReadingsInvalid(ValueError):
    """Readings that cannot be stored: two with one start, or a field that is not an integer in its range."""


_INT64 = (-(2**63), 2**63 - 1)
# Each field's range: its ESPI type (UInt32 duration, UInt16 quality, Int16 tou), value and cost as
# 64-bit integers (ESPI's Int48 fits), and no start before 1970 (as for blocks).
_RANGES = {
    "start": (0, _INT64[1]),
    "duration": (0, 2**32 - 1),
    "value": _INT64,
    "cost": _INT64,
    "quality": (0, 2**16 - 1),
    "tou": (-(2**15), 2**15 - 1),
}
_REQUIRED = ("start", "duration")
_NONE = type(None)


def _check_column(name: str, column: tuple) -> str:
    """Check one field of every reading; return how the encoder writes it (``%d``, ``%.0snull``, or "" if mixed)."""
    types = set(map(type, column))
    if types == {int}:
        present = column
        fmt = "%d"
    elif types == {_NONE} and name not in _REQUIRED:
        return "%.0snull"  # consumes the None and writes null
    elif types == {int, _NONE} and name not in _REQUIRED:
        present = [v for v in column if v is not None]
        fmt = ""
    else:
        wrong = next(v for v in column if type(v) is not int and (v is not None or name in _REQUIRED))
        what = "integer start and duration" if name in _REQUIRED else f"integer or null {name}"
        raise ReadingsInvalid(f"a reading must have an {what}, not {wrong!r:.40}")
    low, high = _RANGES[name]
    if min(present) < low or max(present) > high:
        culprit = next(v for v in present if not low <= v <= high)
        if name == "start":
            raise ReadingsInvalid(
                "a reading starts before 1970" if culprit < 0 else f"a reading starts after 2^63 s ({culprit})"
            )
        raise ReadingsInvalid(f"a reading's {name} {culprit} is outside {low}..{high}")
    return fmt


def readings_pack(readings: Iterable[Reading]) -> tuple[str, int]:
    """Return ``(packed, count)`` for a block's readings, sorted by start; ReadingsInvalid if they cannot be stored."""
    rows = list(readings)
    if not rows:
        return EMPTY, 0
    try:
        columns = list(zip(*rows, strict=True))
    except (TypeError, ValueError):
        columns = []
    if len(columns) != len(FIELDS):
        raise ReadingsInvalid(f"a reading must be {FIELDS} with integer start and duration")
    formats = [_check_column(name, column) for name, column in zip(FIELDS, columns, strict=True)]
    starts = columns[0]
    if not all(map(lt, starts, islice(starts, 1, None))):
        # Not strictly increasing: sorted here, unless two readings share a start.
        if len(set(starts)) != len(starts):
            raise ReadingsInvalid("two readings of the block have the same start")
        rows.sort(key=itemgetter(0))
        columns = list(zip(*rows, strict=True))
    if all(formats):
        # Each field all integers or all null (the usual block): one format per reading writes it as the
        # json encoder does (an int's repr, null), in a fraction of the time.
        row = ",".join(formats)
        return "[[" + "],[".join(map(row.__mod__, zip(*columns, strict=True))) + "]]", len(rows)
    return _encode(rows), len(rows)


def _safe_length(low: int, high: int, negative: bool) -> int:
    """Return the longest canonical integer text of which every one lies in ``low..high`` (with a sign if ``negative``)."""
    if not negative:
        return len(str(high)) - 1
    return min(len(str(high)) - 1, len(str(-low))) if low < 0 else 0


# Per field: the longest text certainly in range, for a column without and with negative numbers.
_SAFE_LENGTHS = {name: (_safe_length(*_RANGES[name], False), _safe_length(*_RANGES[name], True)) for name in FIELDS}


def _text_fits(name: str, column: list[str]) -> bool:
    """Whether every text of a column (canonical integers, see readings_pack_text) is certainly in the field's range."""
    if column.count(column[0]) == len(column):
        # One text throughout (a block's durations, its qualities): it is its own longest and smallest.
        return len(column[0]) <= _SAFE_LENGTHS[name][column[0] < "0"]
    # Canonical texts start with "-" or a digit, and "-" sorts first: the smallest text tells if any is negative.
    return max(map(len, column)) <= _SAFE_LENGTHS[name][min(column) < "0"]


def readings_pack_text(columns: Sequence[list[str] | None], count: int) -> tuple[str, int]:
    """Return what :func:`readings_pack` returns for ``count`` readings given as the text of their fields.

    ``columns`` are as ``custodian.espi.content.IntervalBlockText.columns``: per field of ``FIELDS``, each
    reading's value as ``str(int)`` writes it (at most 18 digits), or None for a field no reading has.
    The usual block (starts increasing, every value well inside its range) is packed from the text as it
    is, without an integer per value; any other goes through :func:`readings_pack` (same result, same errors).
    """
    if not count:
        return EMPTY, 0
    starts = list(map(int, columns[0] or ()))
    fits = len(starts) == count and starts[0] >= 0 and all(map(lt, starts, islice(starts, 1, None)))
    fits = fits and all(
        column is None or (len(column) == count and _text_fits(name, column))
        for name, column in zip(FIELDS[1:], columns[1:], strict=True)
    )
    if not fits or columns[1] is None:
        rows = zip(*(repeat(None, count) if c is None else map(int, c) for c in columns), strict=True)
        return readings_pack(rows)
    fields = [["null"] * count if column is None else column for column in columns]
    return "[[" + "],[".join(map(",".join, zip(*fields, strict=True))) + "]]", count


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
