"""HTTP helpers shared by the ESPI GET views: streamed Atom responses, stable feed ids, query access."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from urllib.parse import urlencode

from django.conf import settings
from django.http import StreamingHttpResponse

from batch.feed_params import FeedParams
from custodian.espi.parser import Link

ATOM_CONTENT_TYPE = "application/atom+xml"
XML_CONTENT_TYPE = "application/xml"
# A fixed namespace so a feed's atom:id is stable for the same URL (RFC 4287 section 4.2.6).
FEED_NAMESPACE = uuid.UUID("0b7f3f0e-5f5c-4f4e-9d55-6a2b1c7e9a10")
CERTIFICATE_URL = "https://cert.greenbuttonalliance.org/certificate/{id}"


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


def paged_feed_links(
    *, self_link: Link, query: str, params: FeedParams, has_more: bool, cursor: str | None = None
) -> list[Link]:
    """Return a feed's self link (with the query it was asked with) and, when more follow, its ``next`` link.

    ``cursor``: where the next page starts (a Bulk feed's keyset, ``batch.cursors``), carried
    beside the ``start-index`` the client sees.
    """
    links = [Link(self_link.rel, self_link.href + (f"?{query}" if query else ""), self_link.type)]
    if has_more and params.max_results is not None:
        following = [
            *params.query_items(),
            ("start-index", str(params.start_index + params.max_results)),
            ("max-results", str(params.max_results)),
            *([("cursor", cursor)] if cursor else []),
        ]
        links.append(Link("next", f"{self_link.href}?{urlencode(following)}", self_link.type))
    return links


def page_of(items: list, params: FeedParams) -> tuple[list, bool]:
    """Return the requested page of a list or queryset and whether more follow it."""
    rows = list(params.page(items))
    if params.max_results is not None and len(rows) > params.max_results:
        return rows[: params.max_results], True
    return rows, False


def certification_links() -> list[Link]:
    """Return the GBA certification link (``rel="related"``) when ``GBA_CERTIFICATION_ID`` is set, else none."""
    certificate = settings.GBA_CERTIFICATION_ID
    if not certificate:
        return []
    return [Link("related", CERTIFICATE_URL.format(id=certificate), "text/html")]
