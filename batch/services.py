"""The batch POST filter: every entry applied only where the caller holds a grant.

One service, :func:`batch_submit`, serves the three upload endpoints (PRODUCT "The batch POST
filter"). It streams the body to disk while hashing it (rule 9), plans every entry with the import
service (``custodian.imports``: one streaming pass through the hardened reader, rule 1; the plan
places every entry, rule 2), narrows the plan to the caller's reach (rules 3-6, each decided in
``custodian.imports.filter_rules``), and applies the accepted entries with ``import_apply`` in one
transaction that holds the grant locks and checks the grants again under them (rule 7). The plan
spools the entries it read, so the apply does not parse the payload again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from batch import reports, selectors
from batch.models import Submission
from custodian import imports
from custodian.espi.errors import EspiError
from custodian.espi.hrefs import href_ids
from custodian.exceptions import DomainError, StorageUnavailable
from custodian.imports import filter_rules
from custodian.imports.filter_rules import SHARED_KINDS
from custodian.imports.reasons import Change, Reason
from custodian.imports.records import customer_records_import
from custodian.models import AuditEvent, RetailCustomer
from custodian.services import audit_record, audit_record_many
from grants.models import BulkUser, Grant, ThirdParty
from grants.notifications import notification_enqueue_for_usage_points
from grants.services import grant_lock

logger = logging.getLogger(__name__)

ACCEPTED = "accepted"
REJECTED = "rejected"

# Reasons that mean "you may not", as opposed to "this is not a valid entry" (403 versus 400).
AUTHORIZATION_REASONS = frozenset({Reason.NOT_GRANTED, Reason.SCOPE, Reason.CONFLICT})

# One fixed text per reason, so a rejection never says more than its code (no existence oracle).
REASON_TEXT: dict[str, str] = {
    Reason.NOT_GRANTED: "The entry's usage point is unknown or not in an active grant of the caller.",
    Reason.SCOPE: "The grant's function blocks do not cover this kind of resource.",
    Reason.CONFLICT: "The entry's id belongs to a resource elsewhere, or it would change data outside your grants.",
    Reason.DUPLICATE: "The same id appears earlier in this feed.",
    Reason.INVALID: "The entry fails the ESPI schema or lacks the links to place it.",
    Reason.UNSUPPORTED: "This kind of resource cannot be uploaded.",
}

# ESPI BatchItemInfo statusCode per outcome (espi.xsd StatusCode is an open UInt16 union).
STATUS_CODES: dict[str, int] = {
    ACCEPTED: 200,
    Reason.NOT_GRANTED: 403,
    Reason.SCOPE: 403,
    Reason.CONFLICT: 409,
    Reason.DUPLICATE: 400,
    Reason.INVALID: 400,
    Reason.UNSUPPORTED: 400,
}

# Read the body 1 MiB at a time: gunicorn receives up to 1 MiB per recv() for a body of known length.
_CHUNK = 1024 * 1024

# Called as observer(stage=..., submission=...) at "planned" (before the grant locks), "locked" (locks held,
# grants checked again) and "applied" (entries written, not yet committed). Tests use them to
# interleave a revocation or inject a failure; production registers none.
apply_observers: list[Callable[..., None]] = []


class PayloadTooLarge(DomainError):
    code = "too_large"
    status_code = 413


@dataclass(frozen=True, slots=True)
class BatchTarget:
    """Who posts, to which endpoint: resolved by the API from the URL and the token."""

    kind: str
    target_id: str
    caller: ThirdParty
    token_kind: str
    grant: Grant | None = None
    bulk_user: BulkUser | None = None
    customer: RetailCustomer | None = None


@dataclass(frozen=True, slots=True)
class BatchOptions:
    strict: bool = False
    dry_run: bool = False
    idempotency_key: str = ""
    content_type: str = ""


@dataclass(slots=True)
class BatchResult:
    """A submission's answer: ``report`` without its entries (they are on disk: ``batch.reports.report_entries``)."""

    submission: Submission
    http_status: int
    report: dict[str, Any]
    replayed: bool = False


@dataclass(slots=True)
class _Stored:
    path: Path
    size: int
    sha256: str
    # The ``UsagePoint/{id}`` ids the body names (a prefetch hint), when asked for as it was received.
    usage_point_refs: set[str] | None = None


def _notify(stage: str, submission: Submission) -> None:
    for observer in list(apply_observers):
        observer(stage=stage, submission=submission)


def _spool_dir() -> Path:
    directory = Path(settings.MEDIA_ROOT) / "batch" / "spool"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


_STORAGE_DETAIL = "The upload cannot be stored right now (storage full or read-only); nothing was applied. Retry later."


def payload_store(*, stream: IO[bytes], content_length: int, max_bytes: int, hint: bool = False) -> _Stored:
    """Stream the body to a spool file while hashing it; never more than ``max_bytes`` and never all in memory.

    With ``hint``, the usage point ids it names are gathered from the same chunks
    (``selectors.UsagePointRefScan``), so the stored file is not read again for them.
    """
    try:
        path = _spool_dir() / f"{secrets.token_hex(16)}.part"
    except OSError as exc:
        logger.error("Batch payload storage unavailable: %s", exc)
        raise StorageUnavailable(_STORAGE_DETAIL) from None
    digest = hashlib.sha256()
    scan = selectors.UsagePointRefScan() if hint else None
    size = 0
    try:
        with open(path, "wb") as handle:
            while True:
                chunk = stream.read(min(_CHUNK, max(content_length - size, 0)) or _CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
                digest.update(chunk)
                handle.write(chunk)
                if scan is not None:
                    scan.feed(chunk)
                if size >= content_length:
                    break
    except OSError as exc:
        path.unlink(missing_ok=True)
        logger.error("Batch payload storage unavailable: %s", exc)
        raise StorageUnavailable(_STORAGE_DETAIL) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size < content_length:
        path.unlink(missing_ok=True)
        raise DomainError(
            f"The body ended after {size} of {content_length} bytes.", code="malformed", extra={"line": 0, "column": 0}
        )
    return _Stored(
        path=path, size=size, sha256=digest.hexdigest(), usage_point_refs=None if scan is None else scan.refs()
    )


def _submission_open(*, target: BatchTarget, options: BatchOptions, stored: _Stored) -> Submission | BatchResult:
    """Insert the in-progress submission in its own transaction, or answer a retry of an earlier one."""
    submission = Submission(
        caller=target.caller,
        token_kind=target.token_kind,
        grant=target.grant,
        target_kind=target.kind,
        target_id=target.target_id,
        idempotency_key=options.idempotency_key,
        content_type=options.content_type[:100],
        mode="strict" if options.strict else "partial",
        dry_run=options.dry_run,
        bytes=stored.size,
        sha256=stored.sha256,
    )
    while True:
        try:
            with transaction.atomic():
                submission.save()
                # Held before the row is visible to anyone, so no retry ever sees it unheld while this runs.
                submission_lease_take(submission=submission)
            break
        except IntegrityError:
            retried = _submission_retry(target=target, options=options, stored=stored)
            if retried is not None:
                stored.path.unlink(missing_ok=True)
                return retried
            # The earlier submission's worker is gone: it was closed, insert this one in its place.
        except BaseException:
            stored.path.unlink(missing_ok=True)
            raise
    final = Path(settings.MEDIA_ROOT) / submission.payload.field.upload_to(submission, "payload.xml")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stored.path, final)
    except OSError as exc:
        stored.path.unlink(missing_ok=True)
        logger.error("Batch payload storage unavailable: %s", exc)
        # Nothing was applied: the submission is closed and its key freed, so the retry runs again.
        Submission.objects.filter(pk=submission.pk).update(
            outcome=Submission.Outcome.FAILED,
            http_status=503,
            finished_at=timezone.now(),
            idempotency_key="",
            error=f"payload storage: {exc}"[:2000],
        )
        raise StorageUnavailable(_STORAGE_DETAIL) from None
    submission.payload.name = str(final.relative_to(Path(settings.MEDIA_ROOT)))
    Submission.objects.filter(pk=submission.pk).update(payload=submission.payload.name)
    return submission


def _submission_retry(*, target: BatchTarget, options: BatchOptions, stored: _Stored) -> BatchResult | None:
    """Answer a request whose Idempotency-Key an earlier submission holds: replay it, refuse, or return None.

    None means the earlier submission was abandoned (its worker or database session died while it was
    in progress, so nothing of it was applied) and has just been closed: the caller runs the request anew.
    """
    earlier = selectors.submission_get_by_key(caller_id=target.caller.pk, idempotency_key=options.idempotency_key)
    if earlier is None:
        return None  # closed by another retry a moment ago: insert again
    if earlier.sha256 != stored.sha256 or earlier.target_kind != target.kind or earlier.target_id != target.target_id:
        stored.path.unlink(missing_ok=True)
        raise DomainError(
            "This Idempotency-Key was used with another request body.",
            code="idempotency_key_reused",
            status_code=422,
        )
    if earlier.outcome == Submission.Outcome.QUEUED:
        # Spooled for a worker (Prefer: respond-async): the retry gets the same status URL (202).
        return BatchResult(submission=earlier, http_status=202, report={}, replayed=True)
    if earlier.outcome == Submission.Outcome.IN_PROGRESS:
        if submission_abandoned_close(submission=earlier):
            return None
        stored.path.unlink(missing_ok=True)
        raise DomainError(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_in_progress",
            status_code=409,
            retry_after=5,
        )
    return BatchResult(submission=earlier, http_status=earlier.http_status or 200, report=earlier.report, replayed=True)


# Advisory lock keys of submissions: a fixed high half ("GB" + "sub") so no other lock can collide.
_LEASE_NAMESPACE = 0x4742_5355 << 32


def _lease_key(submission: Submission) -> int:
    return _LEASE_NAMESPACE | (submission.pk & 0xFFFF_FFFF)


def submission_lease_take(*, submission: Submission) -> None:
    """Hold the in-progress submission's lease for as long as this database session lives.

    On PostgreSQL the lease is a session-level advisory lock: it ends when ``submission_lease_release``
    runs, and also when the worker process is killed or its database session ends, so a retry can tell
    a live submission from an abandoned one at once. SQLite (development) has no such locks: there the
    lease is ``received_at`` plus ``BATCH_LEASE_SECONDS``.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lease_key(submission)])


def submission_lease_release(*, submission: Submission) -> None:
    """Give the lease back (the submission finished); a dead database session has already given it back."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lease_key(submission)])
    except DatabaseError:
        logger.warning("Lease of submission %s not released: its database session is gone", submission.public_id)


def submission_abandoned_close(*, submission: Submission) -> bool:
    """Close an in-progress submission whose worker is gone (failed, key freed) and return True; else False.

    Nothing of it was applied: every apply commits its entries and its final outcome in one transaction,
    so a submission still ``in_progress`` has committed no entry.
    """
    connection = transaction.get_connection()
    key = _lease_key(submission)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
                if not cursor.fetchone()[0]:
                    return False  # its worker still holds the lease
        elif submission.received_at + timedelta(seconds=settings.BATCH_LEASE_SECONDS) > timezone.now():
            return False
        closed = Submission.objects.filter(pk=submission.pk, outcome=Submission.Outcome.IN_PROGRESS).update(
            outcome=Submission.Outcome.FAILED,
            http_status=500,
            finished_at=timezone.now(),
            idempotency_key="",
            error="Abandoned: the worker or database session applying it stopped; nothing was applied.",
        )
        if not closed:
            return False  # it finished after all: the caller reads it again
        audit_record(
            action=AuditEvent.Action.BATCH_RECEIVED,
            actor_client=submission.caller,
            obj=submission,
            summary=f"Batch to {submission.target_kind} {submission.target_id} abandoned by its worker; "
            "nothing applied, the retry runs it again",
            detail={"sha256": submission.sha256, "idempotency_key": submission.idempotency_key, "abandoned": True},
        )
    logger.warning("Submission %s was abandoned by its worker; closed so its retry runs", submission.public_id)
    return True


def _target_grants(target: BatchTarget) -> QuerySet[Grant]:
    """Return the grants the target may write through (a query, never loaded whole): its grant, its bulk's members."""
    if target.kind == Submission.TargetKind.SUBSCRIPTION and target.grant is not None:
        return Grant.objects.filter(pk=target.grant.pk)
    if target.kind == Submission.TargetKind.BULK and target.bulk_user is not None:
        return selectors.bulk_member_grants(bulk_user=target.bulk_user)
    return Grant.objects.none()


def _reach(target: BatchTarget, locked: list[int] | None = None) -> selectors.Reach:
    """Return the target's reach now: through the ``locked`` grants, or through all the target's grants.

    Looked up for the usage points the feed names (``Reach.cover``), never for the whole bulk.
    """
    if target.kind == Submission.TargetKind.RETAIL_CUSTOMER and target.customer is not None:
        return selectors.reach_for_customer(customer=target.customer)
    grants = _target_grants(target) if locked is None else Grant.objects.filter(pk__in=locked)
    return selectors.reach_for_grants(grants=grants, third_party_id=target.caller.pk)


class _GrantResolver:
    """The import's usage point resolver for an upload: only usage points in reach, never a new one by a Third Party."""

    def __init__(self, reach: selectors.Reach) -> None:
        self.reach = reach
        self.customer_resolver = (
            imports.CustomerUsagePoints(reach.customer) if reach.may_create_usage_points and reach.customer else None
        )

    def resolve(self, *, ref: str, declared_uuid: UUID | None) -> imports.UsagePointTarget | None:
        pk = self.reach.reaches_ref(ref)
        if pk is not None:
            return imports.UsagePointTarget(ref=ref, usage_point_id=pk)
        if self.customer_resolver is not None:
            return self.customer_resolver.resolve(ref=ref, declared_uuid=declared_uuid)
        return None

    def allows(self, *, usage_point_id: int) -> bool:
        return self.reach.reaches(usage_point_id)

    def allows_all(self, *, usage_point_ids: QuerySet[Any, int]) -> bool:
        return self.reach.reaches_all(usage_point_ids)


def _selector(reach: selectors.Reach) -> Callable[[str, str, Any], bool]:
    """Return the reader's selector: skip the content of entries whose href names a usage point out of reach.

    Each usage point the feed names is looked up once, when the feed first names it.
    """

    def select(kind: str, atom_id: str, links: Any) -> bool:
        if reach.may_create_usage_points or kind in SHARED_KINDS:
            return True
        refs = {ref for link in links if link.rel in ("self", "up") and (ref := href_ids(link.href).get("UsagePoint"))}
        return not refs or any(reach.reaches_ref(ref) is not None for ref in sorted(refs))

    return select


def _narrow(plan: imports.ImportPlan, reach: selectors.Reach) -> None:
    """Set every entry's ``narrowed`` (None: accepted, else the reason): the import's plan narrowed to the reach.

    Two passes over the plan's chunks: rules 6 and 3 per entry (collecting the rejected meter readings
    and the shared resources accepted entries refer to), then the blocks of rejected meter readings
    and the shared resources nobody accepted refers to.
    """
    named = plan.usage_point_refs
    reach.cover(refs=named, pks=plan.usage_point_ids)
    public_ids = reach.public_ids
    refs = named - public_ids.keys()
    # Refs naming an existing usage point out of reach; for a Third Party every other ref is too.
    foreign = set(selectors.usage_points_by_public_id(public_ids=refs)) if reach.may_create_usage_points else refs
    rejected_meter_readings: set[UUID | None] = set()
    wanted: set[UUID | None] = set()
    for chunk in plan.entries.chunks():
        for p in chunk:
            p.narrowed = filter_rules.rule6_reported_reason(p, foreign_refs=foreign)
            if p.narrowed is None and p.kind not in SHARED_KINDS:
                p.narrowed = filter_rules.rule3_reached(
                    p,
                    reached=reach.usage_points,
                    may_create_usage_points=reach.may_create_usage_points,
                    ref_pk=public_ids.get(p.usage_point_ref) if p.usage_point_ref else None,
                )
            if p.kind == "MeterReading" and p.narrowed is not None:
                rejected_meter_readings.add(p.uuid)
        wanted |= filter_rules.rule4_shared_referred_to(chunk, accepted=lambda p: p.narrowed is None)
    rejected = lambda p: p.narrowed is not None  # noqa: E731
    # Only entries accepted so far change now, all of them planned importable: other chunks are skipped.
    for chunk in plan.entries.chunks(live_only=True):
        # A block is only as good as its meter reading.
        for p in filter_rules.rule3_blocks_of_rejected_meter_readings(
            chunk, rejected=rejected, rejected_meter_readings=rejected_meter_readings
        ):
            p.narrowed = Reason.NOT_GRANTED
        for p in chunk:
            if p.kind in SHARED_KINDS and p.narrowed is None and p.uuid not in wanted:
                p.narrowed = Reason.NOT_GRANTED


def _row(p: imports.EntryPlan) -> dict[str, Any]:
    accepted = p.narrowed is None
    row: dict[str, Any] = {
        "index": p.index,
        "id": p.atom_id[:256],
        "kind": p.kind,
        "status": ACCEPTED if accepted else REJECTED,
        "reason": p.narrowed,
        # What the entry does to its resource: created, updated, or unchanged (identical: not written).
        "change": p.change if accepted else None,
    }
    if p.warnings:
        row["warnings"] = p.warnings  # what lenient mode normalized in this entry, among others
    return row


@dataclass(slots=True)
class _Tally:
    """What the report says of the entries as a whole, counted while its rows are written."""

    received: int = 0
    accepted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Change, 0))


def _rows_write(submission: Submission, plan: imports.ImportPlan) -> _Tally:
    """Write the report's rows (one per entry, in feed order) to the submission's entries file; return the counts.

    The rows never are in memory together: ``batch.reports`` reads them back for the response.
    """
    tally = _Tally()
    with reports.report_entries_writer(submission) as write:
        for p in plan.entries.scan():
            row = _row(p)
            write(row)
            tally.received += 1
            if row["reason"]:
                tally.reasons[row["reason"]] = tally.reasons.get(row["reason"], 0) + 1
            else:
                tally.accepted += 1
                tally.changes[row["change"]] += 1
    return tally


def _outcome_status(*, tally: _Tally, strict: bool) -> int:
    if tally.accepted and not (strict and tally.reasons):
        return 200
    if any(reason in AUTHORIZATION_REASONS for reason in tally.reasons):
        return 403
    return 400


def _report(submission: Submission, tally: _Tally, *, applied: bool, outcome: str, readings: int = 0) -> dict[str, Any]:
    """Return the report without its rows (``entries``: in the entries file, sent with it)."""
    return {
        "submission": submission.public_id,
        "outcome": outcome,
        "applied": applied,
        "mode": submission.mode,
        "dry_run": submission.dry_run,
        "sha256": submission.sha256,
        "bytes": submission.bytes,
        "counts": {
            "received": tally.received,
            "accepted": tally.accepted,
            "rejected": tally.received - tally.accepted,
            "applied": tally.accepted if applied else 0,
            "readings_written": readings,
            **{str(change): count for change, count in tally.changes.items()},
            "by_reason": tally.reasons,
        },
        "reasons": {reason: REASON_TEXT[reason] for reason in tally.reasons},
        reports.ENTRIES_STORED: True,
    }


def _finish(submission: Submission, *, outcome: str, http_status: int, report: dict[str, Any], error: str = "") -> None:
    counts = report.get("counts", {})
    values = {
        "outcome": outcome,
        "http_status": http_status,
        "report": report,
        "finished_at": timezone.now(),
        "received_count": counts.get("received", 0),
        "accepted_count": counts.get("accepted", 0),
        "rejected_count": counts.get("rejected", 0),
        "applied_count": counts.get("applied", 0),
        "readings_written": counts.get("readings_written", 0),
        "error": error[:2000],
    }
    Submission.objects.filter(pk=submission.pk).update(**values)
    for name, value in values.items():  # the row as written, without reading the report back
        setattr(submission, name, value)


def _audit(
    submission: Submission, target: BatchTarget, *, report: dict[str, Any], usage_point_ids: Iterable[int]
) -> None:
    """Write the batch's audit row and one row per customer whose usage points received data."""
    counts = report["counts"]
    audit_record(
        action=AuditEvent.Action.BATCH_RECEIVED,
        actor_client=target.caller,
        customer=target.customer,
        obj=submission,
        summary=f"Batch to {target.kind} {target.target_id}: {counts['accepted']} of {counts['received']} entries "
        f"accepted, outcome {report['outcome']}",
        detail={
            "sha256": submission.sha256,
            "bytes": submission.bytes,
            "idempotency_key": submission.idempotency_key,
            "counts": counts,
            "grant": target.grant.public_id if target.grant else None,
            "bulk_id": target.bulk_user.bulk_id if target.bulk_user else None,
        },
    )
    by_customer: dict[int, int] = {}
    for customer_id in selectors.usage_point_customers(pks=usage_point_ids).values():
        by_customer[customer_id] = by_customer.get(customer_id, 0) + 1
    # One row per customer (a bulk upload reaches thousands): inserted together.
    audit_record_many(
        events=(
            {
                "action": AuditEvent.Action.DATA_UPLOADED,
                "actor_client": target.caller,
                "customer": RetailCustomer(pk=customer_id),
                "obj": submission,
                "summary": f"{target.caller.name} uploaded data to {points} of your usage point(s)",
                "detail": {"submission": submission.public_id, "usage_points": points},
            }
            for customer_id, points in sorted(by_customer.items())
        )
    )


def batch_submit(*, target: BatchTarget, options: BatchOptions, stream: IO[bytes], content_length: int) -> BatchResult:
    """Receive, filter and apply one batch POST; return the report and the HTTP status for it."""
    max_bytes = settings.BATCH_MAX_BODY_BYTES
    if content_length > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    # A customer's back-office upload has no prefetch (its reach is complete already): no scan for it.
    hint = target.kind != Submission.TargetKind.RETAIL_CUSTOMER or target.customer is None
    stored = payload_store(stream=stream, content_length=content_length, max_bytes=max_bytes, hint=hint)
    opened = _submission_open(target=target, options=options, stored=stored)
    if isinstance(opened, BatchResult):
        return opened
    submission = opened
    try:
        return _submission_run(
            submission, target=target, options=options, max_bytes=max_bytes, refs=stored.usage_point_refs
        )
    finally:
        submission_lease_release(submission=submission)


def _submission_run(
    submission: Submission,
    *,
    target: BatchTarget,
    options: BatchOptions,
    max_bytes: int,
    refs: set[str] | None = None,
) -> BatchResult:
    path = Path(settings.MEDIA_ROOT) / submission.payload.name
    try:
        return _process(submission, target=target, options=options, path=path, max_bytes=max_bytes, refs=refs)
    except EspiError as exc:
        code = "malformed" if exc.code == "encoding" else exc.code
        report: dict[str, Any] = {"error": code, "detail": exc.message, "line": exc.line, "column": exc.column}
        _finish(submission, outcome=Submission.Outcome.MALFORMED, http_status=400, report=report)
        with transaction.atomic():
            audit_record(
                action=AuditEvent.Action.BATCH_RECEIVED,
                actor_client=target.caller,
                customer=target.customer,
                obj=submission,
                summary=f"Batch to {target.kind} {target.target_id} refused: {code}",
                detail={"sha256": submission.sha256, "bytes": submission.bytes, "error": code},
            )
        raise DomainError(
            exc.message, code=code, status_code=400, extra={"line": exc.line, "column": exc.column}
        ) from None
    except DomainError:
        raise
    except Exception as exc:
        # Operators need the cause; the payload and the request's headers (the token) stay out of the log.
        logger.exception("Batch submission %s failed; nothing was applied", submission.public_id)
        report = {
            "error": "apply_failed",
            "detail": "The batch could not be applied; nothing was written. It is safe to retry.",
            "idempotency_key": submission.idempotency_key,
        }
        _finish(submission, outcome=Submission.Outcome.FAILED, http_status=500, report=report, error=repr(exc))
        # Nothing was applied, so a retry with the same key must run again rather than replay the failure.
        Submission.objects.filter(pk=submission.pk).update(idempotency_key="")
        raise DomainError(report["detail"], code="apply_failed", status_code=500) from exc


def _plan(
    target: BatchTarget, reach: selectors.Reach, *, path: Path, max_bytes: int, spool: bool
) -> imports.ImportPlan:
    """Plan the stored payload against the reach, in lenient mode if the client is set so (rule 10)."""
    # One parse: the entries the plan reads are spooled for the apply (the stored payload cannot change),
    # on the payload's disk.
    return imports.import_plan(
        source=path,
        resolver=_GrantResolver(reach),
        lenient=target.caller.lenient_uploads,
        max_bytes=max_bytes,
        select=_selector(reach),
        spool=_spool_dir() if spool else False,
    )


def _apply(plan: imports.ImportPlan, *, target: BatchTarget, path: Path, max_bytes: int) -> imports.ImportResult:
    return imports.import_apply(
        source=path,
        plan=plan,
        accept=None,  # the entries _narrow accepted
        customer=target.customer,
        actor_client=target.caller,
        max_bytes=max_bytes,
        audit_action=AuditEvent.Action.DATA_UPLOADED,
    )


def _is_unique_violation(exc: BaseException) -> bool:
    """Return whether a failure is a unique constraint refusing a row (SQLSTATE 23505), raised as is or wrapped."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IntegrityError) or getattr(seen, "sqlstate", None) == "23505":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _process(
    submission: Submission,
    *,
    target: BatchTarget,
    options: BatchOptions,
    path: Path,
    max_bytes: int,
    refs: set[str] | None = None,
) -> BatchResult:
    reach = _reach(target)
    if reach.grants is not None:
        # The usage points the feed names, looked up 2,000 at a time before the parse, not one by one in it:
        # gathered as the body was received (``refs``), or read from the stored payload (a queued submission).
        reach.cover(refs=selectors.usage_point_refs_hinted(path) if refs is None else refs)
    plan = _plan(target, reach, path=path, max_bytes=max_bytes, spool=not options.dry_run)
    try:
        return _decide_and_apply(
            submission,
            plan,
            target=target,
            options=options,
            path=path,
            max_bytes=max_bytes,
            reach=reach,
        )
    finally:
        plan.close()


def _decide_and_apply(
    submission: Submission,
    plan: imports.ImportPlan,
    *,
    target: BatchTarget,
    options: BatchOptions,
    path: Path,
    max_bytes: int,
    reach: selectors.Reach,
) -> BatchResult:
    _notify("planned", submission)
    if options.dry_run:
        _narrow(plan, reach)
        tally = _rows_write(submission, plan)
        status = _outcome_status(tally=tally, strict=options.strict)
        report = _report(submission, tally, applied=False, outcome=Submission.Outcome.DRY_RUN)
        with transaction.atomic():
            _audit(submission, target, report=report, usage_point_ids=())
            _finish(submission, outcome=Submission.Outcome.DRY_RUN, http_status=status, report=report)
        return BatchResult(submission=submission, http_status=status, report=report)

    # The grants this upload writes through: those reaching the usage points of the entries it would accept.
    _narrow(plan, reach)
    through = reach.grant_ids(
        p.usage_point_id
        for chunk in plan.entries.chunks(write=False, live_only=True)
        for p in chunk
        if p.narrowed is None and p.usage_point_id is not None
    )
    with transaction.atomic(durable=True):
        # Only those grants are locked (after the Third Party and the bulk user: the one lock order).
        locked = grant_lock(
            grants=Grant.objects.filter(pk__in=through), third_party=target.caller, bulk_user=target.bulk_user
        )
        # Check the grants again under the lock: a revocation that committed since the plan wins.
        reach_now = _reach(target, locked) if target.kind != Submission.TargetKind.RETAIL_CUSTOMER else reach
        _narrow(plan, reach_now)
        _notify("locked", submission)
        tally = _rows_write(submission, plan)
        status = _outcome_status(tally=tally, strict=options.strict)
        if status != 200:
            report = _report(submission, tally, applied=False, outcome=Submission.Outcome.REJECTED)
            _audit(submission, target, report=report, usage_point_ids=())
            _finish(submission, outcome=Submission.Outcome.REJECTED, http_status=status, report=report)
            return BatchResult(submission=submission, http_status=status, report=report)
        try:
            with transaction.atomic():  # a savepoint: a race on a new resource's id rolls back to here
                result = _apply(plan, target=target, path=path, max_bytes=max_bytes)
        except Exception as exc:
            if not _is_unique_violation(exc):
                raise
            # Another upload of the same resources committed after this plan was made and before this
            # one got the grant locks: plan again, now that its rows are visible (rule 10: unchanged).
            plan = _plan(target, reach_now, path=path, max_bytes=max_bytes, spool=True)
            _narrow(plan, reach_now)
            tally = _rows_write(submission, plan)
            status = _outcome_status(tally=tally, strict=options.strict)
            if status != 200:
                plan.close()
                report = _report(submission, tally, applied=False, outcome=Submission.Outcome.REJECTED)
                _audit(submission, target, report=report, usage_point_ids=())
                _finish(submission, outcome=Submission.Outcome.REJECTED, http_status=status, report=report)
                return BatchResult(submission=submission, http_status=status, report=report)
            result = _apply(plan, target=target, path=path, max_bytes=max_bytes)
        report = _report(submission, tally, applied=True, outcome=Submission.Outcome.APPLIED, readings=result.readings)
        touched = sorted(set(result.usage_point_ids))
        _audit(submission, target, report=report, usage_point_ids=touched)
        # "New data" notices for the grants covering them, in this transaction (the outbox).
        notification_enqueue_for_usage_points(usage_point_ids=touched)
        _notify("applied", submission)
        _finish(submission, outcome=Submission.Outcome.APPLIED, http_status=200, report=report)
    return BatchResult(submission=submission, http_status=200, report=report)


def retail_customer_records_upload(
    *, customer: RetailCustomer, caller: Any, stream: IO[bytes], content_length: int
) -> tuple[Any, Any]:
    """Import an uploaded Batch/RetailCustomer feed of customer records (back office), all or nothing.

    The body is spooled to disk under the batch byte cap (never held in memory), then read by the
    records import (``custodian.imports.records``), which writes every record or none. Returns the
    plan and the result (None when an entry was refused).
    """
    stored = payload_store(stream=stream, content_length=content_length, max_bytes=settings.BATCH_MAX_BODY_BYTES)
    try:
        return customer_records_import(customer=customer, source=stored.path, client=caller)
    finally:
        stored.path.unlink(missing_ok=True)
