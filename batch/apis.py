"""Batch POST endpoints (uploads filtered entry by entry to the caller's grants).

HTTP only: check the headers and query, resolve the target from the URL and the token, call
``batch.services.batch_submit``, and answer with its report as JSON or as an Atom feed. With
``Prefer: respond-async`` the body is spooled instead (``batch.services_async.batch_spool``), a
worker applies it, and the answer is 202 with the status URL (``batch.submission_apis``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from batch import async_rules, reports, selectors, services, services_async, submission_apis, tasks
from batch.models import Submission
from custodian.exceptions import DomainError
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    bulk_user_for_request,
    grant_for_subscription,
    request_third_party,
    request_token_kind,
)

ATOM = "application/atom+xml"
ACCEPTED_CONTENT_TYPES = (ATOM, "application/xml")
QUERY_PARAMETERS = {"mode": {"strict", "partial"}, "dry_run": {"0", "1", "true", "false"}}
logger = logging.getLogger(__name__)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")


class _StreamParser(BaseParser):
    """Hand the request stream to the view unread: the service streams it to disk under a byte cap."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream


class AtomStreamParser(_StreamParser):
    media_type = ATOM


class XmlStreamParser(_StreamParser):
    media_type = "application/xml"


class AtomReportRenderer(BaseRenderer):
    """Lets clients ask for the Atom report; the view builds the body itself (a streamed feed)."""

    media_type = ATOM
    format = "atom"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else b""


def _check_request(request: Any) -> tuple[int, services.BatchOptions]:
    """Refuse what cannot be a batch before any byte of the body is read; return its length and options."""
    meta = request.META
    if meta.get("HTTP_TRANSFER_ENCODING", "").strip().lower() not in ("", "identity"):
        raise DomainError(
            "Send the body with a Content-Length; chunked bodies are refused.", code="length_required", status_code=411
        )
    raw_length = (meta.get("CONTENT_LENGTH") or "").strip()
    if not raw_length.isdigit():
        raise DomainError("A Content-Length header is required.", code="length_required", status_code=411)
    length = int(raw_length)
    if length > settings.BATCH_MAX_BODY_BYTES:
        raise services.PayloadTooLarge(f"The body is larger than {settings.BATCH_MAX_BODY_BYTES} bytes.")
    content_type = (meta.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise DomainError(
            "Send the feed as application/atom+xml (or application/xml).",
            code="unsupported_media_type",
            status_code=415,
        )
    for name in request.query_params:
        values = request.query_params.getlist(name)
        allowed = QUERY_PARAMETERS.get(name)
        if allowed is None or len(values) != 1 or values[0].lower() not in allowed:
            raise DomainError(
                f"Query parameter {name[:40]!r} is not one of mode=strict|partial, dry_run=0|1.",
                code="bad_query",
                status_code=400,
            )
    key = meta.get("HTTP_IDEMPOTENCY_KEY", "")
    if key and not _IDEMPOTENCY_KEY.match(key):
        raise DomainError("The Idempotency-Key must be 1 to 255 visible ASCII characters.", code="bad_idempotency_key")
    if length == 0:
        raise DomainError("The body is empty.", code="malformed", extra={"line": 1, "column": 1})
    options = services.BatchOptions(
        strict=request.query_params.get("mode", "partial").lower() == "strict",
        dry_run=request.query_params.get("dry_run", "0").lower() in ("1", "true"),
        idempotency_key=key,
        content_type=content_type,
    )
    return length, options


def _enqueue(request: Any, submission: Submission) -> Response:
    """Send a spooled submission to the workers and answer 202 with its status URL (503 if it cannot be sent)."""
    try:
        tasks.apply_submission.delay(submission.pk)
    except Exception:  # the broker refused or is unreachable: nothing was applied, nothing will be
        logger.exception("Batch submission %s could not be queued", submission.public_id)
        services_async.submission_enqueue_failed(submission=submission)
        raise DomainError(
            "The upload could not be queued; nothing was applied. Retry later.",
            code="unavailable",
            status_code=503,
            retry_after=30,
        ) from None
    submission.refresh_from_db()  # without a broker the task has already run in this process
    return submission_apis.accepted_response(request, submission)


class _UploadApi(APIView):
    authentication_classes = [EspiBearerAuthentication]
    parser_classes = [AtomStreamParser, XmlStreamParser]
    renderer_classes = [JSONRenderer, AtomReportRenderer]
    target_kind = ""

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are always JSON, whatever report format was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def target(self, request: Any, **kwargs: Any) -> services.BatchTarget:
        raise NotImplementedError

    def post(self, request: Any, **kwargs: Any) -> Any:
        length, options = _check_request(request)
        target = self.target(request, **kwargs)
        stream = request.stream
        if stream is None:
            raise DomainError("The body is empty.", code="malformed", extra={"line": 1, "column": 1})
        if async_rules.prefers_async(request.META.get("HTTP_PREFER", "")):
            spooled = services_async.batch_spool(target=target, options=options, stream=stream, content_length=length)
            if isinstance(spooled, Submission):
                return _enqueue(request, spooled)
            result = spooled
        else:
            result = services.batch_submit(target=target, options=options, stream=stream, content_length=length)
        if result.submission.outcome in services_async.PENDING:
            return submission_apis.accepted_response(request, result.submission, replayed=True)
        headers = {"X-Submission-Id": result.submission.public_id}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        if request.accepted_renderer.format == "atom":
            return StreamingHttpResponse(
                reports.report_feed_chunks(result.submission, report=result.report, self_href=request.path),
                status=result.http_status,
                content_type=ATOM,
                headers=headers,
            )
        if not reports.report_is_small(result.submission, result.report):
            # One row per entry, read from disk as the body is sent: never the whole report in memory.
            return StreamingHttpResponse(
                reports.report_json_chunks(result.submission, result.report),
                status=result.http_status,
                content_type="application/json",
                headers=headers,
            )
        return Response(
            reports.report_json(result.submission, result.report), status=result.http_status, headers=headers
        )

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, StreamingHttpResponse):
            return response
        return super().finalize_response(request, response, *args, **kwargs)


class BulkUploadApi(_UploadApi):
    """POST Batch/Bulk/{bulkId}: the Third Party's client token; entries filtered to the bulk's active grants."""

    permission_classes = [IsThirdPartyClientToken]

    def target(self, request: Any, *, bulk_id: str) -> services.BatchTarget:
        bulk_user = bulk_user_for_request(request, bulk_id)
        return services.BatchTarget(
            kind=Submission.TargetKind.BULK,
            target_id=bulk_id,
            caller=request_third_party(request),
            token_kind=request_token_kind(request) or "",
            bulk_user=bulk_user,
        )


class SubscriptionUploadApi(_UploadApi):
    """POST Batch/Subscription/{subscriptionId}: an access token of that grant; entries filtered to it."""

    permission_classes = [HasGrantAccessToken]

    def target(self, request: Any, *, subscription_id: str) -> services.BatchTarget:
        grant = grant_for_subscription(request, subscription_id)
        return services.BatchTarget(
            kind=Submission.TargetKind.SUBSCRIPTION,
            target_id=subscription_id,
            caller=request_third_party(request),
            token_kind=request_token_kind(request) or "",
            grant=grant,
        )


class RetailCustomerUploadApi(_UploadApi):
    """POST Batch/RetailCustomer/{retailCustomerId}/UsagePoint: the utility's back-office token; that customer only."""

    permission_classes = [IsCustodianClientToken]

    def target(self, request: Any, *, retail_customer_id: str) -> services.BatchTarget:
        customer = selectors.retail_customer_get(public_id=retail_customer_id)
        return services.BatchTarget(
            kind=Submission.TargetKind.RETAIL_CUSTOMER,
            target_id=retail_customer_id,
            caller=request_third_party(request),
            token_kind=request_token_kind(request) or "",
            customer=customer,
        )
