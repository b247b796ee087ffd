"""A batch report's rows on disk, and the report's two forms: JSON and Atom (each entry with its ``batchItemInfo``).

A report has one row per uploaded entry: a feed of 300,000 entries has 300,000 rows. They are never
held together: ``batch.services`` writes them, one JSON line each, to the submission's entries file
(beside its payload, :func:`report_entries_writer`) while it counts them; the stored report
(``Submission.report``) is the rest, marked :data:`ENTRIES_STORED`. The response reads them back:
:func:`report_json_chunks` streams the JSON body (:func:`report_json` builds a small one whole),
:func:`report_feed_chunks` the Atom feed, and the admin shows the first rows (:func:`report_entries`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings

from batch.models import Submission
from custodian.espi.namespaces import ESPI
from custodian.espi.parser import Entry, Link, iter_entries
from custodian.espi.writer import AtomEntry, escape, feed_chunks

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)

# In a stored report: its rows are in the entries file, not in the report (the key is never sent).
ENTRIES_STORED = "_entries_stored"
# A JSON report up to this size (its rows file) is answered whole; a larger one is streamed.
REPORT_INLINE_BYTES = 1 << 20
_STREAM_CHUNK = 64 * 1024


def report_entries_path(submission: Submission) -> Path | None:
    """Return the file of the submission's report rows (beside its payload), None if it has no payload."""
    if not submission.payload.name:
        return None
    return (Path(settings.MEDIA_ROOT) / submission.payload.name).with_suffix(".entries.jsonl")


@contextmanager
def report_entries_writer(submission: Submission) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Write the submission's report rows, one JSON line each, replacing any written before."""
    path = report_entries_path(submission)
    if path is None:
        raise ValueError("a submission without a payload has no report rows")
    with open(path, "wb") as out:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

        def write(row: dict[str, Any]) -> None:
            out.write(dumps(row).encode())
            out.write(b"\n")

        yield write


def _entry_lines(submission: Submission, report: dict[str, Any]) -> Iterator[bytes]:
    """Yield the report's rows as JSON text, one per entry (from the entries file, or inline in older reports)."""
    if not report.get(ENTRIES_STORED):
        for row in report.get("entries", ()):
            yield json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
        return
    path = report_entries_path(submission)
    if path is None or not path.is_file():
        return
    with open(path, "rb") as rows:
        for line in rows:
            yield line.rstrip(b"\n")


def report_entries(submission: Submission, report: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the report's rows in feed order, one at a time."""
    for line in _entry_lines(submission, submission.report if report is None else report):
        yield json.loads(line)


def _head(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in (ENTRIES_STORED, "entries")}


def report_has_entries(report: dict[str, Any]) -> bool:
    return bool(report.get(ENTRIES_STORED)) or "entries" in report


def report_is_small(submission: Submission, report: dict[str, Any]) -> bool:
    """Return whether the report may be built whole in memory (its rows file is small)."""
    if not report.get(ENTRIES_STORED):
        return True
    path = report_entries_path(submission)
    return path is None or not path.is_file() or path.stat().st_size <= REPORT_INLINE_BYTES


def report_json(submission: Submission, report: dict[str, Any]) -> dict[str, Any]:
    """Return the whole JSON report as one value: for a small report only (:func:`report_is_small`)."""
    if not report_has_entries(report):
        return report
    return {**_head(report), "entries": list(report_entries(submission, report))}


def report_json_chunks(submission: Submission, report: dict[str, Any]) -> Iterator[bytes]:
    """Yield the JSON report's bytes: the same document as :func:`report_json`, its rows read as it goes."""
    head = json.dumps(_head(report), ensure_ascii=False).encode()
    if not report_has_entries(report):
        yield head
        return
    pending = [head[:-1] + (b', "entries": [' if len(head) > 2 else b'"entries": [')]
    size = len(pending[0])
    first = True
    for line in _entry_lines(submission, report):
        pending.append(line if first else b"," + line)
        first = False
        size += len(line) + 1
        if size >= _STREAM_CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(b"]}")
    yield b"".join(pending)


def report_in_body_chunks(body: dict[str, Any], submission: Submission, report: dict[str, Any]) -> Iterator[bytes]:
    """Yield ``body`` as JSON with the whole report streamed in as its ``"report"`` member (the status URL's answer)."""
    head = json.dumps(body, ensure_ascii=False).encode()
    yield head[:-1] + (b', "report": ' if len(head) > 2 else b'"report": ')
    yield from report_json_chunks(submission, report)
    yield b"}"


def report_rows_first(submission: Submission, count: int) -> list[dict[str, Any]]:
    """Return the report's first ``count`` rows (what the admin shows)."""
    return list(islice(report_entries(submission), count))


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


def report_feed_chunks(submission: Submission, *, report: dict[str, Any], self_href: str) -> Iterator[bytes]:
    """Yield the Atom report: the stored payload read again, each entry with its statusCode and statusReason.

    The payload's entries and the report's rows are both in feed order: they are read side by side.
    """
    from batch.services import STATUS_CODES

    path = Path(settings.MEDIA_ROOT) / submission.payload.name

    def entries() -> Iterator[AtomEntry]:
        rows = report_entries(submission, report)
        row = next(rows, None)
        for entry in iter_entries(path, max_bytes=settings.BATCH_MAX_BODY_BYTES, block_readings=False):
            while row is not None and row["index"] < entry.index:
                row = next(rows, None)
            if row is None:
                return
            if row["index"] != entry.index:
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
