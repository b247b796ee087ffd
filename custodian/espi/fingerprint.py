"""Fingerprints that tell whether an uploaded resource is the one already stored (pure code, no ORM).

Two serialisations of one ESPI element (another namespace prefix, indentation, attribute order,
an exporter's re-serialisation of what was uploaded) have the same fingerprint; any difference of
namespace, element, attribute or text gives another. The import compares the fingerprint of each
entry with that of the stored resource it would update, and reports an identical one ``unchanged``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lxml import etree

_SKIP = b"\x00skip"


def _walk(element: Any, out: Any) -> None:
    out.update(b"<" + element.tag.encode())
    for name in sorted(element.attrib):
        out.update(b"@" + name.encode() + b"=" + element.attrib[name].encode())
    text = (element.text or "").strip()
    if text:
        out.update(b"#" + text.encode())
    for child in element.iterchildren("{*}*"):
        _walk(child, out)
        tail = (child.tail or "").strip()
        if tail:
            out.update(b"#" + tail.encode())
    out.update(b">")


def element_fingerprint(element: Any) -> bytes:
    """Return the fingerprint of an element and everything in it (namespaces by URI, whitespace around text ignored)."""
    out = hashlib.blake2b(digest_size=16)
    _walk(element, out)
    return out.digest()


def xml_fingerprint(xml: str | bytes) -> bytes:
    """Return the fingerprint of stored XML text (read with the hardened parser); of nothing for empty text."""
    if not xml:
        return element_fingerprint(etree.Element("empty"))
    from custodian.espi.parser import parse_small_document  # the parser imports this module

    data = xml.encode() if isinstance(xml, str) else xml
    return element_fingerprint(parse_small_document(data))


def values_fingerprint(values: Iterable[Any]) -> bytes:
    """Return the fingerprint of a sequence of plain values (None, int, str, bytes, aware datetimes).

    A value of :data:`SKIP` stands for "not compared" on both sides (a file that gives no ``published``).
    """
    out = hashlib.blake2b(digest_size=16)
    for value in values:
        if value is SKIP:
            out.update(_SKIP)
        elif isinstance(value, datetime):
            out.update(b"t" + value.astimezone(UTC).isoformat().encode())
        elif isinstance(value, bytes):
            out.update(b"b" + len(value).to_bytes(8, "big") + value)
        else:
            text = repr(value).encode()
            out.update(b"v" + len(text).to_bytes(8, "big") + text)
    return out.digest()


class _Skip:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP"


SKIP = _Skip()
