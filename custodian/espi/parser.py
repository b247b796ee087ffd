"""The one hardened, streaming ESPI Atom reader.

Every XML byte that enters the portal goes through :func:`make_pull_parser` (the only parser
factory) and :func:`iter_entries`. Safety, in layers:

* libxml2 options (``SAFE_PARSER_OPTIONS``): no DTD loading, no entity expansion, no network,
  ``huge_tree=False`` (libxml2's own 256-level depth and 10 MB text-node limits stay on);
* any DOCTYPE is refused before the first element is handed out, so no entity can ever be defined;
* the XInclude namespace is refused wherever it appears (a byte scan, so it costs nothing);
* our own limits: total bytes (``max_bytes``), element depth (``ESPI_MAX_DEPTH``) and text node
  size (``ESPI_MAX_TEXT_BYTES``, counted in characters, which never exceed bytes);
* gzip bodies and anything but UTF-8 are refused up front.

Entries are handed out one at a time and cleared afterwards, so memory does not grow with the feed.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID

from lxml import etree

from custodian.espi import normalize
from custodian.espi.content import BlockReadings, parse_content
from custodian.espi.errors import (
    BadEncoding,
    EspiError,
    ForbiddenXml,
    MalformedXml,
    NotAtomFeed,
    TooDeep,
    TooLarge,
)
from custodian.espi.fingerprint import element_fingerprint
from custodian.espi.namespaces import ATOM, CUSTOMER, ESPI

if TYPE_CHECKING:
    from custodian.espi.validate import EntryValidator

# The parser's safety options. tests/espi/test_parser_hardening.py fails if any of these changes.
SAFE_PARSER_OPTIONS: MappingProxyType[str, Any] = MappingProxyType(
    {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "huge_tree": False,
        "recover": False,
        "attribute_defaults": False,
        "remove_comments": True,
        "remove_pis": True,
        "collect_ids": False,
        # CDATA merged into the text around it (lxml's default, pinned): an element holds one text node, which
        # the readers of IntervalBlock columns and the depth shortcut in iter_entries count on.
        "strip_cdata": True,
        # Not a safety option: whitespace between elements (a pretty-printed feed's indentation) is
        # dropped while parsing, so trees are smaller and everything after parses faster.
        "remove_blank_text": True,
    }
)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_TEXT_BYTES = 64 * 1024
# Each chunk is parsed into a tree before its entries are handed out and cleared: 64 KiB keeps that
# tree under ~1 MB (256 KiB cost ~13 MB more peak RSS for the same speed).
CHUNK_SIZE = 64 * 1024

_FEED = f"{{{ATOM}}}feed"
_ENTRY = f"{{{ATOM}}}entry"
_ID = f"{{{ATOM}}}id"
_TITLE = f"{{{ATOM}}}title"
_PUBLISHED = f"{{{ATOM}}}published"
_UPDATED = f"{{{ATOM}}}updated"
_LINK = f"{{{ATOM}}}link"
_CONTENT = f"{{{ATOM}}}content"
_XINCLUDE = b"http://www.w3.org/2001/XInclude"
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def make_pull_parser(*, events: Iterable[str] = ("end",), tag: str | Iterable[str] | None = None) -> Any:
    """Return a new XMLPullParser with the safe options: the only way the project parses XML."""
    return etree.XMLPullParser(events=tuple(events), tag=tag, **SAFE_PARSER_OPTIONS)


def parse_small_document(data: bytes, *, max_bytes: int = 4 * 1024 * 1024) -> Any:
    """Parse a small, whole document (a schema, a single entry, a test fixture) safely; return its root."""
    etree.clear_error_log()
    parser = make_pull_parser(events=("start",))
    root = None
    guard = _ByteGuard(max_bytes=max_bytes, max_text=_setting("ESPI_MAX_TEXT_BYTES", DEFAULT_MAX_TEXT_BYTES))
    for chunk in _checked_chunks(_source_chunks(data, CHUNK_SIZE), guard):
        _feed(parser, chunk)
        for _event, elem in parser.read_events():
            if root is None:
                root = elem
                _refuse_doctype(elem)
    try:
        return parser.close()
    except etree.XMLSyntaxError as exc:
        raise _translate(exc, parser) from None


@dataclass(frozen=True, slots=True)
class Link:
    rel: str
    href: str
    type: str | None = None


# select(kind, atom_id, links) -> whether to parse and validate the entry's content (see iter_entries).
EntrySelector = Callable[[str, str, tuple[Link, ...]], bool]


@dataclass(slots=True)
class Entry:
    """One Atom entry of a feed, with its ESPI content parsed."""

    index: int
    line: int
    atom_id: str
    uuid: UUID | None
    title: str
    published: datetime | None
    updated: datetime | None
    links: tuple[Link, ...]
    kind: str | None
    namespace: str | None
    content: Any = None
    content_xml: bytes | None = None
    problems: list[str] = field(default_factory=list)
    schema_errors: list[str] | None = None
    skipped: bool = False
    # The content element's fingerprint (custodian.espi.fingerprint), for all kinds but IntervalBlock.
    fingerprint: bytes | None = None

    @property
    def self_href(self) -> str | None:
        return next((link.href for link in self.links if link.rel == "self"), None)

    @property
    def up_href(self) -> str | None:
        return next((link.href for link in self.links if link.rel == "up"), None)

    @property
    def related_hrefs(self) -> tuple[str, ...]:
        return tuple(link.href for link in self.links if link.rel == "related")

    @property
    def is_espi(self) -> bool:
        return self.namespace == ESPI


def _setting(name: str, default: int) -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, name, default))
    except Exception:  # noqa: BLE001 - outside Django (bench, scripts) the defaults apply
        return default


def _source_chunks(source: Any, chunk_size: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield from _source_chunks(handle, chunk_size)
        return
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError("source must be bytes, a path or a binary stream with read()")
    while True:
        chunk = read(chunk_size)
        if not chunk:
            return
        if isinstance(chunk, str):
            raise TypeError("source stream must be binary")
        yield chunk


def _sniff(head: bytes) -> None:
    """Refuse gzip, UTF-16/32 and non-UTF-8 declarations before parsing anything."""
    if b"<!DOCTYPE" in head:
        # Refused before anything else reads the document (the tree check below also catches later ones).
        raise ForbiddenXml("a DOCTYPE is not allowed", line=1, column=1)
    if head[:2] == b"\x1f\x8b":
        raise BadEncoding("the body is gzip-compressed: send uncompressed UTF-8 XML", line=1, column=1)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise BadEncoding("the body is UTF-16 or UTF-32 (byte order mark): UTF-8 is required", line=1, column=1)
    if b"\x00" in head[:4]:
        raise BadEncoding("the body is not UTF-8 (NUL bytes): UTF-8 is required", line=1, column=1)
    body = head[3:] if head[:3] == b"\xef\xbb\xbf" else head
    match = _XML_DECL_ENCODING.match(body)
    if match and match.group(1).lower() not in (b"utf-8", b"utf8"):
        name = match.group(1).decode("ascii")
        raise BadEncoding(f"the XML declaration says encoding={name!r}: UTF-8 is required", line=1, column=1)


class _ByteGuard:
    """Byte-level checks over the raw stream: size cap, XInclude, and the longest run without ``<``.

    Every text node, attribute value and tag lies between two ``<``, so no run longer than
    ``max_text`` bytes means no text node longer than that (CDATA, which may hold ``<``, is flagged
    so that the reader falls back to checking text nodes in the tree). Costs a few memchr per chunk.
    """

    def __init__(self, *, max_bytes: int, max_text: int) -> None:
        self.max_bytes = max_bytes
        self.max_text = max_text
        self.window = max(1, max_text // 2)
        self.offset = 0
        self.run_start = 0
        self.tail = b""
        self.cdata = False

    def _too_long(self) -> TooLarge:
        return TooLarge(f"a text node, attribute or tag is longer than {self.max_text} bytes")

    def check(self, chunk: bytes) -> None:
        base, size = self.offset, len(chunk)
        if base + size > self.max_bytes:
            raise TooLarge(f"the body is larger than the limit of {self.max_bytes} bytes")
        edge = self.tail + chunk
        if _XINCLUDE in edge:
            raise ForbiddenXml("XInclude is not allowed")
        if b"<![CDATA[" in edge:
            self.cdata = True
        self.tail = chunk[-(len(_XINCLUDE) - 1) :]
        first = chunk.find(b"<")
        if first == -1:
            if base + size - self.run_start > self.max_text:
                raise self._too_long()
        else:
            if base + first - self.run_start > self.max_text:
                raise self._too_long()
            # A run longer than 2*window contains a whole aligned window without "<".
            for k in range(0, size, self.window):
                if chunk.find(b"<", k, k + self.window) == -1:
                    left = chunk.rfind(b"<", 0, k)
                    right = chunk.find(b"<", k + self.window)
                    gap_start = base + left + 1 if left != -1 else self.run_start
                    gap_end = base + right if right != -1 else base + size
                    if gap_end - gap_start > self.max_text:
                        raise self._too_long()
            self.run_start = base + chunk.rfind(b"<") + 1
        self.offset += size


def _checked_chunks(chunks: Iterator[bytes], guard: _ByteGuard) -> Iterator[bytes]:
    """Sniff the head for gzip and encodings, then pass every chunk through the byte guard."""
    head = b""
    sniffed = False
    for chunk in chunks:
        if not sniffed:
            head += chunk
            if len(head) < 512:
                if len(head) > guard.max_bytes:
                    guard.check(head)
                continue
            _sniff(head)
            sniffed = True
            chunk, head = head, b""
        guard.check(chunk)
        yield chunk
    if not sniffed:
        if not head.strip():
            raise MalformedXml("the body is empty", line=1, column=1)
        _sniff(head)
        guard.check(head)
        yield head


def _translate(exc: etree.XMLSyntaxError, parser: Any = None, *, prolog_has_doctype: bool = False) -> EspiError:
    """Map a libxml2 error to our codes, keeping its position (the first fatal error is the cause)."""
    message = str(exc.msg if getattr(exc, "msg", None) else exc)
    line, column = (exc.position if getattr(exc, "position", None) else (0, 0)) or (0, 0)
    # libxml2 reports some errors only at close() ("no element found"); the real cause is in the
    # exception's log, which the reader clears when it starts so no other parse's errors are in it.
    log = list(parser.error_log) if parser is not None else []
    fatal = [e for e in (log or getattr(exc, "error_log", None) or ()) if e.level_name == "FATAL"]
    if fatal:
        message, line, column = fatal[0].message, fatal[0].line, fatal[0].column
    if prolog_has_doctype:
        return ForbiddenXml(f"a DOCTYPE is not allowed ({message})", line=line, column=column)
    low = message.lower()
    if "depth" in low:
        return TooDeep(message, line=line, column=column)
    if "too long" in low or "huge" in low or "too large" in low:
        return TooLarge(message, line=line, column=column)
    if "entity" in low or "amplification" in low or "doctype" in low:
        return ForbiddenXml(message, line=line, column=column)
    if "utf-8" in low or "encoding" in low or "char 0x" in low:
        return BadEncoding(f"{message} (UTF-8 is required)", line=line, column=column)
    return MalformedXml(message, line=line, column=column)


def _feed(parser: Any, chunk: bytes, *, prolog_has_doctype: bool = False) -> None:
    try:
        parser.feed(chunk)
    except etree.XMLSyntaxError as exc:
        raise _translate(exc, parser, prolog_has_doctype=prolog_has_doctype) from None


def _refuse_doctype(root: Any) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ForbiddenXml("a DOCTYPE is not allowed", line=1, column=1)


@lru_cache(maxsize=8)
def _depth_probe(steps: int) -> Any:
    # One C-level query per entry: is any element more than `steps` levels below the entry?
    return etree.XPath("boolean(" + "/".join(["*"] * steps) + ")")


_COUNT_ELEMENTS = etree.XPath("count(.//*)")


@lru_cache(maxsize=8)
def _text_probe(limit: int) -> Any:
    return etree.XPath(f".//text()[string-length() > {int(limit)}] | .//@*[string-length() > {int(limit)}]")


def _parse_time(text: str | None, name: str, problems: list[str], *, lenient: bool) -> datetime | None:
    if text is None:
        return None
    text = text.strip()
    if lenient:
        value, warning = normalize.normalize_timestamp(text)
        if value is None:
            problems.append(f"atom:{name} {text!r} is not a date-time")
        elif warning:
            problems.append(warning.replace("lenient: ", f"lenient: atom:{name} ", 1))
        return value
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"atom:{name} {text!r} is not a date-time")
        return None
    if len(text) == 10 and not lenient:
        problems.append(f"atom:{name} {text!r} is a date, not an xs:dateTime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_uuid(atom_id: str, problems: list[str]) -> UUID | None:
    value = atom_id.strip()
    if value.lower().startswith("urn:uuid:"):
        try:
            return UUID(value[9:])
        except ValueError:
            pass
    problems.append(f"atom:id {value[:80]!r} is not a urn:uuid")
    return None


def _lenient_uuid(atom_id: str, links: tuple[Link, ...], problems: list[str]) -> UUID | None:
    self_href = next((link.href for link in links if link.rel == "self"), None)
    uuid, warning = normalize.normalize_atom_id(atom_id, self_href=self_href)
    if warning:
        problems.append(warning)
    if uuid is None:
        problems.append("the entry has neither an atom:id nor a self href")
    return uuid


def _own_host() -> str | None:
    try:
        from django.conf import settings

        base = getattr(settings, "PORTAL_BASE_URL", None)
    except Exception:  # noqa: BLE001 - outside Django the host is unknown
        return None
    return urlsplit(base).hostname if base else None


def _derived_entry(parent: Entry, element: Any, *, uuid: Any, kind: str, links: tuple[Link, ...], origin: str) -> Entry:
    """Lenient: an entry of its own for a resource found in ``parent``'s content, reported as ``origin``."""
    return Entry(
        index=-1,
        line=element.sourceline or parent.line,
        atom_id=f"urn:uuid:{uuid}",
        uuid=uuid,
        title=parent.title,
        published=parent.published,
        updated=parent.updated,
        links=links,
        kind=kind,
        namespace=ESPI,
        problems=[
            f"lenient: {origin} {parent.atom_id or '(no id)'} (line {parent.line}) read as its own entry urn:uuid:{uuid}"
        ],
    )


def _nested_entries(parent: Entry, children: list[Any], *, validator: EntryValidator | None) -> list[Entry]:
    """Lenient: make entries of their own of resources found nested in ``parent``'s content (linked from it)."""
    out: list[Entry] = []
    if parent.uuid is None:
        return out
    for child in children:
        kind = etree.QName(child).localname
        uuid = normalize.nested_id(parent.uuid, kind)
        href = f"{kind}/{uuid}"
        parent.links = (*parent.links, Link(rel="related", href=href))
        entry = _derived_entry(
            parent,
            child,
            uuid=uuid,
            kind=kind,
            links=(Link(rel="self", href=href),),
            origin=f"{kind} nested in the content of {parent.kind}",
        )
        try:
            entry.content = parse_content(kind, child)
        except ValueError as exc:
            entry.problems.append(f"{kind}: {exc}")
        entry.content_xml = etree.tostring(child, with_tail=False)
        entry.fingerprint = element_fingerprint(child)
        if validator is not None:
            entry.schema_errors = validator.validate(child, child, lenient=True)
        out.append(entry)
    return out


def _split_blocks(
    parent: Entry,
    blocks: list[Any],
    *,
    validator: EntryValidator | None,
    keep_block_xml: bool,
    block_readings: BlockReadings,
) -> list[Entry]:
    """Lenient: make entries of their own of the IntervalBlocks after the first in ``parent``'s content.

    Each gets a repeatable id (``normalize.split_block_id``) and the parent's links, its self href naming
    that id, so it goes under the same meter reading.
    """
    out: list[Entry] = []
    if parent.uuid is None:
        return out
    total = len(blocks) + 1
    for position, block in enumerate(blocks, start=2):
        uuid = normalize.split_block_id(parent.uuid, position)
        self_href = normalize.split_block_self_href(parent.self_href, uuid)
        links = tuple(link for link in parent.links if link.rel != "self")
        entry = _derived_entry(
            parent,
            block,
            uuid=uuid,
            kind="IntervalBlock",
            links=(Link(rel="self", href=self_href), *links),
            origin=f"IntervalBlock {position} of {total} in the content of entry",
        )
        block = _fixed_block(block, entry.problems)
        try:
            entry.content = parse_content("IntervalBlock", block, block_readings=block_readings)
        except ValueError as exc:
            entry.problems.append(f"IntervalBlock: {exc}")
        if keep_block_xml:
            entry.content_xml = etree.tostring(block, with_tail=False)
        if validator is not None:
            entry.schema_errors = validator.validate(block, block, lenient=True)
        out.append(entry)
    return out


def _fixed_block(block: Any, problems: list[str]) -> Any:
    """Lenient: return the block with ``normalize.fix_interval_block``'s fixes (a copy: the feed's tree stays whole)."""
    if not normalize.interval_block_needs_fixes(block):
        return block
    block = copy.deepcopy(block)
    problems.extend(normalize.fix_interval_block(block))
    return block


def _normalize_lenient(element: Any, problems: list[str]) -> None:
    """Fix known old-file deviations in place (lenient mode only)."""
    for old in element.iter(f"{{{ESPI}}}ServiceDeliveryPoint"):
        old.tag = f"{{{ESPI}}}serviceDeliveryPoint"
        problems.append("lenient: renamed 2013 ServiceDeliveryPoint to serviceDeliveryPoint")
    problems.extend(normalize.drop_pre_40_usage_point_elements(element))


def _read_entry(
    elem: Any,
    index: int,
    *,
    lenient: bool,
    validator: EntryValidator | None,
    keep_block_xml: bool,
    select: EntrySelector | None = None,
    block_readings: BlockReadings = True,
    repeated: normalize.RepeatedIds | None = None,
    nested_out: list[Entry] | None = None,
) -> Entry:
    problems: list[str] = []
    atom_id = (elem.findtext(_ID) or "").strip()
    links = tuple(
        Link(rel=(link.get("rel") or "alternate").strip(), href=(link.get("href") or "").strip(), type=link.get("type"))
        for link in elem.iterfind(_LINK)
    )
    if lenient:
        uuid = _lenient_uuid(atom_id, links, problems)
        warning = normalize.href_warning([link.href for link in links], own_host=_own_host())
        if warning:
            problems.append(warning)
    else:
        uuid = _parse_uuid(atom_id, problems) if atom_id else None
        if not atom_id:
            problems.append("the entry has no atom:id")
    kind = namespace = None
    content = content_xml = fingerprint = None
    content_elem = elem.find(_CONTENT)
    element = None
    blocks: list[Any] = []  # the IntervalBlocks after the first in the content
    if content_elem is not None:
        element = next(content_elem.iterchildren("{*}*"), None)
    if element is None:
        problems.append("the entry has no content element")
    else:
        qname = etree.QName(element)
        kind, namespace = qname.localname, qname.namespace
    if repeated is not None and uuid is not None:
        self_href = next((link.href for link in links if link.rel == "self"), None)
        uuid, warning = repeated.check(uuid, kind=kind, self_href=self_href)
        if warning:
            problems.append(warning)
    if element is not None:
        if select is not None and not select(kind or "", atom_id, links):
            # The caller will not use this entry (e.g. the batch filter rejects it from its hrefs):
            # skip content parsing and schema validation, the expensive part of a big entry.
            return Entry(
                index=index,
                line=elem.sourceline or 0,
                atom_id=atom_id,
                uuid=uuid,
                title="",
                published=None,
                updated=None,
                links=links,
                kind=kind,
                namespace=namespace,
                problems=problems,
                skipped=True,
            )
        if lenient and namespace == ESPI and kind == "UsagePoint":
            _normalize_lenient(element, problems)
        if lenient and namespace == ESPI and kind == "ReadingType":
            warning = normalize.reorder_reading_type(element)
            if warning:
                problems.append(warning)
        if lenient and namespace == ESPI and kind == "IntervalBlock":
            element = _fixed_block(element, problems)
        if lenient and namespace == CUSTOMER:
            warning = normalize.customer_status_text(element)
            if warning:
                problems.append(warning)
        # More than one IntervalBlock in the content (ESPI allows a list): strict mode refuses the entry
        # (it stores a block per id, and would otherwise keep only the first); lenient mode splits them.
        blocks = normalize.extra_interval_blocks(element, list(content_elem.iterchildren("{*}*")))
        if blocks and not lenient:
            problems.append(
                f"the content holds {len(blocks) + 1} IntervalBlocks: one is read per entry "
                "(lenient mode reads each as an entry of its own)"
            )
        elif blocks:
            problems.append(
                f"lenient: the content holds {len(blocks) + 1} IntervalBlocks: the first keeps the entry's id, "
                f"the other {len(blocks)} are read as entries of their own"
            )
        nested = normalize.nested_resources(kind, element) if lenient and namespace == ESPI else []
        if nested:
            # Copied out: the feed's own tree stays whole for the depth and size checks after this.
            element = copy.deepcopy(element)
            nested = normalize.nested_resources(kind, element)
            for child in nested:
                element.remove(child)
        if namespace == ESPI:
            try:
                content = parse_content(kind or "", element, block_readings=block_readings)
            except ValueError as exc:
                problems.append(f"{kind}: {exc}")
        if kind != "IntervalBlock" or keep_block_xml:
            content_xml = etree.tostring(element, with_tail=False)
        if kind != "IntervalBlock":
            fingerprint = element_fingerprint(element)
    entry = Entry(
        index=index,
        line=elem.sourceline or 0,
        atom_id=atom_id,
        uuid=uuid,
        title=(elem.findtext(_TITLE) or "").strip(),
        published=_parse_time(elem.findtext(_PUBLISHED), "published", problems, lenient=lenient),
        updated=_parse_time(elem.findtext(_UPDATED), "updated", problems, lenient=lenient),
        links=links,
        kind=kind,
        namespace=namespace,
        content=content,
        content_xml=content_xml,
        problems=problems,
        fingerprint=fingerprint,
    )
    if validator is not None:
        entry.schema_errors = validator.validate(elem, element, lenient=lenient)
    if element is not None and nested:
        found = _nested_entries(entry, nested, validator=validator)
        if nested_out is not None:
            nested_out.extend(found)
    if lenient and element is not None and blocks and nested_out is not None:
        nested_out.extend(
            _split_blocks(
                entry, blocks, validator=validator, keep_block_xml=keep_block_xml, block_readings=block_readings
            )
        )
    return entry


def iter_entries(
    source: bytes | str | os.PathLike[str] | IO[bytes] | Any,
    *,
    max_bytes: int | None = None,
    max_depth: int | None = None,
    max_text_bytes: int | None = None,
    lenient: bool = False,
    validator: EntryValidator | None = None,
    keep_block_xml: bool = False,
    chunk_size: int = CHUNK_SIZE,
    select: EntrySelector | None = None,
    block_readings: BlockReadings = True,
) -> Iterator[Entry]:
    """Yield the entries of an Atom feed one at a time, refusing anything unsafe with an EspiError.

    ``source`` is bytes, a path, or a binary stream read in chunks (a Django request works).
    Entries already yielded stay valid if a later part of the feed is refused: callers that must
    apply all or nothing (imports, the batch filter) consume the whole iterator before writing.
    ``validator`` (see ``custodian.espi.validate``) fills ``Entry.schema_errors``. IntervalBlock
    content is not serialised unless ``keep_block_xml`` (it is the bulk of a feed).
    ``select(kind, atom_id, links)`` returning False yields the entry with ``skipped=True`` and
    no content, title, times or schema errors (its content is neither parsed nor validated).
    ``block_readings=False`` gives IntervalBlock content as a ``content.IntervalBlockSummary`` (reading
    count and duplicate starts, no reading tuples): for callers that validate with ``validator``;
    ``block_readings="text"`` as a ``content.IntervalBlockText`` (the readings' text, for the import to
    pack) when the block allows it, else as with True.
    ``lenient`` applies the normalizations of ``custodian.espi.normalize`` (each one a ``lenient:``
    problem on its entry); a resource nested in another's content is yielded after the feed's entries.
    """
    max_bytes = max_bytes or DEFAULT_MAX_BYTES
    max_depth = max_depth or _setting("ESPI_MAX_DEPTH", DEFAULT_MAX_DEPTH)
    max_text = max_text_bytes or _setting("ESPI_MAX_TEXT_BYTES", DEFAULT_MAX_TEXT_BYTES)
    depth_probe = _depth_probe(max(1, max_depth - 1))
    text_probe = _text_probe(max_text)
    etree.clear_error_log()
    sniffer = make_pull_parser(events=("start",))
    parser = make_pull_parser(events=("end",), tag=_ENTRY)
    root = None
    prolog_doctype = False
    index = 0
    guard = _ByteGuard(max_bytes=max_bytes, max_text=max_text)
    count_probe = _COUNT_ELEMENTS
    # Lenient mode: ids that repeat an earlier entry's, and resources nested in another's content.
    repeated = normalize.RepeatedIds() if lenient else None
    nested: list[Entry] = []
    for chunk in _checked_chunks(_source_chunks(source, chunk_size), guard):
        if root is None:
            # A throwaway parser finds the root (and any DOCTYPE) before the real one hands anything out.
            # A DOCTYPE the parser chokes on (a parameter entity) is still reported as forbidden.
            prolog_doctype = prolog_doctype or b"<!DOCTYPE" in chunk
            _feed(sniffer, chunk, prolog_has_doctype=prolog_doctype)
            for _event, elem in sniffer.read_events():
                root = elem
                _refuse_doctype(elem)
                if elem.tag != _FEED:
                    raise NotAtomFeed(
                        f"the root element is {etree.QName(elem).localname!r} in namespace "
                        f"{etree.QName(elem).namespace or 'none'!r}: an Atom feed is required",
                        line=elem.sourceline or 1,
                        column=1,
                    )
                break
            if root is not None:
                sniffer = None
        _feed(parser, chunk)
        for _event, elem in parser.read_events():
            parent = elem.getparent()
            if parent is None or parent.tag != _FEED or parent.getparent() is not None:
                continue  # an entry nested in content: it belongs to its outer entry
            entry = _read_entry(
                elem,
                index,
                lenient=lenient,
                validator=validator,
                keep_block_xml=keep_block_xml,
                select=select,
                block_readings=block_readings,
                repeated=repeated,
                nested_out=nested,
            )
            # Depth: a block read entirely by the fast path has a known shape, so an exact element count
            # proves there is nothing deeper; anything else gets the full probe. Exact because each term of
            # ``content._elements`` is a lower bound of the elements really there (each column takes one
            # text per reading: ``[1]`` predicates, CDATA merged into text by the parser), so equality
            # leaves no element unaccounted for (tests/espi/test_attacks.py, a crowded block).
            block = entry.content if entry.kind == "IntervalBlock" else None
            known = getattr(block, "elements", None)
            if (known is None or count_probe(elem) != len(elem) + 1 + known) and depth_probe(elem):
                raise TooDeep(f"nesting deeper than {max_depth} levels", line=elem.sourceline or 0)
            if guard.cdata and text_probe(elem):
                raise TooLarge(f"a text node longer than {max_text} characters", line=elem.sourceline or 0)
            yield entry
            index += 1
            elem.clear(keep_tail=False)
            while elem.getprevious() is not None:
                del parent[0]
    if root is None:
        try:
            (sniffer or parser).close()
        except etree.XMLSyntaxError as exc:
            raise _translate(exc, sniffer or parser, prolog_has_doctype=prolog_doctype) from None
        raise MalformedXml("no root element", line=1, column=1)
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise _translate(exc, parser) from None
    # Resources found nested in other entries come after the feed's own entries (whose indexes stay
    # their positions in the feed).
    for entry in nested:
        entry.index = index
        index += 1
        if select is not None and not select(entry.kind or "", entry.atom_id, entry.links):
            entry.content = entry.content_xml = None
            entry.schema_errors = None
            entry.skipped = True
        yield entry
