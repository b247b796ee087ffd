"""Count every ESPI API request's outcome: who asked, for what, the status class and the bytes actually sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from batch.services_requests import api_request_kind, api_request_record
from custodian.middleware import ESPI_RESOURCE_ROOT

logger = logging.getLogger(__name__)


class _Outcome:
    """One request's outcome, recorded when the response is closed (after its last byte went out)."""

    def __init__(self, request: HttpRequest, response: HttpResponse) -> None:
        self.request = request
        self.status = response.status_code
        self.day = timezone.localdate()
        self.sent = 0
        self.recorded = False

    def counting(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield ``chunks``, adding up the bytes handed to the server (a dropped connection stops it)."""
        for chunk in chunks:
            self.sent += len(chunk)
            yield chunk

    def record(self) -> None:
        if self.recorded:
            return
        self.recorded = True
        match = getattr(self.request, "resolver_match", None)
        try:
            api_request_record(
                day=self.day,
                third_party_id=getattr(self.request, "espi_client_id", None),
                kind=api_request_kind(match.url_name if match else None),
                method=self.request.method or "",
                status=self.status,
                bytes_sent=self.sent,
            )
        except DatabaseError as exc:  # counting never turns a served response into an error
            logger.warning("ESPI request outcome not recorded: %s", exc)


class ApiRequestOutcomeMiddleware:
    """Record one counter upsert per request under the ESPI resource root (``batch.models.ApiRequestCount``).

    The Third Party is the client of the token the ESPI authentication accepted
    (``grants.permissions.EspiBearerAuthentication`` sets ``request.espi_client_id``): a wrong-kind
    token is still its client's failed request; no valid token is an unidentified one. A streamed
    feed counts the bytes its iterator handed to the server, so a download cut short counts what
    was sent; a HEAD sends no body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(ESPI_RESOURCE_ROOT):
            return self.get_response(request)
        response = self.get_response(request)
        outcome = _Outcome(request, response)
        if request.method == "HEAD":
            pass
        elif response.streaming:
            response.streaming_content = outcome.counting(response.streaming_content)  # type: ignore[attr-defined]
        else:
            outcome.sent = len(response.content)
        # Django closes the response once the server has sent it (or the client went away).
        response._resource_closers.append(outcome.record)  # type: ignore[attr-defined]
        return response
