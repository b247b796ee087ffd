"""Writes of asynchronous Batch GETs: open a job, build its ranges into stored parts, finish it, delete expired results.

A request large enough (``batch.async_rules.respond_async``) opens a :class:`~batch.models.BulkJob`
cut into ranges of usage point ids; one task per range (``batch.tasks.build_range``) builds it with
the feed writer (``batch.feed_entries`` through ``batch.parts``) into the ``batch_results``
storage, then records its parts and marks the range done in one transaction. The range that
completes the job finishes it: the job is ready, kept ``BATCH_RESULT_DAYS``, and the caller's
BatchList names each part (the notification outbox).

Safe to run twice, so a worker killed at any moment costs only time: a range already done is
skipped; files are written under a fresh attempt name and recorded only by the attempt that marks
the range done (under its row lock), so a part is never missing nor recorded twice; files of an
attempt that died are removed with the job's folder when it expires.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from batch import async_rules, parts, selectors_async
from batch import reach as reach_selectors
from batch.atom_http import certification_links, feed_uuid
from batch.feed_entries import usage_point_tree_entries
from batch.feed_params import FeedParams, parse_feed_params
from batch.models import BulkJob, BulkJobRange, BulkPart, Submission
from batch.selectors_async import JobTarget
from custodian.espi import writer
from custodian.espi.parser import Link
from custodian.exceptions import InvalidInput
from custodian.models import AuditEvent
from custodian.services import audit_record
from grants.models import ThirdParty
from grants.notifications import notification_enqueue_for_batch_result
from grants.resource_uris import espi_resource_base, resource_uri

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "batch_results"


class BatchPending(InvalidInput):
    """The same request is still being built (GBA's platform reads this 400 as a 202)."""

    code = "batch_pending"


def result_storage() -> Storage:
    """Return the storage parts are kept in (``STORAGES["batch_results"]``)."""
    return storages[STORAGE_ALIAS]


def request_key(*, caller_id: int, target: JobTarget, query: str) -> str:
    """Return the identity of a request: the same caller, target and feed query are the same request."""
    raw = f"{caller_id}\n{target.kind}\n{target.target_id}\n{query}"
    return hashlib.sha256(raw.encode()).hexdigest()


def normalized_query(query: dict[str, list[str]]) -> str:
    """Return a feed query in one canonical form (sorted names), so equal requests have equal keys."""
    return urlencode(sorted((name, values[0]) for name, values in query.items() if values))


# ---- URIs -----------------------------------------------------------------------------------------


def _target_path(job: BulkJob) -> tuple[str, ...]:
    if job.target_kind == Submission.TargetKind.BULK:
        return ("Batch", "Bulk", job.target_id)
    if job.target_kind == Submission.TargetKind.SUBSCRIPTION:
        return ("Batch", "Subscription", job.target_id)
    return ("Batch", "RetailCustomer", job.target_id, "UsagePoint")


def job_status_uri(job: BulkJob) -> str:
    """Return the absolute URI that tells a job's state (202 while building, the BatchList once ready)."""
    return f"{resource_uri(*_target_path(job))}?{urlencode({async_rules.CORRELATION_PARAM: str(job.correlation_id)})}"


def part_uri(job: BulkJob, key: str) -> str:
    """Return the absolute URI of one part (fetched with the same token as the request)."""
    query = urlencode({async_rules.CORRELATION_PARAM: str(job.correlation_id), async_rules.PART_PARAM: key})
    return f"{resource_uri(*_target_path(job))}?{query}"


def job_part_uris(job: BulkJob) -> list[str]:
    """Return the URIs of a job's parts in delivery order."""
    return [part_uri(job, part.key) for part in selectors_async.bulk_parts_of(job=job)]


# ---- Request ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobAnswer:
    """What a request got: a job (new, or the stored result of an identical request)."""

    job: BulkJob
    reused: bool


def bulk_job_request(
    *,
    caller: ThirdParty,
    target: JobTarget,
    query: dict[str, list[str]],
    params: FeedParams,
    paged: bool,
    usage_point_days: int,
) -> JobAnswer:
    """Open a job for a request (or return the stored result of an identical one); raise BatchPending if one is building.

    The usage points are read and cut into ranges here; one build task per range is queued when
    the transaction commits.
    """
    normalized = normalized_query(query)
    key = request_key(caller_id=caller.pk, target=target, query=normalized)
    now = timezone.now()
    if selectors_async.bulk_job_pending(request_key=key) is not None:
        raise BatchPending(async_rules.PENDING_MESSAGE)
    stored = selectors_async.bulk_job_reusable(request_key=key, now=now)
    if stored is not None:
        with transaction.atomic():
            notification_enqueue_for_batch_result(
                third_party=caller, resources=job_part_uris(stored), bulk_user=stored.bulk_user, grant=stored.grant
            )
            transaction.on_commit(_deliver_soon)
        return JobAnswer(job=stored, reused=True)
    ids = selectors_async.request_usage_point_ids(target=target, params=params, paged=paged)
    ranges = async_rules.usage_point_ranges(ids, per_range=int(settings.BATCH_RANGE_USAGE_POINTS))
    try:
        with transaction.atomic():
            job = BulkJob.objects.create(
                caller=caller,
                target_kind=target.kind,
                target_id=target.target_id,
                bulk_user=target.bulk_user,
                grant=target.grant,
                customer=target.customer,
                query=normalized,
                request_key=key,
                requested_at=now,
                usage_points=len(ids),
                usage_point_days=usage_point_days,
            )
            rows = BulkJobRange.objects.bulk_create(
                [BulkJobRange(job=job, index=i, low_id=low, high_id=high) for i, (low, high) in enumerate(ranges)]
            )
            audit_record(
                action=AuditEvent.Action.BATCH_REQUESTED,
                actor_client=caller,
                customer=target.customer or (target.grant.customer if target.grant else None),
                obj=job,
                object_id=str(job.correlation_id),
                summary=f"{caller.name} asked for {'/'.join(_target_path(job))} asynchronously",
                detail={"usage_points": len(ids), "usage_point_days": usage_point_days, "ranges": len(rows)},
            )
            range_ids = [row.pk for row in rows] or list(
                BulkJobRange.objects.filter(job=job).order_by("index").values_list("pk", flat=True)
            )
            transaction.on_commit(lambda: _dispatch(range_ids))
    except IntegrityError:
        # Another request with the same key opened its job between the check and the insert.
        raise BatchPending(async_rules.PENDING_MESSAGE) from None
    return JobAnswer(job=job, reused=False)


def _dispatch(range_ids: list[int]) -> None:
    from batch.tasks import build_range

    for range_id in range_ids:
        build_range.delay(range_id)


def _deliver_soon() -> None:
    from grants.tasks import deliver_notifications

    # Delivery POSTs outside any transaction; inside one (a caller's own), the beat round sends it.
    if not transaction.get_connection().in_atomic_block:
        deliver_notifications.delay()


# ---- Build --------------------------------------------------------------------------------------


def _range_reach(job: BulkJob, job_range: BulkJobRange) -> reach_selectors.RangeReach:
    low, high = job_range.low_id, job_range.high_id
    if job.bulk_user is not None:
        return reach_selectors.reach_for_bulk_range(
            bulk_user=job.bulk_user, low_id=low, high_id=high, at=job.requested_at
        )
    if job.grant is not None:
        return reach_selectors.reach_for_grant_range(grant=job.grant, low_id=low, high_id=high, at=job.requested_at)
    if job.customer is not None:
        return reach_selectors.reach_for_customer_range(customer=job.customer, low_id=low, high_id=high)
    return reach_selectors.RangeReach(reaches=[], grant_ids={}, grants=[])


def _feed_head(job: BulkJob, key: str) -> bytes:
    """Return the opening of a part's feed, up to its first entry."""
    paths = writer.ResourcePaths(base=espi_resource_base())
    self_link = paths.feed_self(*_target_path(job))
    query = urlencode({async_rules.CORRELATION_PARAM: str(job.correlation_id), async_rules.PART_PARAM: key})
    links = [Link("self", f"{self_link.href}?{query}", self_link.type), *certification_links()]
    chunks = writer.feed_chunks(
        feed_uuid=feed_uuid(f"{'/'.join(_target_path(job))}/{job.caller_id}/{job.correlation_id}/{key}"),
        title=f"Green Button data, {' '.join(_target_path(job)[1:3])}, part {key}",
        updated=job.requested_at,
        links=links,
        entries=(),
    )
    return b"".join(chunks)[: -len(parts.FOOTER)]


def _units(reach: reach_selectors.RangeReach, params: FeedParams) -> Iterator[tuple[int, Iterator]]:
    base = espi_resource_base()
    for up_reach in reach.reaches:
        # One usage point at a time, so each part knows whose data it holds and writes its own shared entries.
        yield up_reach.usage_point_id, usage_point_tree_entries(reaches=[up_reach], params=params, base=base)


def part_key(job_range: BulkJobRange, seq: int) -> str:
    """Return a part's name in its URI: ``{range}-{seq}``, both 1-based (stable across retries of the range)."""
    return f"{job_range.index + 1}-{seq}"


def bulk_range_build(*, range_id: int) -> int:
    """Build one range of a job into stored parts and record them; return how many parts it recorded (0 if done before).

    A grant revoked since the request is left out (the reach is read now); windows are those at the
    request. Finishes the job when this was its last range.
    """
    job_range = BulkJobRange.objects.select_related("job", "job__bulk_user", "job__grant", "job__customer").get(
        pk=range_id
    )
    job = job_range.job
    if job_range.status == BulkJobRange.Status.DONE or job.status != BulkJob.Status.BUILDING:
        return 0
    BulkJobRange.objects.filter(pk=range_id).update(attempts=job_range.attempts + 1)
    started = timezone.now()
    params = parse_feed_params(query=parse_qs(job.query))
    reach = _range_reach(job, job_range)
    storage = result_storage()
    attempt = uuid.uuid4().hex[:12]
    folder = f"{job.correlation_id}/{job_range.index + 1:05d}/{attempt}"
    saved: list[tuple[parts.WrittenPart, str]] = []
    with tempfile.TemporaryDirectory(prefix="bulk-part-") as tmp:
        written = parts.write_parts(
            units=_units(reach, params),
            head=lambda seq: _feed_head(job, part_key(job_range, seq)),
            limit=int(settings.BATCH_CHUNK_BYTES),
            directory=Path(tmp),
        )
        for part in written:
            with part.path.open("rb") as handle:
                name = storage.save(f"{folder}/{part.seq:05d}.xml", File(handle))
            saved.append((part, name))
    with transaction.atomic():
        locked = BulkJobRange.objects.select_for_update().get(pk=range_id)
        if locked.status == BulkJobRange.Status.DONE:
            _delete_names(storage, [name for _, name in saved])
            return 0
        for part, name in saved:
            row = BulkPart.objects.create(
                job=job,
                range=locked,
                seq=part.seq,
                key=part_key(locked, part.seq),
                storage_name=name,
                bytes=part.bytes,
                sha256=part.sha256,
                usage_points=len(part.usage_point_ids),
                created_at=started,
            )
            grant_ids = sorted({g for up in part.usage_point_ids for g in reach.grant_ids.get(up, ())})
            if grant_ids:
                row.grants.add(*grant_ids)
        locked.status = BulkJobRange.Status.DONE
        locked.built_at = timezone.now()
        locked.save(update_fields=["status", "built_at"])
        _finish_if_complete(job_id=job.pk)
    return len(saved)


def _finish_if_complete(*, job_id: int) -> None:
    # Under the job's row lock: exactly one range's transaction sees the last range done.
    job = BulkJob.objects.select_for_update(of=("self",)).select_related("caller", "bulk_user", "grant").get(pk=job_id)
    if job.status != BulkJob.Status.BUILDING:
        return
    if BulkJobRange.objects.filter(job=job).exclude(status=BulkJobRange.Status.DONE).exists():
        return
    now = timezone.now()
    job.status = BulkJob.Status.READY
    job.finished_at = now
    job.expires_at = now + timedelta(days=int(settings.BATCH_RESULT_DAYS))
    job.bytes = sum(BulkPart.objects.filter(job=job).values_list("bytes", flat=True))
    job.save(update_fields=["status", "finished_at", "expires_at", "bytes"])
    uris = job_part_uris(job)
    notification_enqueue_for_batch_result(
        third_party=job.caller, resources=uris, bulk_user=job.bulk_user, grant=job.grant
    )
    audit_record(
        action=AuditEvent.Action.BATCH_READY,
        actor_client=job.caller,
        obj=job,
        object_id=str(job.correlation_id),
        summary=f"Asynchronous {'/'.join(_target_path(job))} ready: {len(uris)} parts",
        detail={"parts": len(uris), "bytes": job.bytes, "expires_at": job.expires_at.isoformat()},
    )
    transaction.on_commit(_deliver_soon)


# ---- Expiry -------------------------------------------------------------------------------------


def _delete_names(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:  # pragma: no cover - a file already gone is what we wanted
            logger.warning("could not delete batch result file %s", name)


def _delete_tree(storage: Storage, folder: str) -> None:
    """Delete every file under ``folder`` (the parts and any attempt a killed worker left)."""
    try:
        directories, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    _delete_names(storage, [f"{folder}/{name}" for name in files])
    for directory in directories:
        _delete_tree(storage, f"{folder}/{directory}")
    if isinstance(storage, FileSystemStorage):
        # File system: remove the emptied folder too. Object stores have no folders (and every Storage
        # has a ``path`` method, which raises on them: tests/feeds/test_batch_async_s3.py).
        path = Path(storage.path(folder))
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def bulk_ranges_stale(*, now: datetime | None = None, older_than: timedelta) -> list[int]:
    """Return the ranges still pending of jobs building for longer than ``older_than`` (their task may be lost)."""
    moment = now or timezone.now()
    return list(
        BulkJobRange.objects.filter(
            status=BulkJobRange.Status.PENDING,
            job__status=BulkJob.Status.BUILDING,
            job__requested_at__lte=moment - older_than,
        )
        .order_by("job_id", "index")
        .values_list("pk", flat=True)
    )


def bulk_results_expire(*, now: datetime | None = None) -> int:
    """Delete the parts of results past ``BATCH_RESULT_DAYS`` (and of jobs never finished in that time); return how many jobs."""
    moment = now or timezone.now()
    cutoff = moment - timedelta(days=int(settings.BATCH_RESULT_DAYS))
    due = list(
        BulkJob.objects.filter(status=BulkJob.Status.READY, expires_at__lte=moment).values_list("pk", flat=True)
    ) + list(
        BulkJob.objects.filter(status=BulkJob.Status.BUILDING, requested_at__lte=cutoff).values_list("pk", flat=True)
    )
    storage = result_storage()
    done = 0
    for job_id in due:
        with transaction.atomic():
            job = BulkJob.objects.select_for_update(of=("self",)).select_related("caller").get(pk=job_id)
            if job.status not in (BulkJob.Status.READY, BulkJob.Status.BUILDING):
                continue
            was = job.status
            count = BulkPart.objects.filter(job=job).count()
            BulkPart.objects.filter(job=job).delete()
            job.status = BulkJob.Status.EXPIRED if was == BulkJob.Status.READY else BulkJob.Status.FAILED
            if was == BulkJob.Status.BUILDING:
                job.error = "not finished within the retention period"
            job.save(update_fields=["status", "error"])
            audit_record(
                action=AuditEvent.Action.BATCH_EXPIRED,
                actor_client=job.caller,
                obj=job,
                object_id=str(job.correlation_id),
                summary=f"Asynchronous {'/'.join(_target_path(job))} result deleted ({count} parts)",
                detail={"parts": count, "was": was},
            )
            transaction.on_commit(functools.partial(_delete_tree, storage, str(job.correlation_id)))
        done += 1
    return done
