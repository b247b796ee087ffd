"""Read ids out of ESPI hrefs by whole path segments, never by substring."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote, urlsplit

RESOURCE_ROOT = "/espi/1_1/resource"


# Characters after which urlsplit's answer may differ from a plain split (query, fragment, and the
# tab/newline bytes it removes); hrefs without them take the fast path in _path.
_SPECIAL = re.compile(r"[?#\t\r\n]")


def _path(href: str) -> str:
    """Return ``urlsplit(href).path``: computed directly for plain http(s) URLs and paths (every href of a feed)."""
    if _SPECIAL.search(href) is None:
        head = href[:8].lower()
        if head.startswith(("https://", "http://")):
            slash = href.find("/", head.index("//") + 2)
            return href[slash:] if slash != -1 else ""
        if ":" not in href and not href.startswith("//"):
            return href
    return urlsplit(href).path


def href_segments(href: str) -> list[str]:
    """Return the decoded, non-empty path segments of an href (absolute or relative)."""
    path = _path(href.strip())
    if "%" in path:
        return [unquote(part) for part in path.split("/") if part]
    return [part for part in path.split("/") if part]


def href_segment_id(href: str | None, name: str) -> str | None:
    """Return the id after the LAST whole ``name`` segment (``UsagePoint/{id}``), or None if absent."""
    if not href:
        return None
    parts = href_segments(href)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == name:
            return parts[i + 1]
    return None


def href_ids(href: str | None) -> dict[str, str]:
    """Return every ``Name/{id}`` pair of an href as a dict (the last occurrence wins)."""
    if not href:
        return {}
    if len(href) <= _CACHED_HREF_LENGTH:
        return dict(_href_id_pairs(href))
    return dict(_id_pairs(href))


# A feed repeats its hrefs (every block of a meter reading has the same "up"): short ones are cached.
# Bounded: at most 4096 hrefs of at most 512 characters.
_CACHED_HREF_LENGTH = 512


def _id_pairs(href: str) -> tuple[tuple[str, str], ...]:
    parts = href_segments(href)
    return tuple({parts[i]: parts[i + 1] for i in range(len(parts) - 1) if parts[i][:1].isupper()}.items())


_href_id_pairs = lru_cache(maxsize=4096)(_id_pairs)
