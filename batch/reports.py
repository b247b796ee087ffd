"""The Atom form of a batch report: each uploaded entry echoed with its ESPI ``batchItemInfo`` status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from batch.models import Submission
from custodian.espi.namespaces import ESPI
from custodian.espi.parser import Entry, Link, iter_entries
from custodian.espi.writer import AtomEntry, escape, feed_chunks

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _status_xml(status_code: int, reason: str) -> bytes:
    return (
        f"<batchItemInfo><statusCode>{status_code}</statusCode>"
        f"<statusReason>{escape(reason)}</statusReason></batchItemInfo>"
    ).encode()


def _with_status(entry: Entry, info: bytes) -> bytes:
    """Return the entry's ESPI content with ``batchItemInfo`` first (IdentifiedObject puts it before the fields)."""
    if entry.namespace != ESPI or not entry.kind:
        return b""
    if entry.kind == "IntervalBlock" or entry.content_xml is None:
        # Blocks are echoed without their readings: the report stays small whatever was uploaded.
        interval = ""
        block = entry.content
        if entry.kind == "IntervalBlock" and block is not None and block.start is not None:
            interval = f"<interval><duration>{block.duration}</duration><start>{block.start}</start></interval>"
        return f'<{entry.kind} xmlns="{ESPI}">'.encode() + info + interval.encode() + f"</{entry.kind}>".encode()
    xml = entry.content_xml
    end = xml.index(b">")
    if xml[end - 1 : end] == b"/":
        return xml[: end - 1] + b">" + info + f"</{entry.kind}>".encode()
    return xml[: end + 1] + info + xml[end + 1 :]


def _links(entry: Entry) -> list[Link]:
    kind = entry.kind or "Entry"
    links = []
    for rel, type_ in (("self", f"espi-entry/{kind}"), ("up", f"espi-feed/{kind}")):
        href = entry.self_href if rel == "self" else entry.up_href
        if href:
            links.append(Link(rel, href, type_))
    return links


def report_feed_chunks(*, submission: Submission, rows: list[dict[str, Any]], self_href: str) -> Iterator[bytes]:
    """Yield the Atom report: the stored payload read again, each entry with its statusCode and statusReason."""
    from batch.services import STATUS_CODES

    by_index = {row["index"]: row for row in rows}
    path = Path(settings.MEDIA_ROOT) / submission.payload.name

    def entries() -> Iterator[AtomEntry]:
        for entry in iter_entries(path, max_bytes=settings.BATCH_MAX_BODY_BYTES):
            row = by_index.get(entry.index)
            if row is None:
                continue
            reason = row["reason"] or row["status"]
            info = _status_xml(STATUS_CODES.get(reason, 400), reason)
            yield AtomEntry(
                uuid=entry.uuid or uuid.uuid5(uuid.NAMESPACE_URL, f"{submission.public_id}:{entry.index}"),
                title=entry.title or f"entry {entry.index}: {reason}",
                published=entry.published or _NO_TIME,
                updated=entry.updated or _NO_TIME,
                links=_links(entry),
                content=_with_status(entry, info),
            )

    return feed_chunks(
        feed_uuid=submission.report_uuid,
        title=f"Batch report {submission.public_id}: {submission.outcome}",
        updated=submission.finished_at or submission.received_at,
        links=[Link("self", self_href, "espi-feed/UsagePoint")],
        entries=entries(),
    )
