"""HTTP helpers shared by the ESPI GET views: streamed Atom responses, stable feed ids, query access."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.http import StreamingHttpResponse

ATOM_CONTENT_TYPE = "application/atom+xml"
XML_CONTENT_TYPE = "application/xml"
# A fixed namespace so a feed's atom:id is stable for the same URL (RFC 4287 section 4.2.6).
FEED_NAMESPACE = uuid.UUID("0b7f3f0e-5f5c-4f4e-9d55-6a2b1c7e9a10")


def atom_stream(chunks: Iterable[bytes], *, content_type: str = ATOM_CONTENT_TYPE) -> StreamingHttpResponse:
    """Return a streamed response that no shared cache keeps (it is one customer's data)."""
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def feed_uuid(path: str) -> uuid.UUID:
    """Return the stable atom:id of the feed at ``path`` (relative to the resource root)."""
    return uuid.uuid5(FEED_NAMESPACE, path)


def query_params(request) -> dict[str, list[str]]:
    """Return the request's query string as name -> all values, so a repeated parameter can be refused."""
    return dict(request.GET.lists())
