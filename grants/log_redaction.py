"""Credentials never reach a log record: URL query credentials are masked, oauthlib's arguments dropped.

ESPI compatibility lets a Third Party send token parameters in the URL (``/oauth/token?code=...``),
so the request line a server logs can carry a client secret, a code or a token; oauthlib logs issued
tokens, codes and refresh tokens at DEBUG. A log-record factory (installed once, when the app is
ready) rewrites every record before any handler, filter or level sees it:

- in every record, the value of a credential parameter (``client_secret=``, ``code=``,
  ``refresh_token=``...) in its message or string arguments becomes ``[redacted]``;
- records of ``oauthlib`` and ``oauth2_provider`` keep their message but lose their arguments
  (request objects, token dicts, codes), whatever the level.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
CREDENTIAL_PARAMETERS = (
    "access_token",
    "client_assertion",
    "client_secret",
    "code",
    "code_verifier",
    "password",
    "refresh_token",
    "registration_access_token",
    "token",
)
_CREDENTIAL_IN_URL = re.compile(r"(?i)(?<![A-Za-z0-9_])(" + "|".join(CREDENTIAL_PARAMETERS) + r")(=|%3D)[^&\s\"'<>;]*")
_LIBRARY_LOGGERS = ("oauthlib", "oauth2_provider")


def redact_credentials(text: str) -> str:
    """Return ``text`` with the value of every credential parameter replaced by ``[redacted]``."""
    return _CREDENTIAL_IN_URL.sub(lambda match: f"{match.group(1)}{match.group(2)}{REDACTED}", text)


def _redact_arg(value: Any) -> Any:
    return redact_credentials(value) if isinstance(value, str) else value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite one record in place (see the module docstring) and return it."""
    if record.name.split(".", 1)[0] in _LIBRARY_LOGGERS and record.args:
        if isinstance(record.args, dict):
            record.args = dict.fromkeys(record.args, REDACTED)
        else:
            record.args = tuple(REDACTED for _ in record.args)
    elif record.args:
        if isinstance(record.args, dict):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        else:
            record.args = tuple(_redact_arg(value) for value in record.args)
    if isinstance(record.msg, str):
        record.msg = redact_credentials(record.msg)
    return record


def install() -> None:
    """Wrap the log-record factory once so every record is redacted at creation."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts_credentials", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory.redacts_credentials = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
