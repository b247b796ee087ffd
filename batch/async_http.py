"""HTTP of asynchronous Batch GETs: decide 202 or stream, answer 202, tell a job's state, serve a part.

The Batch GET views (``batch.feeds``) call :func:`maybe_async` before streaming and
:func:`correlation_answer` when the query names a job (``correlationID``).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from rest_framework.response import Response

from batch import async_rules, selectors_async, services_bulk_jobs
from batch.atom_http import ATOM_CONTENT_TYPE, XML_CONTENT_TYPE
from batch.feed_params import PAGING_PARAMS, FeedParams
from batch.models import BulkJob, BulkPart, Submission
from batch.selectors_async import JobTarget
from custodian.exceptions import DomainError, InvalidInput
from custodian.services_access_log import bulk_data_read_record, customer_data_read_record, data_read_record
from grants.notifications import batch_list_document
from grants.permissions import request_third_party

RETRY_AFTER_SECONDS = 30
_READ_BYTES = 256 * 1024


class PartWithdrawn(DomainError):
    """A part holds data of a grant that no longer reaches it: never served again."""

    code = "part_withdrawn"
    status_code = 410


def names_job(query: dict[str, list[str]]) -> bool:
    """Return whether the query asks about a job (its state or a part) rather than for a feed."""
    return async_rules.CORRELATION_PARAM in query


def maybe_async(
    request,
    *,
    target: JobTarget,
    query: dict[str, list[str]],
    params: FeedParams,
    paged: bool | None = None,
    usage_points: int | None = None,
) -> Response | None:
    """Answer 202 and queue the work when the request is large or asks for it; None means stream it now.

    ``usage_points``: how many usage points the target reaches, when the caller already counted them.
    """
    explicit_paging = paged if paged is not None else any(name in query for name in PAGING_PARAMS)
    prefer = request.headers.get("Prefer")
    asked = async_rules.prefers_async(prefer)
    size = selectors_async.request_size(target=target, params=params, paged=explicit_paging, usage_points=usage_points)
    days = async_rules.request_days(
        params=params, longest_history_seconds=size.longest_history_seconds, now=timezone.now()
    )
    work = size.usage_points * days
    if not async_rules.respond_async(prefer=prefer, usage_point_days=work):
        return None
    answer = services_bulk_jobs.bulk_job_request(
        caller=request_third_party(request),
        target=target,
        query=query,
        params=params,
        paged=explicit_paging,
        usage_point_days=work,
    )
    return accepted(answer.job, preference_applied=asked)


def _job_body(job: BulkJob) -> dict[str, object]:
    return {
        "correlationID": str(job.correlation_id),
        "status": job.status,
        "location": services_bulk_jobs.job_status_uri(job),
        "requested": job.requested_at.isoformat(),
    }


def accepted(job: BulkJob, *, preference_applied: bool = False) -> Response:
    """Return 202 Accepted naming the job: its correlation id, and its status URI in ``Location``."""
    headers = {
        "Location": services_bulk_jobs.job_status_uri(job),
        "Retry-After": str(RETRY_AFTER_SECONDS),
        "Cache-Control": "no-store",
    }
    if preference_applied:
        headers["Preference-Applied"] = async_rules.RESPOND_ASYNC
    return Response(_job_body(job), status=202, headers=headers)


def _job_query(query: dict[str, list[str]]) -> tuple[str, str | None]:
    allowed = {async_rules.CORRELATION_PARAM, async_rules.PART_PARAM}
    for name, values in query.items():
        if name not in allowed:
            raise InvalidInput(
                f"A batch result is read with {async_rules.CORRELATION_PARAM} and {async_rules.PART_PARAM} only, "
                f"not {name[:40]!r}.",
                code="invalid_query",
                extra={"parameter": name[:40]},
            )
        if len(values) != 1:
            raise InvalidInput(f"{name} is given more than once.", code="invalid_query", extra={"parameter": name})
    part = query.get(async_rules.PART_PARAM)
    return query[async_rules.CORRELATION_PARAM][0], part[0] if part else None


def correlation_answer(
    request, *, target: JobTarget, query: dict[str, list[str]]
) -> HttpResponse | StreamingHttpResponse | Response:
    """Answer ``?correlationID=...``: 202 while building, then the BatchList of parts; with ``&part=``, the part.

    Only the caller that asked sees its job; another's or an unknown id is the same 404.
    """
    correlation_id, key = _job_query(query)
    client = request_third_party(request)
    job = selectors_async.bulk_job_get(caller_id=client.pk, target=target, correlation_id=correlation_id)
    if key is None:
        if job.status == BulkJob.Status.BUILDING:
            return accepted(job)
        body = batch_list_document(resources=services_bulk_jobs.job_part_uris(job))
        response = HttpResponse(body, content_type=XML_CONTENT_TYPE)
        response["Cache-Control"] = "no-store"
        return response
    part = selectors_async.bulk_part_get(job=job, key=key)
    if not selectors_async.bulk_part_servable(part=part):
        raise PartWithdrawn(
            "This part held data of a grant that has since been revoked or changed; request the data again."
        )
    path = request.get_full_path()
    if job.target_kind == Submission.TargetKind.RETAIL_CUSTOMER and job.customer is not None:
        customer_data_read_record(customer=job.customer, client=client, path=path)
    elif job.bulk_user is not None:
        # One row per request, however many grants the part holds (as a synchronous page).
        bulk_data_read_record(
            bulk_user=job.bulk_user,
            usage_points_by_grant=selectors_async.bulk_part_usage_points_by_grant(part=part),
            usage_point_range=(part.range.low_id, part.range.high_id - 1),
            client=client,
            path=path,
        )
    else:
        data_read_record(grants=part.grants.all(), client=client, path=path)
    return part_response(part)


def _file_chunks(part: BulkPart) -> Iterator[bytes]:
    with services_bulk_jobs.result_storage().open(part.storage_name, "rb") as handle:
        while chunk := handle.read(_READ_BYTES):
            yield chunk


def part_response(part: BulkPart) -> StreamingHttpResponse:
    """Stream a stored part as an Atom feed."""
    response = StreamingHttpResponse(_file_chunks(part), content_type=ATOM_CONTENT_TYPE)
    response["Content-Length"] = str(part.bytes)
    response["Cache-Control"] = "no-store"
    return response
