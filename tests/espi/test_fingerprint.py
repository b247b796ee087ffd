"""Fingerprints: one resource in two serialisations is the same; any change of content is another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from custodian.espi.fingerprint import SKIP, element_fingerprint, values_fingerprint, xml_fingerprint
from custodian.espi.parser import parse_small_document

PREFIXED = b"""<espi:UsagePoint xmlns:espi="http://naesb.org/espi" xmlns:x="urn:x">
    <espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory>
    <espi:status b="2" a="1">1</espi:status>
</espi:UsagePoint>"""
DEFAULT_NS = (
    b'<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory>'
    b'<status a="1" b="2"> 1 </status></UsagePoint>'
)


def test_prefixes_whitespace_and_attribute_order_do_not_count():
    assert xml_fingerprint(PREFIXED) == xml_fingerprint(DEFAULT_NS.decode())
    assert element_fingerprint(parse_small_document(PREFIXED)) == xml_fingerprint(PREFIXED)


def test_any_change_of_text_element_attribute_or_namespace_counts():
    base = xml_fingerprint(DEFAULT_NS)
    for changed in (
        DEFAULT_NS.replace(b"<kind>0<", b"<kind>1<"),
        DEFAULT_NS.replace(b'a="1"', b'a="3"'),
        DEFAULT_NS.replace(b"<status", b"<statusX").replace(b"</status>", b"</statusX>"),
        DEFAULT_NS.replace(b"http://naesb.org/espi", b"http://naesb.org/espi/customer"),
    ):
        assert xml_fingerprint(changed) != base, changed


def test_values_compare_by_value_and_instant():
    when = datetime(2015, 8, 4, 16, 2, 3, 160000, tzinfo=UTC)
    same_instant = when.astimezone(timezone(timedelta(hours=-7)))
    assert values_fingerprint(["t", when, 3, None]) == values_fingerprint(["t", same_instant, 3, None])
    assert values_fingerprint(["t", when, 3, None]) != values_fingerprint(["t", when.replace(microsecond=0), 3, None])
    assert values_fingerprint([None]) != values_fingerprint([SKIP]) != values_fingerprint(["None"])
    assert values_fingerprint(["ab", "c"]) != values_fingerprint(["a", "bc"])
