"""Content negotiation of the ESPI GET resources (PRODUCT "Conformance": never 406 to an XML ``Accept``).

ESPI resources exist as XML only. ``Accept`` absent, ``*/*``, ``application/atom+xml``,
``application/xml``, ``text/xml`` (with parameters and q-values, in any mix) get the XML
document, labelled with the XML type the client prefers. An ``Accept`` naming no XML type and
no wildcard (``application/json`` alone) gets 406 with a JSON body naming the types on offer
(RFC 9110 section 15.5.7), rather than Atom it did not ask for. Errors are JSON whatever
``Accept`` says (RFC 9110 section 12.5.1 lets a server disregard it), so a client always reads the
same error shape; their status codes are what certification checks.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.renderers import JSONRenderer

ATOM = "application/atom+xml"
XML = "application/xml"
TEXT_XML = "text/xml"
# What each kind of ESPI document can be labelled, preferred first.
ATOM_TYPES = (ATOM, XML, TEXT_XML)
PLAIN_XML_TYPES = (XML, TEXT_XML)
# Any of these in ``Accept`` is answered, even for a document none of them labels exactly
# (``Accept: application/atom+xml`` on ReadServiceStatus, a plain XML document).
_XML_FAMILY = frozenset({ATOM, XML, TEXT_XML})


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """Return ``(type, subtype, q)`` of each media range of an ``Accept`` value; unreadable ranges are skipped."""
    ranges = []
    for part in accept.split(","):
        fields = [field.strip() for field in part.split(";")]
        media = fields[0].lower()
        if media.count("/") != 1:
            continue
        main, sub = media.split("/")
        if not main or not sub:
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((main, sub, quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """Return the q the most specific matching range gives ``media_type`` (RFC 9110 section 12.5.1); 0 if none."""
    main, sub = media_type.split("/")
    best_specificity, best_q = -1, 0.0
    for range_main, range_sub, quality in ranges:
        if (range_main, range_sub) == (main, sub):
            specificity = 2
        elif range_main == main and range_sub == "*":
            specificity = 1
        elif (range_main, range_sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, quality
    return best_q


def espi_media_type(*, accept: str | None, produces: tuple[str, ...] = ATOM_TYPES) -> str | None:
    """Return the content type to label an ESPI document with, or None when ``Accept`` rules XML out (406)."""
    if not accept or not accept.strip():
        return produces[0]
    ranges = _media_ranges(accept)
    if not ranges:
        return produces[0]
    best, best_q = None, 0.0
    for candidate in produces:
        quality = _quality(candidate, ranges)
        if quality > best_q:
            best, best_q = candidate, quality
    if best is not None:
        return best
    if any(f"{main}/{sub}" in _XML_FAMILY and quality > 0 for main, sub, quality in ranges):
        return produces[0]
    return None


class EspiNegotiationMixin:
    """For DRF views serving ESPI XML: negotiate as above on GET/HEAD, always render errors as JSON.

    The views build their XML responses themselves; ``finalize_response`` labels them with the
    negotiated type.
    """

    espi_produces: tuple[str, ...] = ATOM_TYPES

    def perform_content_negotiation(self, request: Any, force: bool = False) -> tuple[Any, str]:
        if request.method in ("GET", "HEAD") and not force:
            chosen = espi_media_type(accept=request.META.get("HTTP_ACCEPT"), produces=self.espi_produces)
            if chosen is None:
                raise NotAcceptable(f"This resource is available as {', '.join(self.espi_produces)}.")
            request.espi_media_type = chosen
        return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        chosen = getattr(request, "espi_media_type", None)
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if chosen and content_type in _XML_FAMILY:
            response["Content-Type"] = chosen
        return response
