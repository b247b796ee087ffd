"""The status URL of a batch submission: ``GET Batch/Submission/{submissionId}`` (PRODUCT "Large requests").

A batch POST sent with ``Prefer: respond-async`` is answered ``202 Accepted`` with this URL in
``Location`` and in the body (:func:`accepted_response`); a worker applies it. The URL answers 202
with the progress (queued, or in progress since when) until it is done, then 200 with the report the
synchronous POST would have answered, and the status that answer would have had (``http_status``).

Only the token the submission could have been sent with reads it: the same grant's access token for
``Batch/Subscription``, the Third Party's client token (of that bulk, if it names one) for
``Batch/Bulk``, the back-office token for ``Batch/RetailCustomer``. Anyone else's id is the same 404
as a missing one.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from batch import reports, selectors
from batch.models import Submission
from batch.services_async import PENDING
from custodian.exceptions import NotFound
from grants import tokens
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    request_third_party,
    request_token_kind,
)

#: Seconds a client polling a pending submission is asked to wait.
POLL_AFTER_SECONDS = 5


PROGRESS: dict[str, str] = {
    Submission.Outcome.QUEUED: "waiting for a worker",
    Submission.Outcome.IN_PROGRESS: "a worker is applying it",
}


def status_url(request: Any, submission: Submission) -> str:
    return request.build_absolute_uri(reverse("espi-batch-submission", args=[submission.public_id]))


def _reaches(request: Any, submission: Submission) -> bool:
    """Return whether the request's token is one the submission could have been sent with."""
    if submission.caller_id != request_third_party(request).pk:
        return False
    kind = request_token_kind(request)
    if submission.target_kind == Submission.TargetKind.SUBSCRIPTION:
        grant = getattr(request, "espi_grant", None)
        return kind == tokens.TOKEN_KIND_ACCESS and grant is not None and grant.pk == submission.grant_id
    if submission.target_kind == Submission.TargetKind.BULK:
        scoped = tokens.token_scope_bulk_id(access_token=request.auth)
        return kind == tokens.TOKEN_KIND_CLIENT and scoped in (None, submission.target_id)
    return kind == tokens.TOKEN_KIND_CUSTODIAN


def _pending_body(request: Any, submission: Submission) -> dict[str, Any]:
    return {
        "submission": submission.public_id,
        "status": submission.outcome if submission.outcome in PENDING else "done",
        "status_url": status_url(request, submission),
        "received_at": submission.received_at.isoformat(),
        "started_at": submission.started_at.isoformat() if submission.started_at else None,
        "bytes": submission.bytes,
        "sha256": submission.sha256,
        "progress": PROGRESS.get(submission.outcome, "done: the status URL answers with the report"),
    }


def accepted_response(request: Any, submission: Submission, *, replayed: bool = False) -> Response:
    """Answer a spooled batch POST: 202, ``Location`` and the body naming the status URL."""
    url = status_url(request, submission)
    headers = {
        "Location": url,
        "X-Submission-Id": submission.public_id,
        "Preference-Applied": "respond-async",
        "Retry-After": str(POLL_AFTER_SECONDS),
    }
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(_pending_body(request, submission), status=202, headers=headers)


class SubmissionStatusApi(APIView):
    """GET Batch/Submission/{submissionId}: 202 with progress while pending, then 200 with the report."""

    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [HasGrantAccessToken | IsThirdPartyClientToken | IsCustodianClientToken]
    renderer_classes = [JSONRenderer]

    def get(self, request: Any, *, submission_id: str) -> Any:
        submission = selectors.submission_get(public_id=submission_id)
        if submission is None or not _reaches(request, submission):
            raise NotFound("No such submission.")
        if submission.outcome in PENDING:
            return Response(
                _pending_body(request, submission),
                status=202,
                headers={"Retry-After": str(POLL_AFTER_SECONDS), "X-Submission-Id": submission.public_id},
            )
        body = {
            "submission": submission.public_id,
            "status": "done",
            "outcome": submission.outcome,
            "http_status": submission.http_status,
            "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
        }
        headers = {"X-Submission-Id": submission.public_id}
        if not reports.report_is_small(submission, submission.report):
            # One row per entry, read from disk as the body is sent (batch.reports).
            return StreamingHttpResponse(
                reports.report_in_body_chunks(body, submission, submission.report),
                status=200,
                content_type="application/json",
                headers=headers,
            )
        body["report"] = reports.report_json(submission, submission.report)
        return Response(body, status=200, headers=headers)
