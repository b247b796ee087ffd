"""Hrefs are read by whole path segments; the fast path agrees with urllib on every href."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from custodian.espi.hrefs import href_ids, href_segment_id, href_segments


def _reference_segments(href: str) -> list[str]:
    return [unquote(part) for part in urlsplit(href.strip()).path.split("/") if part]


_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "HTTPS://",
        "//",
        "/",
        "espi",
        "1_1",
        "resource",
        "UsagePoint",
        "5",
        "55",
        "?a=/b",
        "#x",
        "%2F",
        "%41",
        ":",
        "host:443",
        " ",
        "\t",
        "\n",
        "mailto:",
        "Subscription",
        "..",
        "é",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_segments_match_urllib_for_any_href(href):
    assert href_segments(href) == _reference_segments(href)


def test_ids_by_whole_segments_in_absolute_and_relative_hrefs():
    absolute = (
        "https://utility.example:8443/espi/1_1/resource/Subscription/5/UsagePoint/55/MeterReading/7?x=/UsagePoint/9"
    )
    assert href_ids(absolute) == {"Subscription": "5", "UsagePoint": "55", "MeterReading": "7"}
    assert href_segment_id("/espi/1_1/resource/UsagePoint/5%2F6/MeterReading", "UsagePoint") == "5/6"
    assert href_segment_id("RetailCustomer/1/UsagePoint", "UsagePoint") is None
    assert href_ids("https://host") == {}
