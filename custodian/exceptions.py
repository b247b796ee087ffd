"""Domain errors shared by every app; mapped to HTTP once, in ``custodian.api_errors``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the portal refused an operation; ``code`` is machine-readable."""

    code = "error"
    status_code = 400
    #: Seconds to send as ``Retry-After`` (0: no header).
    retry_after = 0

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.retry_after = retry_after
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}


class NotFound(DomainError):
    """The object does not exist, or is not the caller's: the two answers are the same."""

    code = "not_found"
    status_code = 404


class NotPermitted(DomainError):
    code = "forbidden"
    status_code = 403


class Conflict(DomainError):
    code = "conflict"
    status_code = 409


class InvalidInput(DomainError):
    code = "invalid"
    status_code = 400


class StorageUnavailable(DomainError):
    """Payload storage is full or read-only: nothing was stored or applied, and a retry may succeed later."""

    code = "storage_unavailable"
    status_code = 503
    retry_after = 60
