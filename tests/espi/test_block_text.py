"""An IntervalBlock read as text (``block_readings="text"``, what the import plan spools) is the block read as tuples.

The import packs the text as it is (``custodian.readings.readings_pack_text``); whatever the block holds
(odd integer spellings, values out of range, readings out of order or sharing a start, fields some
readings lack), the content, the packed readings and every error are those of the tuple reader and
``readings_pack``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from custodian.espi.content import IntervalBlockContent, IntervalBlockText, parse_content
from custodian.espi.namespaces import ESPI
from custodian.espi.parser import parse_small_document
from custodian.readings import ReadingsInvalid, readings_pack, readings_pack_text

# Integers as files write them, well-formed or not: what int() reads but str() writes otherwise, ranges'
# edges, and text that is no integer at all.
ODD_TEXTS = [
    "0", "-0", "007", "+5", " 5", "5 ", "1_0", "١٢", "", "1,2", "x", "-", "--1",
    "4294967295", "4294967296", "999999999", "1000000000", "65535", "65536", "9999", "10000",
    "-32768", "-32769", "-9999", "32767", "-1", "999999999999999999", "1000000000000000000",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-99999999999999999",
]  # fmt: skip
TEXT = st.integers(0, 300).map(str) | st.integers(-(2**64), 2**64).map(str) | st.sampled_from(ODD_TEXTS)
FIELDS = ("cost", "quality", "value", "tou")


def _reading(start: str, duration: str, fields: dict[str, str]) -> str:
    xml = f"<cost>{fields['cost']}</cost>" if "cost" in fields else ""
    if "quality" in fields:
        xml += f"<ReadingQuality><quality>{fields['quality']}</quality></ReadingQuality>"
    xml += f"<timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>"
    xml += f"<value>{fields['value']}</value>" if "value" in fields else ""
    xml += f"<tou>{fields['tou']}</tou>" if "tou" in fields else ""
    return f"<IntervalReading>{xml}</IntervalReading>"


@st.composite
def blocks(draw: st.DrawFn) -> bytes:
    present = draw(st.sets(st.sampled_from(FIELDS)))
    count = draw(st.integers(0, 6))
    first, step = draw(st.integers(0, 10)), draw(st.sampled_from([900, 900, 1, 0, -900]))
    readings = []
    for i in range(count):
        start = draw(st.just(str(first + i * step)) | TEXT)
        duration = draw(st.just("900") | TEXT)
        # Mostly every reading has the same fields (the fast path); sometimes one lacks or adds one.
        fields = set(present) ^ (draw(st.sets(st.sampled_from(FIELDS), max_size=1)) if draw(st.booleans()) else set())
        readings.append(_reading(start, duration, {name: draw(st.just(str(i)) | TEXT) for name in fields}))
    interval = draw(st.sampled_from(["<duration>86400</duration><start>0</start>", "<start>x</start>", ""]))
    return (
        f'<IntervalBlock xmlns="{ESPI}"><interval>{interval}</interval>{"".join(readings)}</IntervalBlock>'
    ).encode()


def _read(xml: bytes, mode: bool | str) -> tuple:
    """Return what the import gets from a block: its content's fields and packed readings, or the errors."""
    element = parse_small_document(xml)
    try:
        content = parse_content("IntervalBlock", element, block_readings=mode)  # type: ignore[arg-type]
    except ValueError as exc:
        return ("content error", str(exc))
    try:
        if isinstance(content, IntervalBlockText):
            packed = readings_pack_text(content.columns, content.reading_count)
        else:
            assert isinstance(content, IntervalBlockContent)
            packed = readings_pack(content.readings)
    except ReadingsInvalid as exc:
        packed = ("refused", str(exc))
    return content.start, content.duration, content.elements, packed


@settings(max_examples=400, deadline=None)
@given(blocks())
def test_a_block_read_as_text_packs_as_the_block_read_as_tuples(xml):
    assert _read(xml, "text") == _read(xml, True)


def test_a_usual_block_is_read_as_text():
    readings = "".join(_reading(str(1000 + 900 * i), "900", {"value": str(i), "quality": "0"}) for i in range(3))
    xml = f'<IntervalBlock xmlns="{ESPI}"><interval><duration>2700</duration><start>1000</start></interval>{readings}</IntervalBlock>'
    content = parse_content("IntervalBlock", parse_small_document(xml.encode()), block_readings="text")
    assert isinstance(content, IntervalBlockText)
    assert content.columns == (["1000", "1900", "2800"], ["900"] * 3, ["0", "1", "2"], None, ["0"] * 3, None)
    assert readings_pack_text(content.columns, content.reading_count) == (
        "[[1000,900,0,null,0,null],[1900,900,1,null,0,null],[2800,900,2,null,0,null]]",
        3,
    )


def test_a_block_with_an_odd_integer_is_read_as_tuples():
    readings = _reading("1000", "900", {"value": "007"})
    xml = f'<IntervalBlock xmlns="{ESPI}"><interval><duration>900</duration><start>1000</start></interval>{readings}</IntervalBlock>'
    content = parse_content("IntervalBlock", parse_small_document(xml.encode()), block_readings="text")
    assert isinstance(content, IntervalBlockContent)
    assert content.readings == [(1000, 900, 7, None, None, None)]
