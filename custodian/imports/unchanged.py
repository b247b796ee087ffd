"""Which entries of an import are identical to the resource already stored under their id (PRODUCT rule 10).

An entry is ``unchanged`` when everything the import would write equals what is stored: its title and
stamps (a stamp the file leaves out is not compared, the import keeps the stored one), its content
(by fingerprint: another namespace prefix or indentation is the same content), an IntervalBlock's
interval and readings, and the ReadingType / LocalTimeParameters it links to. The plan computes
each entry's fingerprint while it reads the feed (:func:`entry_fingerprint`); :func:`mark_unchanged`
reads the stored rows' in chunks and marks the entries whose fingerprints agree. The apply writes
nothing for them (:func:`check_owners` first makes sure none moved since the plan), and a shared
resource that is unchanged is no conflict: nothing of it changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from custodian.espi.fingerprint import SKIP, values_fingerprint, xml_fingerprint
from custodian.espi.parser import Entry
from custodian.imports.reasons import ImportFailed
from custodian.models import (
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
)
from custodian.selectors import RESOURCE_MODELS, resource_owned_by_usage_point, resource_owners, resource_rows

_CHUNK = 500
_NO_PUBLISHED, _NO_UPDATED = 1, 2
_LINKED = {"UsagePoint": "local_time_parameters__uuid", "MeterReading": "reading_type__uuid"}
# Columns compared per model, besides title and stamps ("content" by its fingerprint).
_COLUMNS: dict[Any, tuple[str, ...]] = {
    UsagePoint: ("content",),
    ReadingType: ("content",),
    UsageSummary: ("kind", "content"),
    ElectricPowerQualitySummary: ("content",),
    LocalTimeParameters: ("dst_end_rule", "dst_offset", "dst_start_rule", "tz_offset"),
    MeterReading: (),
    IntervalBlock: ("start", "duration", "readings", "reading_count"),
}


def _readings_digest(packed: str) -> bytes:
    return hashlib.blake2b(packed.encode(), digest_size=16).digest()


def _values(model: Any, row: dict[str, Any], skips: int) -> list[Any]:
    values: list[Any] = [
        row["title"],
        SKIP if skips & _NO_PUBLISHED else row["published"],
        SKIP if skips & _NO_UPDATED else row["updated"],
    ]
    for column in _COLUMNS[model]:
        value = row[column]
        if column == "content":
            value = value if isinstance(value, bytes) else xml_fingerprint(value)
        elif column == "readings":
            value = value if isinstance(value, bytes) else _readings_digest(value)
        values.append(value)
    return values


def entry_fingerprint(entry: Entry, model: Any, *, packed_readings: str | None = None) -> tuple[bytes, int] | None:
    """Return ``(fingerprint, skips)`` of what the import would write for the entry, None if it cannot tell.

    An IntervalBlock needs its ``packed_readings`` (what the apply stores); without them (a plan that
    only counted the readings) the entry is never found unchanged.
    """
    content = entry.content
    skips = (_NO_PUBLISHED if entry.published is None else 0) | (_NO_UPDATED if entry.updated is None else 0)
    row: dict[str, Any] = {"title": entry.title[:256], "published": entry.published, "updated": entry.updated}
    if model is IntervalBlock:
        if packed_readings is None:
            return None
        row.update(
            start=content.start,
            duration=content.duration,
            readings=_readings_digest(packed_readings),
            reading_count=content.reading_count,
        )
    elif model is LocalTimeParameters:
        row.update(
            dst_end_rule=content.dst_end_rule,
            dst_offset=content.dst_offset,
            dst_start_rule=content.dst_start_rule,
            tz_offset=content.tz_offset,
        )
    elif _COLUMNS[model]:
        if entry.fingerprint is None:
            return None
        row["content"] = entry.fingerprint
        if model is UsageSummary:
            row["kind"] = entry.kind
    return values_fingerprint(_values(model, row, skips)), skips


def mark_unchanged(plans: Iterable[Any]) -> None:
    """Set ``unchanged`` on the planned entries that equal the stored row they would update.

    ``plans`` are the import's entry plans still ``ok``; those with an ``existing_id`` and a
    ``fingerprint`` are compared. An entry linking a ReadingType or LocalTimeParameters is unchanged
    only if it links the same one.
    """
    by_model: dict[Any, list[Any]] = {}
    for p in plans:
        if p.existing_id is not None and p.fingerprint is not None:
            by_model.setdefault(RESOURCE_MODELS[p.kind], []).append(p)
    for model, group in by_model.items():
        linked = _LINKED.get(model.__name__)
        columns = ["title", "published", "updated", *_COLUMNS[model], *([linked] if linked else [])]
        for start in range(0, len(group), _CHUNK):
            chunk = group[start : start + _CHUNK]
            rows = resource_rows(model=model, pks=[p.existing_id for p in chunk], columns=columns)
            for p in chunk:
                row = rows.get(p.existing_id)
                if row is None or (linked and not _same_link(p, model, row[linked])):
                    continue
                p.unchanged = values_fingerprint(_values(model, row, p.fingerprint_skips)) == p.fingerprint


def check_owners(plans: Iterable[Any], customer: RetailCustomer | None) -> None:
    """Raise ImportFailed if a row planned ``unchanged`` moved to another usage point or customer since the plan.

    The apply writes nothing for an unchanged entry, so the owner filter of its UPDATE cannot refuse a
    moved row: this check does, one query per model and 1000 rows, before anything is written.
    """
    by_model: dict[Any, list[Any]] = {}
    for p in plans:
        model = RESOURCE_MODELS.get(p.kind or "")
        if p.unchanged and resource_owned_by_usage_point(model):
            by_model.setdefault(model, []).append(p)
    for model, group in by_model.items():
        for start in range(0, len(group), 1000):
            chunk = group[start : start + 1000]
            owners = resource_owners(model=model, pks=[p.existing_id for p in chunk])
            for p in chunk:
                up, owner = owners.get(p.existing_id, (None, None))
                moved = up is None or (p.usage_point_id is not None and up != p.usage_point_id)
                if moved or (customer is not None and owner != customer.pk):
                    raise ImportFailed(f"{p.describe()}: the stored resource changed owner during the import")


def _same_link(p: Any, model: Any, stored: UUID | None) -> bool:
    wanted = p.local_time_parameters_uuid if model is UsagePoint else p.reading_type_uuid
    # A link the import leaves as it is (its target is not in this feed) is no change.
    return wanted is None or wanted == stored
