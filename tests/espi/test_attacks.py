"""The attack corpus: each case is a clear error, nothing is read from disk or network, nothing imported."""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import pytest

from custodian.espi.errors import EspiError
from custodian.espi.parser import iter_entries
from custodian.imports import customer_feed_import
from custodian.models import AuditEvent, UsagePoint
from tests.readings import reading_count

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "tests" / "samples" / "test_usage_data.xml").read_bytes()
ATOM = "http://www.w3.org/2005/Atom"
ENTRY = (
    "<entry><id>urn:uuid:11111111-1111-1111-1111-111111111111</id>"
    '<link rel="self" href="/espi/1_1/resource/LocalTimeParameters/1"/><link rel="up" href="/x"/>'
    "<title>{title}</title><content><LocalTimeParameters xmlns='http://naesb.org/espi'>"
    "<dstEndRule>B40E2000</dstEndRule><dstOffset>3600</dstOffset><dstStartRule>360E2000</dstStartRule>"
    "<tzOffset>-18000</tzOffset></LocalTimeParameters></content>"
    "<published>2012-10-24T00:00:00Z</published><updated>2012-10-24T00:00:00Z</updated></entry>"
)


# An IntervalBlock entry shaped to fool the depth shortcut (an exact element count proves a block read by
# the fast path has nothing deeper): one reading holds every start and duration, the others none, so a count
# of 4 elements per reading would leave room for a chain of elements nested deeper than the limit.
_CROWDED_READINGS = 70
BLOCK_ENTRY = (
    "<entry><id>urn:uuid:22222222-2222-2222-2222-222222222222</id>"
    '<link rel="self" href="/espi/1_1/resource/IntervalBlock/1"/><link rel="up" href="/x"/>'
    "<title>{title}</title><content><IntervalBlock xmlns='http://naesb.org/espi'>"
    "<interval><duration>86400</duration><start>0</start></interval>"
    "<IntervalReading><timePeriod>"
    + "<duration>900</duration><start>0</start>" * _CROWDED_READINGS
    + "</timePeriod></IntervalReading>"
    + "<IntervalReading/>" * (_CROWDED_READINGS - 1)
    + "</IntervalBlock></content></entry>"
)


def feed(body: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<feed xmlns="{ATOM}"><id>urn:uuid:1</id>{body}</feed>'.encode()
    )


def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:SECRET-MARKER-0815")
    return path


def cases(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    secret = secret_file(tmp_path)
    deep = "<a>" * 5000 + "</a>" * 5000
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return {
        "xxe_file": (
            feed(ENTRY.format(title="&xxe;"), f'<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>'),
            "forbidden_xml",
        ),
        "xxe_parameter_entity": (
            feed(ENTRY.format(title="x"), f'<!DOCTYPE feed [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'),
            "forbidden_xml",
        ),
        "billion_laughs": (
            feed(ENTRY.format(title="&l9;"), f'<!DOCTYPE feed [<!ENTITY l0 "lol">{laughs}]>'),
            "forbidden_xml",
        ),
        "quadratic_blowup": (
            feed(ENTRY.format(title="&a;" * 50_000), f'<!DOCTYPE feed [<!ENTITY a "{"x" * 50_000}">]>'),
            "forbidden_xml",
        ),
        "undeclared_entity": (feed(ENTRY.format(title="&nope;")), "forbidden_xml"),
        "deep_nesting_5000": (feed(ENTRY.format(title=deep)), "too_deep"),
        "deep_nesting_over_setting": (feed(ENTRY.format(title="<a>" * 100 + "</a>" * 100)), "too_deep"),
        "deep_nesting_beside_a_crowded_block": (
            feed(BLOCK_ENTRY.format(title="<a>" * (_CROWDED_READINGS - 1) + "</a>" * (_CROWDED_READINGS - 1))),
            "too_deep",
        ),
        "text_node_20mb": (feed(ENTRY.format(title="x" * (20 * 1024 * 1024))), "too_large"),
        "text_node_over_setting": (feed(ENTRY.format(title="x" * (200 * 1024))), "too_large"),
        "any_doctype": (feed(ENTRY.format(title="x"), "<!DOCTYPE feed>"), "forbidden_xml"),
        "external_dtd": (
            feed(ENTRY.format(title="x"), '<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/x.dtd">'),
            "forbidden_xml",
        ),
        "xinclude": (
            feed(
                ENTRY.format(
                    title=f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" parse="text"/>'
                )
            ),
            "forbidden_xml",
        ),
        "gzip_body": (gzip.compress(SAMPLE), "encoding"),
        "utf16_with_bom": (
            SAMPLE.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
            "encoding",
        ),
        "latin1_declared": (feed(ENTRY.format(title="x")).replace(b"UTF-8", b"ISO-8859-1"), "encoding"),
        "invalid_utf8": (feed(ENTRY.format(title="caf\xe9")).replace("é".encode(), b"\xe9"), "encoding"),
        "wrong_root": (b'<?xml version="1.0"?><rss><channel/></rss>', "not_atom_feed"),
        "atom_entry_root": (
            ENTRY.format(title="x").replace("<entry>", f'<entry xmlns="{ATOM}">').encode(),
            "not_atom_feed",
        ),
        "truncated": (SAMPLE[: len(SAMPLE) // 2], "malformed"),
        "not_xml": (b"hello, this is not XML" * 40, "malformed"),
        "empty": (b"", "malformed"),
    }


CASE_NAMES = sorted(cases(Path(tempfile.mkdtemp())))


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASE_NAMES)
def test_attack_is_refused_and_nothing_imported(name, tmp_path, customer):
    payload, code = cases(tmp_path)[name]
    with pytest.raises(EspiError) as info:
        customer_feed_import(customer=customer, source=io.BytesIO(payload), lenient=True)
    error = info.value
    assert error.code == code, str(error)
    assert error.message
    assert "SECRET-MARKER" not in str(error)
    assert not UsagePoint.objects.filter(customer=customer).exists()
    assert reading_count() == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DATA_IMPORTED).exists()


def test_errors_carry_line_and_column():
    with pytest.raises(EspiError) as info:
        list(iter_entries(b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n  <entry></feed>'))
    assert info.value.code == "malformed"
    assert info.value.line == 3 and info.value.column > 0


def test_the_byte_cap_stops_reading_early():
    read = []

    class Stream(io.BytesIO):
        def read(self, size=-1):
            chunk = super().read(size)
            read.append(len(chunk))
            return chunk

    with pytest.raises(EspiError) as info:
        list(iter_entries(Stream(SAMPLE), max_bytes=100_000, chunk_size=16_384))
    assert info.value.code == "too_large"
    assert sum(read) <= 100_000 + 16_384


def test_a_utf8_bom_is_fine():
    entries = list(iter_entries(b"\xef\xbb\xbf" + SAMPLE))
    assert len(entries) == 20
