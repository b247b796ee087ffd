"""The ``cursor`` of a Bulk feed's ``next`` link: where the next page starts, sealed.

A Bulk feed pages over its usage points in id order. ``start-index`` alone is an OFFSET (the
database walks every earlier row: the last page of a big bulk costs more than the first), so the
``next`` link also carries the last usage point of the page it follows, and the next page starts
after it (keyset). The cursor is encrypted and authenticated (Fernet under a key derived from
``SECRET_KEY``, as ``grants.sealing`` does): clients can neither read internal ids from it nor forge
one. It is bound to its bulk and to the ``start-index`` it was issued with; with another start-index
or bulk it is ignored and the page is cut by start-index alone, so a client that computes its own
start-index keeps working. A cursor that does not open is 400.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from custodian.exceptions import InvalidInput

_PURPOSE = b"batch.bulk_feed.cursor:"


def _keys() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(hashlib.sha256(_PURPOSE + key.encode()).digest())) for key in keys]
    )


def bulk_cursor_seal(*, bulk_user_id: int, start_index: int, after_usage_point_id: int) -> str:
    """Return the cursor of the page at ``start_index`` of a bulk: it starts after that usage point."""
    payload = f"{bulk_user_id}:{start_index}:{after_usage_point_id}".encode()
    return _keys().encrypt(payload).decode("ascii").rstrip("=")


def bulk_cursor_open(cursor: str | None, *, bulk_user_id: int, start_index: int) -> int | None:
    """Return the usage point id the page starts after, or None if no cursor or not this page's.

    Raise InvalidInput (400) for a cursor this server did not write.
    """
    if not cursor:
        return None
    try:
        raw = _keys().decrypt((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        bulk, index, after = (int(part) for part in raw.decode("ascii").split(":"))
    except (InvalidToken, ValueError, UnicodeError):
        raise InvalidInput(
            "cursor is not one this server wrote; follow the feed's next link as given, or leave cursor out.",
            code="invalid_query",
            extra={"parameter": "cursor"},
        ) from None
    if bulk != bulk_user_id or index != start_index:
        return None
    return after
