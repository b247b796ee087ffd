"""The one place that turns errors into API responses (DRF ``EXCEPTION_HANDLER``)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from custodian.exceptions import DomainError

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database is unreachable.
RETRY_AFTER_UNAVAILABLE = 30


def error_body(code: str, message: Any, **extra: Any) -> dict[str, Any]:
    """Return an API error body: ``error``, ``detail`` and, as OAuth clients read it, ``error_description``."""
    body = {"error": code, "detail": message, **extra}
    if isinstance(message, str):
        body.setdefault("error_description", message)
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain, Django and DRF errors to ``{"error": code, "detail": message, "error_description": message}``."""
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code, headers=headers)
    if isinstance(exc, OperationalError | InterfaceError):
        # PostgreSQL down, restarting or unreachable: nothing was committed, and the client may retry.
        logger.error("Database unavailable: %s", type(exc).__name__)
        return Response(
            error_body("unavailable", "The service is temporarily unavailable. Retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ValidationError):
        return Response({"error": "invalid", "detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = error_body(exc.default_code if not hasattr(exc, "get_codes") else _code(exc), detail)
        if isinstance(exc, exceptions.PermissionDenied) and "WWW-Authenticate" not in response:
            response["WWW-Authenticate"] = insufficient_scope_challenge(str(detail))
    return response


def insufficient_scope_challenge(description: str) -> str:
    """Return the RFC 6750 section 3.1 challenge of a valid token of the wrong kind (403)."""
    safe = "".join(ch for ch in description if ch not in '"\\' and 0x20 <= ord(ch) < 0x7F)
    return f'Bearer realm="espi", error="insufficient_scope", error_description="{safe}"'


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code
