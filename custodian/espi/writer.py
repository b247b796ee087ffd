"""The one streaming ESPI writer: Atom feeds, entries and bare ESPI documents as bytes chunks.

Pure code over plain dataclasses (no ORM): callers turn their rows into :class:`AtomEntry` and
content bytes, the writer never holds more than one chunk. Output is valid against ``espi.xsd``
with the strict Atom variant: every link carries ``type``, ids are ``urn:uuid:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from custodian.espi.content import (
    IntervalBlockContent,
    LocalTimeParametersContent,
    PowerQualitySummaryContent,
    Reading,
    ReadingTypeContent,
    UsagePointContent,
    UsageSummaryContent,
)
from custodian.espi.hrefs import RESOURCE_ROOT
from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import Link

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_CHUNK = 64 * 1024


def escape(text: str) -> str:
    """Escape text for an element or a double-quoted attribute."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def atom_time(value: datetime) -> str:
    """Format an aware datetime as an xs:dateTime in UTC (``2012-10-24T00:00:00Z``, ``...:00.160000Z`` with microseconds).

    Fractional seconds are kept when there are any, so what is exported reads back as it is stored.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime: the writer needs aware UTC datetimes")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def urn(value: UUID) -> str:
    """Return the stable Atom id of a resource uuid."""
    return f"urn:uuid:{str(value).upper()}"


@dataclass(slots=True)
class AtomEntry:
    """One entry to write: its identity, links and already-serialised ESPI content."""

    uuid: UUID
    title: str
    published: datetime
    updated: datetime
    links: Sequence[Link]
    content: bytes | Iterable[bytes]
    extra: Sequence[bytes] = field(default_factory=tuple)


def _link_xml(link: Link) -> str:
    if not link.type:
        raise ValueError(f"link {link.href!r} has no type: the strict Atom profile requires one")
    return f'<link rel="{escape(link.rel)}" type="{escape(link.type)}" href="{escape(link.href)}"/>'


def entry_chunks(entry: AtomEntry, *, standalone: bool = False) -> Iterator[bytes]:
    """Yield one ``<entry>``; ``standalone`` makes it a document of its own (with the Atom namespace)."""
    head = [
        XML_DECLARATION.decode() if standalone else "",
        f'<entry xmlns="{ATOM}">' if standalone else "<entry>",
        f"<id>{urn(entry.uuid)}</id>",
        *(_link_xml(link) for link in entry.links),
        f"<title>{escape(entry.title)}</title>",
        "<content>",
    ]
    yield "".join(head).encode()
    if isinstance(entry.content, bytes | bytearray):
        yield bytes(entry.content)
    else:
        yield from entry.content
    tail = f"</content><published>{atom_time(entry.published)}</published><updated>{atom_time(entry.updated)}</updated>"
    yield tail.encode() + b"".join(entry.extra) + b"</entry>\n"


def feed_chunks(
    *,
    feed_uuid: UUID,
    title: str,
    updated: datetime,
    links: Sequence[Link],
    entries: Iterable[AtomEntry],
    chunk_bytes: int = _CHUNK,
) -> Iterator[bytes]:
    """Yield an Atom feed document in chunks of about ``chunk_bytes`` (a StreamingHttpResponse body)."""
    head = [
        XML_DECLARATION.decode(),
        f'<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">',
        f"<id>{urn(feed_uuid)}</id>",
        f"<title>{escape(title)}</title>",
        f"<updated>{atom_time(updated)}</updated>",
        *(_link_xml(link) for link in links),
        "\n",
    ]
    buffer = ["".join(head).encode()]
    size = len(buffer[0])
    for entry in entries:
        for part in entry_chunks(entry):
            buffer.append(part)
            size += len(part)
            if size >= chunk_bytes:
                yield b"".join(buffer)
                buffer, size = [], 0
    buffer.append(b"</feed>\n")
    yield b"".join(buffer)


def element_document(element: bytes | Iterable[bytes]) -> Iterator[bytes]:
    """Yield a bare XML document of one element (ServiceStatus, BatchList)."""
    yield XML_DECLARATION
    if isinstance(element, bytes | bytearray):
        yield bytes(element)
    else:
        yield from element


# ---- ESPI content -------------------------------------------------------------------------------


def fields_xml(pairs: Iterable[tuple[str, object]]) -> str:
    """Serialise (name, value) pairs as simple elements, in the order given; a None value is left out."""
    return "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in pairs if value is not None)


def element_xml(name: str, children: Iterable[tuple[str, object]] = (), *, namespace: str = ESPI) -> bytes:
    """Serialise a flat ESPI element: ``children`` are (name, value) pairs in schema order, None skipped."""
    inner = fields_xml(children)
    if not inner:
        return f'<{name} xmlns="{namespace}"/>'.encode()
    return f'<{name} xmlns="{namespace}">{inner}</{name}>'.encode()


def interval_xml(name: str, start: int | None, duration: int | None) -> str:
    """Serialise an ESPI DateTimeInterval ``name``: whichever of duration and start is known; nothing if neither."""
    if start is None and duration is None:
        return ""
    # ESPI DateTimeInterval order: duration, then start.
    return f"<{name}>{fields_xml((('duration', duration), ('start', start)))}</{name}>"


def usage_point_xml(content: UsagePointContent) -> bytes:
    """Serialise a UsagePoint from its key fields (used when no stored element exists)."""
    category = f"<ServiceCategory><kind>{content.service_kind}</kind></ServiceCategory>"
    inner = (category if content.service_kind is not None else "") + fields_xml((("status", content.status),))
    return f'<UsagePoint xmlns="{ESPI}">{inner}</UsagePoint>'.encode()


def meter_reading_xml() -> bytes:
    """Serialise a MeterReading (it has no fields of its own)."""
    return element_xml("MeterReading")


def reading_type_xml(content: ReadingTypeContent) -> bytes:
    """Serialise a ReadingType from its key fields, in schema order."""
    return element_xml(
        "ReadingType",
        (
            ("accumulationBehaviour", content.accumulation_behaviour),
            ("commodity", content.commodity),
            ("currency", content.currency),
            ("dataQualifier", content.data_qualifier),
            ("flowDirection", content.flow_direction),
            ("intervalLength", content.interval_length),
            ("kind", content.kind),
            ("phase", content.phase),
            ("powerOfTenMultiplier", content.power_of_ten_multiplier),
            ("timeAttribute", content.time_attribute),
            ("uom", content.uom),
        ),
    )


def local_time_parameters_xml(content: LocalTimeParametersContent) -> bytes:
    """Serialise LocalTimeParameters (all four fields are required)."""
    return element_xml(
        "LocalTimeParameters",
        (
            ("dstEndRule", content.dst_end_rule),
            ("dstOffset", content.dst_offset),
            ("dstStartRule", content.dst_start_rule),
            ("tzOffset", content.tz_offset),
        ),
    )


def usage_summary_xml(content: UsageSummaryContent, *, kind: str = "UsageSummary") -> bytes:
    """Serialise a (ElectricPower)UsageSummary from its key fields."""
    inner = interval_xml("billingPeriod", content.billing_period_start, content.billing_period_duration)
    inner += fields_xml((("statusTimeStamp", content.status_time_stamp or 0),))
    return f'<{kind} xmlns="{ESPI}">{inner}</{kind}>'.encode()


def power_quality_summary_xml(content: PowerQualitySummaryContent) -> bytes:
    """Serialise an ElectricPowerQualitySummary from its key fields."""
    inner = interval_xml("summaryInterval", content.summary_interval_start or 0, content.summary_interval_duration or 0)
    return f'<ElectricPowerQualitySummary xmlns="{ESPI}">{inner}</ElectricPowerQualitySummary>'.encode()


def _reading_xml(reading: Reading) -> str:
    start, duration, value, cost, quality, tou = reading
    parts = ["<IntervalReading>"]
    if cost is not None:
        parts.append(f"<cost>{cost}</cost>")
    if quality is not None:
        parts.append(f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>")
    parts.append(f"<timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>")
    if value is not None:
        parts.append(f"<value>{value}</value>")
    if tou is not None:
        parts.append(f"<tou>{tou}</tou>")
    parts.append("</IntervalReading>")
    return "".join(parts)


def interval_block_chunks(
    *, start: int | None, duration: int | None, readings: Iterable[Reading], per_chunk: int = 500
) -> Iterator[bytes]:
    """Yield an IntervalBlock element in chunks; ``readings`` may be a lazy iterator from the database."""
    yield f'<IntervalBlock xmlns="{ESPI}">{interval_xml("interval", start, duration)}'.encode()
    batch: list[str] = []
    for reading in readings:
        batch.append(_reading_xml(reading))
        if len(batch) >= per_chunk:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</IntervalBlock>").encode()


def interval_block_xml(content: IntervalBlockContent) -> bytes:
    """Serialise a whole IntervalBlock held in memory (small blocks, tests)."""
    return b"".join(interval_block_chunks(start=content.start, duration=content.duration, readings=content.readings))


# ---- hrefs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourcePaths:
    """Build self/up/related links under ``base`` (``/espi/1_1/resource`` or an absolute URL).

    ``scope`` is the path prefix of usage-point-owned resources: ``Subscription/{id}``,
    ``RetailCustomer/{id}``, or ``""`` for bare ``UsagePoint/{id}`` paths.
    """

    base: str = RESOURCE_ROOT
    scope: str = ""

    def _url(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *(p for p in parts if p)])

    def _pair(self, collection: str, kind: str, id_: str) -> list[Link]:
        return [
            Link("self", f"{collection}/{id_}", f"espi-entry/{kind}"),
            Link("up", collection, f"espi-feed/{kind}"),
        ]

    def usage_point_href(self, up_id: str) -> str:
        """Return the href of a usage point entry."""
        return self._url(self.scope, "UsagePoint", up_id)

    def usage_point(
        self,
        up_id: str,
        *,
        local_time_parameters_id: str | None = None,
        summary_kinds: Iterable[str] = (),
        power_quality: bool = False,
    ) -> list[Link]:
        """Links of a UsagePoint entry."""
        own = self.usage_point_href(up_id)
        links = self._pair(self._url(self.scope, "UsagePoint"), "UsagePoint", up_id)
        links.append(Link("related", f"{own}/MeterReading", "espi-feed/MeterReading"))
        for kind in summary_kinds:
            links.append(Link("related", f"{own}/{kind}", f"espi-feed/{kind}"))
        if power_quality:
            links.append(Link("related", f"{own}/ElectricPowerQualitySummary", "espi-feed/ElectricPowerQualitySummary"))
        if local_time_parameters_id:
            links.append(
                Link(
                    "related",
                    self._url("LocalTimeParameters", local_time_parameters_id),
                    "espi-entry/LocalTimeParameters",
                )
            )
        return links

    def meter_reading(self, up_id: str, mr_id: str, *, reading_type_id: str | None = None) -> list[Link]:
        """Links of a MeterReading entry."""
        collection = f"{self.usage_point_href(up_id)}/MeterReading"
        links = self._pair(collection, "MeterReading", mr_id)
        links.append(Link("related", f"{collection}/{mr_id}/IntervalBlock", "espi-feed/IntervalBlock"))
        if reading_type_id:
            links.append(Link("related", self._url("ReadingType", reading_type_id), "espi-entry/ReadingType"))
        return links

    def interval_block(self, up_id: str, mr_id: str, ib_id: str) -> list[Link]:
        """Links of an IntervalBlock entry."""
        return self._pair(f"{self.usage_point_href(up_id)}/MeterReading/{mr_id}/IntervalBlock", "IntervalBlock", ib_id)

    def usage_point_child(self, up_id: str, kind: str, id_: str) -> list[Link]:
        """Links of a resource directly under a usage point (UsageSummary, ElectricPowerQualitySummary...)."""
        return self._pair(f"{self.usage_point_href(up_id)}/{kind}", kind, id_)

    def root_resource(self, kind: str, id_: str) -> list[Link]:
        """Links of a shared, root-level resource (ReadingType, LocalTimeParameters, ApplicationInformation...)."""
        return self._pair(self._url(kind), kind, id_)

    def feed_self(self, *path: str, kind: str = "UsagePoint") -> Link:
        """The self link of a feed at ``base/path...`` (e.g. ``Batch/Subscription/{id}``)."""
        return Link("self", self._url(*path), f"espi-feed/{kind}")
