"""Parse the ESPI query parameters of GET feeds (FB_37): published-*, updated-*, start-index, max-results, depth."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from custodian.exceptions import InvalidInput

# ESPI: UTC, exactly YYYY-MM-DDThh:mm:ssZ. Offsets, fractions and date-only values are refused.
_TIME = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z\Z")
_INT = re.compile(r"\A[0-9]{1,9}\Z")

TIME_PARAMS = ("published-min", "published-max", "updated-min", "updated-max")
PAGING_PARAMS = ("start-index", "max-results")
# Checked and ignored: `depth` (ESPI FB_37) has no meaning for flat feeds, which carry whole trees.
IGNORED_PARAMS = ("depth",)
ALL_PARAMS = (*TIME_PARAMS, *PAGING_PARAMS, *IGNORED_PARAMS)
# Ours, on a Bulk feed's `next` link only: where that page starts, sealed (batch.cursors). It rides
# along with start-index; a client that builds start-index itself simply leaves it out.
CURSOR_PARAM = "cursor"
_CURSOR = re.compile(r"\A[A-Za-z0-9_=-]{1,400}\Z")


@dataclass(frozen=True, slots=True)
class FeedParams:
    """What a GET feed was asked for; ``None`` means no bound."""

    published_min: datetime | None = None
    published_max: datetime | None = None
    updated_min: datetime | None = None
    updated_max: datetime | None = None
    start_index: int = 1
    max_results: int | None = None
    cursor: str | None = None

    @property
    def paged(self) -> bool:
        """Whether the query asked for a page rather than the whole feed."""
        return self.start_index != 1 or self.max_results is not None

    def page(self, items):
        """Return the requested page of a sliceable (a queryset or a list), one item more to tell if more follow."""
        low = self.start_index - 1
        return items[low:] if self.max_results is None else items[low : low + self.max_results + 1]

    def query_items(self) -> list[tuple[str, str]]:
        """Return the time filters as query items (to build a next-page link that keeps them)."""
        items = []
        for name, value in zip(
            TIME_PARAMS, (self.published_min, self.published_max, self.updated_min, self.updated_max), strict=True
        ):
            if value is not None:
                items.append((name, value.strftime("%Y-%m-%dT%H:%M:%SZ")))
        return items


def bulk_max_results() -> int:
    """Return the largest page of a Bulk feed, in usage points (setting ``ESPI_BULK_MAX_RESULTS``)."""
    return int(getattr(settings, "ESPI_BULK_MAX_RESULTS", 500))


def _time(name: str, raw: str) -> datetime:
    match = _TIME.match(raw)
    if match is None:
        raise InvalidInput(
            f"{name} must be a UTC time written YYYY-MM-DDThh:mm:ssZ (e.g. 2024-01-31T00:00:00Z), not {raw[:40]!r}.",
            code="invalid_query",
            extra={"parameter": name},
        )
    try:
        return datetime(*(int(part) for part in match.groups()), tzinfo=UTC)
    except ValueError:
        raise InvalidInput(
            f"{name} {raw!r} is not a real date and time.", code="invalid_query", extra={"parameter": name}
        ) from None


def _int(name: str, raw: str, *, minimum: int) -> int:
    if _INT.match(raw) is None or int(raw) < minimum:
        raise InvalidInput(
            f"{name} must be a whole number of at least {minimum}, not {raw[:40]!r}.",
            code="invalid_query",
            extra={"parameter": name},
        )
    return int(raw)


def parse_feed_params(*, query: Mapping[str, Sequence[str]], paging: bool = False) -> FeedParams:
    """Parse and check a feed's query string; raise InvalidInput (400) naming the bad parameter.

    ``query`` maps each name to all its values (``request.GET.lists()``). A parameter given twice
    is refused rather than silently picking one. Every feed pages with ``start-index`` and
    ``max-results``; where ``paging`` is True (Bulk) a page is also capped at
    ``ESPI_BULK_MAX_RESULTS`` and ``max_results`` is never None.
    """
    known = {*ALL_PARAMS, CURSOR_PARAM} if paging else set(ALL_PARAMS)
    values: dict[str, str] = {}
    for name, given in query.items():
        if name not in known:
            raise InvalidInput(
                f"Unknown query parameter {name[:40]!r}; this resource accepts {', '.join(sorted(known))}.",
                code="invalid_query",
                extra={"parameter": name[:40]},
            )
        if len(given) != 1:
            raise InvalidInput(f"{name} is given more than once.", code="invalid_query", extra={"parameter": name})
        values[name] = given[0]
    times = {name: _time(name, values[name]) if name in values else None for name in TIME_PARAMS}
    for low, high in (("published-min", "published-max"), ("updated-min", "updated-max")):
        if times[low] is not None and times[high] is not None and times[low] > times[high]:
            raise InvalidInput(f"{low} is after {high}.", code="invalid_query", extra={"parameter": low})
    start_index = _int("start-index", values["start-index"], minimum=1) if "start-index" in values else 1
    max_results = _int("max-results", values["max-results"], minimum=1) if "max-results" in values else None
    if paging:
        cap = bulk_max_results()
        max_results = cap if max_results is None else max_results
        if max_results > cap:
            raise InvalidInput(
                f"max-results is at most {cap} usage points per page; follow the feed's next link for more.",
                code="invalid_query",
                extra={"parameter": "max-results"},
            )
    if "depth" in values:
        _int("depth", values["depth"], minimum=0)
    cursor = values.get(CURSOR_PARAM)
    if cursor is not None and _CURSOR.match(cursor) is None:
        raise InvalidInput(
            "cursor is not one this server wrote; follow the feed's next link as given, or leave cursor out.",
            code="invalid_query",
            extra={"parameter": CURSOR_PARAM},
        )
    return FeedParams(
        published_min=times["published-min"],
        published_max=times["published-max"],
        updated_min=times["updated-min"],
        updated_max=times["updated-max"],
        start_index=start_index,
        max_results=max_results,
        cursor=cursor,
    )
