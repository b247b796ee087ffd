"""Lenient-mode normalizations of what real Green Button files do (pure functions, no ORM).

Each function returns what it read and a warning (``None`` when nothing needed fixing); the reader
records the warnings on the entry (``lenient: ...``) and the import reports them. Nothing here
loosens security: the reader's limits and refusals stay, and an href is only ever a file-local
reference (which usage point an entry may go under is decided from grants, never from a host).

Repeatable ids: an id made up here is a UUID v5 derived from what the file says (its self href, its
original id and position among entries sharing that id), so importing the same file again gives
the same ids and updates, instead of creating, what the first import stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from lxml import etree

from custodian.espi.namespaces import CUSTOMER, ESPI

# The namespace of every UUID v5 this module makes (itself a v5 of the URL namespace).
LENIENT_NAMESPACE = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "urn:x-green-button-portal:lenient-id")

_URN = "urn:uuid:"
_BARE_UUID = re.compile(r"^\{?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\}?$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def id_from_self_href(self_href: str) -> UUID:
    """Return the repeatable id of an entry that has no atom:id, from its self href."""
    return uuid5(LENIENT_NAMESPACE, "self:" + self_href.strip())


def normalize_atom_id(atom_id: str, *, self_href: str | None) -> tuple[UUID | None, str | None]:
    """Read an atom:id the lenient way: bare or braced UUIDs, other ids and missing ids get a repeatable UUID.

    Returns ``(uuid, warning)``; ``(None, None)`` when there is neither an id nor a self href to derive one from.
    A well-formed ``urn:uuid:`` id (any case) is returned with no warning.
    """
    value = atom_id.strip()
    if value.lower().startswith(_URN):
        try:
            return UUID(value[len(_URN) :]), None
        except ValueError:
            pass
    if _BARE_UUID.match(value):
        uuid = UUID(value.strip("{}"))
        return uuid, f"lenient: atom:id {_short(value)!r} is a bare UUID, read as urn:uuid:{uuid}"
    if value:
        uuid = uuid5(LENIENT_NAMESPACE, "id:" + value)
        return uuid, f"lenient: atom:id {_short(value)!r} is not a urn:uuid, given the repeatable id urn:uuid:{uuid}"
    if self_href and self_href.strip():
        uuid = id_from_self_href(self_href)
        return uuid, f"lenient: the entry has no atom:id, given urn:uuid:{uuid} from its self href"
    return None, None


def reissue_repeated_id(uuid: UUID, *, kind: str | None, self_href: str | None, occurrence: int) -> tuple[UUID, str]:
    """Return a repeatable id for an entry whose id an earlier, different entry of the feed already has.

    ``occurrence`` counts the earlier entries with the same id (1 for the second one). Returns ``(uuid, warning)``.
    """
    new = uuid5(LENIENT_NAMESPACE, f"repeat:{uuid}:{kind or ''}:{(self_href or '').strip()}:{occurrence}")
    return new, (
        f"lenient: atom:id urn:uuid:{uuid} is also the id of an earlier entry with other content, "
        f"this {kind or 'entry'} was given the repeatable id urn:uuid:{new}"
    )


class RepeatedIds:
    """Tell, entry by entry in feed order, whether an id repeats an earlier entry's (lenient mode).

    Two entries with the same id, kind and self href are the same resource twice (left as they are: the
    import rejects the second as ``duplicate``); with another kind or self href they are different
    resources that a file gave one id, and the later ones get a repeatable id of their own.
    """

    def __init__(self) -> None:
        self._seen: dict[UUID, set[tuple[str | None, str | None]]] = {}

    def check(self, uuid: UUID, *, kind: str | None, self_href: str | None) -> tuple[UUID, str | None]:
        """Return the id the entry keeps (or gets) and a warning if it was given a new one."""
        key = (kind, (self_href or "").strip() or None)
        earlier = self._seen.get(uuid)
        if earlier is None:
            self._seen[uuid] = {key}
            return uuid, None
        if key in earlier:
            return uuid, None
        earlier.add(key)
        return reissue_repeated_id(uuid, kind=kind, self_href=self_href, occurrence=len(earlier) - 1)


def nested_id(parent: UUID, kind: str) -> UUID:
    """Return the repeatable id of a resource of ``kind`` found nested in the content of entry ``parent``."""
    return uuid5(LENIENT_NAMESPACE, f"nested:{parent}:{kind}")


def extra_interval_blocks(element: Any, siblings: list[Any]) -> list[Any]:
    """Return the IntervalBlocks that follow ``element`` in its entry's content (``siblings``: the content's children).

    ESPI lets one IntervalBlock entry hold several blocks (OpenESPI's content type is a list of them;
    early GBA samples write a day per block, all in one entry); the portal stores a block per id.
    """
    if etree.QName(element).localname != "IntervalBlock" or etree.QName(element).namespace != ESPI:
        return []
    return [child for child in siblings[1:] if child.tag == element.tag]


def split_block_id(parent: UUID, position: int) -> UUID:
    """Return the repeatable id of the block at ``position`` (2 for the second) of entry ``parent``'s content."""
    return uuid5(LENIENT_NAMESPACE, f"block:{parent}:{position}")


def split_block_self_href(self_href: str | None, uuid: UUID) -> str:
    """Return the self href of a block split out of an entry: the entry's, naming the block's own id.

    A final ``IntervalBlock/{id}`` has its id replaced, a final ``IntervalBlock`` (the collection) gets the
    id added, any other href gets ``IntervalBlock/{uuid}`` added (whole segments: never a substring).
    """
    base = (self_href or "").strip().rstrip("/")
    if not base:
        return f"IntervalBlock/{uuid}"
    parts = base.split("/")
    if parts[-1] == "IntervalBlock":
        return f"{base}/{uuid}"
    if len(parts) >= 2 and parts[-2] == "IntervalBlock":
        return "/".join([*parts[:-1], str(uuid)])
    return f"{base}/IntervalBlock/{uuid}"


# The order of a ReadingType's children in espi.xsd (IdentifiedObject's first, then ReadingType's sequence).
READING_TYPE_ORDER = (
    "extension",
    "batchItemInfo",
    "accumulationBehaviour",
    "commodity",
    "consumptionTier",
    "currency",
    "dataQualifier",
    "defaultQuality",
    "flowDirection",
    "intervalLength",
    "kind",
    "phase",
    "powerOfTenMultiplier",
    "timeAttribute",
    "tou",
    "uom",
    "cpp",
    "interharmonic",
    "measuringPeriod",
    "argument",
)
_READING_TYPE_RANK = {name: rank for rank, name in enumerate(READING_TYPE_ORDER)}


def reorder_reading_type(element: Any) -> str | None:
    """Put a ReadingType's children in the schema's order, in place (their values untouched); return a warning.

    Some exporters write ``flowDirection`` after ``uom``. Only children the schema knows are moved: with
    any other child (or a repeated one) nothing is, and the schema names it.
    """
    children = list(element.iterchildren("{*}*"))
    names: list[str] = []
    for child in children:
        qname = etree.QName(child)
        if qname.namespace != ESPI or qname.localname not in _READING_TYPE_RANK:
            return None
        names.append(qname.localname)
    if len(set(names)) != len(names):
        return None
    ranks = [_READING_TYPE_RANK[name] for name in names]
    if ranks == sorted(ranks):
        return None
    first_out = next(names[i] for i in range(1, len(ranks)) if ranks[i] < ranks[i - 1])
    for child in sorted(children, key=lambda child: _READING_TYPE_RANK[etree.QName(child).localname]):
        element.append(child)  # moves it to the end: appended in schema order
    return f"lenient: ReadingType children out of the schema's order ({first_out} too late): put in order"


_TIMEZONE_PATH = f"{{{ESPI}}}IntervalReading/{{{ESPI}}}timePeriod/{{{ESPI}}}timezone"


def interval_block_needs_fixes(element: Any) -> bool:
    """Return whether :func:`fix_interval_block` would change the block (cheap: two lookups)."""
    return element.find(f"{{{ESPI}}}interval") is None or element.find(_TIMEZONE_PATH) is not None


def fix_interval_block(element: Any) -> list[str]:
    """Fix, in place, what real IntervalBlocks do that ESPI has no place for; return one warning each.

    * a ``timezone`` in a reading's ``timePeriod`` (UtilityAPI writes ``-0500``): dropped, its values
      named (the starts are UTC instants; a usage point's offset is its LocalTimeParameters');
    * no ``interval``: the span of its readings, from the earliest start to the latest end.
    """
    warnings = []
    zones = list(element.iterfind(_TIMEZONE_PATH))
    if zones:
        values = sorted({(zone.text or "").strip() for zone in zones})
        for zone in zones:
            zone.getparent().remove(zone)
        warnings.append(
            f"lenient: dropped the timezone of {len(zones)} IntervalReading timePeriod(s) "
            f"({_short(', '.join(values))}): ESPI 4.0 has no place for it"
        )
    if element.find(f"{{{ESPI}}}interval") is None:
        spans = []
        for period in element.iterfind(f"{{{ESPI}}}IntervalReading/{{{ESPI}}}timePeriod"):
            try:
                start = int((period.findtext(f"{{{ESPI}}}start") or "").strip())
                duration = int((period.findtext(f"{{{ESPI}}}duration") or "").strip())
            except ValueError:
                return warnings  # the reader reports the reading
            spans.append((start, start + duration))
        if spans:
            start, end = min(s for s, _ in spans), max(e for _, e in spans)
            interval = etree.Element(f"{{{ESPI}}}interval")
            etree.SubElement(interval, f"{{{ESPI}}}duration").text = str(end - start)
            etree.SubElement(interval, f"{{{ESPI}}}start").text = str(start)
            element.find(f"{{{ESPI}}}IntervalReading").addprevious(interval)  # after IdentifiedObject's children
            warnings.append(
                f"lenient: the IntervalBlock has no interval: read as the span of its {len(spans)} readings "
                f"(start {start}, duration {end - start})"
            )
    return warnings


def normalize_timestamp(text: str) -> tuple[datetime | None, str | None]:
    """Read an atom date-time the lenient way: a bare date is midnight UTC of that day (with a warning).

    Returns ``(value in UTC, warning)``; ``(None, None)`` if the text is no date at all. A date-time
    without an offset is read as UTC, as the strict reader does.
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    warning = None
    if _DATE_ONLY.match(value):
        warning = f"lenient: {value!r} is a date, not a date-time: read as {value}T00:00:00Z"
    return parsed.astimezone(UTC), warning


def href_warning(hrefs: tuple[str, ...] | list[str], *, own_host: str | None = None) -> str | None:
    """Return one warning if an entry's hrefs are relative or name another host (None if all are ours).

    Such hrefs are read by their path segments only (``UsagePoint/{id}``...), like every href: the host
    never decides where an entry goes. ``own_host`` is this portal's host name, when known.
    """
    relative = foreign = None
    for href in hrefs:
        parts = urlsplit(href.strip())
        if not parts.scheme and not parts.netloc:
            relative = relative or href
        elif own_host is not None and (parts.hostname or "").lower() != own_host.lower():
            foreign = foreign or parts.hostname
    if foreign:
        return f"lenient: hrefs name another host ({foreign}): only their path is read"
    if relative:
        return f"lenient: relative href {_short(relative)!r}: only its path is read"
    return None


def nested_resources(kind: str | None, element: Any) -> list[Any]:
    """Return the resources nested in an entry's content that belong in entries of their own.

    Known case: a ReadingType inside its MeterReading (some exporters inline it). The elements are
    returned as they are; the caller copies them out.
    """
    if kind != "MeterReading":
        return []
    return list(element.iterchildren(f"{{{ESPI}}}ReadingType"))


# UsagePoint children of ESPI 1.x files that 4.0 replaced with structures they cannot be mapped to
# (``pnodeRefs`` / ``aggregateNodeRefs`` need an ``apnodeType`` the old element does not carry).
PRE_40_USAGE_POINT_ELEMENTS = ("pricingNode", "loadAggregationPoint")


def drop_pre_40_usage_point_elements(element: Any) -> list[str]:
    """Remove a UsagePoint's pre-4.0 children (``PRE_40_USAGE_POINT_ELEMENTS``) in place; return one warning each.

    Their text is named in the warning, so what the import leaves out is on the report.
    """
    warnings = []
    for name in PRE_40_USAGE_POINT_ELEMENTS:
        for old in list(element.iterchildren(f"{{{ESPI}}}{name}")):
            warnings.append(
                f"lenient: dropped the pre-4.0 UsagePoint element {name} ({_short((old.text or '').strip())!r}): "
                "ESPI 4.0 has no place for it"
            )
            element.remove(old)
    return warnings


def customer_status_text(element: Any) -> str | None:
    """Wrap a customer.xsd ``status`` given as bare text (``<status>active</status>``) as ``<status><value>``.

    GBA's own anonymized Retail Customer sample writes it so; the schema's Status is a structure
    (value, dateTime, remark, reason). Returns a warning when something was wrapped.
    """
    wrapped = 0
    for status in element.iter(f"{{{CUSTOMER}}}status"):
        text = (status.text or "").strip()
        if text and not len(status):
            status.text = None
            etree.SubElement(status, f"{{{CUSTOMER}}}value").text = text
            wrapped += 1
    return f"lenient: wrapped {wrapped} bare customer status text(s) as status/value" if wrapped else None
