"""Packed interval readings (``custodian.readings``): round trip, refusals, and the start window."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodian.readings import EMPTY, ReadingsInvalid, readings_between, readings_pack, readings_unpack

INT64 = st.integers(-(2**63), 2**63 - 1)
OPTIONAL_INT64 = st.none() | INT64 | st.sampled_from([-(2**63), 2**63 - 1, 2**53 + 1, -(2**53) - 1, 0])

readings_strategy = st.lists(
    st.tuples(
        st.integers(0, 2**63 - 1) | st.sampled_from([0, 2**63 - 1]),  # start
        st.integers(0, 2**32 - 1),  # duration
        OPTIONAL_INT64,  # value
        OPTIONAL_INT64,  # cost
        st.none() | st.integers(0, 65535),  # quality (UInt16)
        st.none() | st.integers(-32768, 32767),  # tou (Int16)
    ),
    unique_by=lambda reading: reading[0],
    max_size=50,
)


def reading(start: int, duration: int = 900, value: int | None = 1, cost=None, quality=None, tou=None) -> tuple:
    return (start, duration, value, cost, quality, tou)


@given(readings_strategy)
def test_pack_then_unpack_gives_the_readings_sorted_by_start(readings):
    packed, count = readings_pack(readings)
    assert isinstance(packed, str) and count == len(readings)
    unpacked = readings_unpack(packed)
    expected = sorted(readings, key=lambda r: r[0])
    assert [tuple(r) for r in unpacked] == expected
    # Written exactly as the json encoder writes the sorted readings (the fast format path included).
    assert packed == json.dumps(expected, separators=(",", ":"), allow_nan=False)
    # Nones stay None and integers stay exact integers (no float rounding of int64 values).
    for got, want in zip(unpacked, expected, strict=True):
        assert [type(v) for v in got] == [type(v) for v in want]
    # The packed form is canonical: packing the readings again, in any order, gives the same text.
    assert readings_pack(unpacked) == (packed, count)
    assert readings_pack(list(reversed(readings))) == (packed, count)


@given(readings_strategy, st.none() | st.integers(-10, 2**63), st.none() | st.integers(-10, 2**63))
def test_between_keeps_the_readings_starting_in_the_half_open_window(readings, start_min, start_max):
    unpacked = readings_unpack(readings_pack(readings)[0])
    kept = readings_between(unpacked, start_min=start_min, start_max=start_max)
    assert kept == [
        r for r in unpacked if (start_min is None or r[0] >= start_min) and (start_max is None or r[0] < start_max)
    ]


def test_big_int64_values_survive_exactly():
    big = [reading(2**63 - 1, 2**32 - 1, 2**63 - 1, -(2**63), 65535, -32768), reading(0, 0, 2**53 + 1, -(2**53) - 1)]
    packed, count = readings_pack(big)
    assert count == 2
    assert readings_unpack(packed) == [[0, 0, 2**53 + 1, -(2**53) - 1, None, None], list(big[0])]
    assert json.loads(packed) == readings_unpack(packed)


def test_no_readings_pack_to_the_empty_array_and_unpack_to_nothing():
    assert readings_pack([]) == (EMPTY, 0) == ("[]", 0)
    assert readings_pack(iter([])) == (EMPTY, 0)
    assert readings_unpack(EMPTY) == readings_unpack("") == readings_unpack(None) == []


def test_packing_accepts_any_iterable_and_sorts_it():
    packed, count = readings_pack(reading(start, value=start) for start in (1800, 0, 900))
    assert count == 3
    assert packed == "[[0,900,0,null,null,null],[900,900,900,null,null,null],[1800,900,1800,null,null,null]]"


@pytest.mark.parametrize(
    ("readings", "message"),
    [
        ([reading(900), reading(900, value=2)], "same start"),
        ([reading(1800), reading(900), reading(1800, value=2)], "same start"),  # unsorted input
        ([reading(-1)], "before 1970"),
        ([reading(900), reading(-900)], "before 1970"),  # the negative start is not first in the input
        ([reading(900.0)], "integer start"),
        ([reading(True)], "integer start"),
        ([reading(900, 900.0)], "integer start and duration"),
        ([reading(900, None)], "integer start and duration"),
        ([reading(900, "900")], "integer start and duration"),
        ([(900, 900, 1, None, None)], "integer start"),  # five fields
        ([(*reading(900), 7)], "integer start"),  # seven fields
        ([reading(900, value=float("nan"))], "integer or null value"),
        ([reading(900, value=object())], "integer or null value"),
        ([reading(900, value=2**63)], "value 9223372036854775808 is outside"),
        ([reading(900, cost=-(2**63) - 1)], "cost .* is outside"),
        ([reading(900, 2**32)], "duration 4294967296 is outside"),
        ([reading(900, -1)], "duration -1 is outside"),
        ([reading(900, quality=65536)], "quality 65536 is outside"),
        ([reading(900, tou=32768)], "tou 32768 is outside"),
        ([reading(900, tou="1")], "integer or null tou"),
        ([reading(2**63)], "starts after 2\\^63 s"),
    ],
)
def test_readings_that_cannot_be_stored_are_refused(readings, message):
    with pytest.raises(ReadingsInvalid, match=message):
        readings_pack(readings)


@pytest.mark.parametrize("start", ["900", None])
def test_a_start_that_is_not_a_number_is_refused(start):
    with pytest.raises(ReadingsInvalid):
        readings_pack([reading(start)])


def test_readings_invalid_is_a_value_error():
    assert issubclass(ReadingsInvalid, ValueError)


def test_between_bounds():
    readings = readings_unpack(readings_pack([reading(start) for start in (0, 900, 1800, 2700)])[0])
    assert readings_between(readings, start_min=None, start_max=None) is readings
    assert [r[0] for r in readings_between(readings, start_min=900, start_max=2700)] == [900, 1800]
    assert [r[0] for r in readings_between(readings, start_min=900, start_max=None)] == [900, 1800, 2700]
    assert [r[0] for r in readings_between(readings, start_min=None, start_max=900)] == [0]
    assert [r[0] for r in readings_between(readings, start_min=901, start_max=1800)] == []
    assert readings_between(readings, start_min=1800, start_max=900) == []
    assert readings_between([], start_min=0, start_max=10) == []
