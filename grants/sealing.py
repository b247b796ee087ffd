"""Client secrets sealed at rest, so the registration token's ApplicationInformation read can return them.

django-oauth-toolkit stores a client secret as a one-way hash. ESPI (and RFC 7592 section 3) give the
secret back to a Third Party that reads its own registration with its registration_access_token, and
GBA's certification harness copies it from there. The raw secret is therefore also kept sealed:
encrypted (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from ``SECRET_KEY`` (a key of
``SECRET_KEY_FALLBACKS`` still opens it). Only :func:`secret_unseal`, called by that one read, opens
it: the admin never shows it after creation, and a database dump without ``SECRET_KEY`` yields nothing.
A secret sealed under a key that is gone opens to ``""`` (the read then shows no secret; staff rotate it).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PURPOSE = b"grants.client_secret.sealed:"


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_PURPOSE + secret_key.encode()).digest()))


def _keys() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def secret_seal(raw_secret: str) -> str:
    """Return ``raw_secret`` encrypted under the current key (empty for an empty secret)."""
    if not raw_secret:
        return ""
    return _keys().encrypt(raw_secret.encode()).decode("ascii")


def secret_unseal(sealed: str) -> str:
    """Return the raw secret of a sealed value, or ``""`` if none is sealed or its key is gone."""
    if not sealed:
        return ""
    try:
        return _keys().decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return ""
