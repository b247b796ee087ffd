"""When a Batch GET is answered asynchronously (PRODUCT "Large requests, asynchronous delivery and limits").

Pure functions: the view asks the database for the counts, these decide.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.conf import settings

from batch.feed_params import FeedParams

RESPOND_ASYNC = "respond-async"
# A grant without a history length reaches all its data: counted as three years of work.
UNBOUNDED_HISTORY_DAYS = 3 * 366
# GBA's certification platform counts a 400 with this text as a 202 (the same request is pending).
PENDING_MESSAGE = "An unprocessed batch request for the same resource already exists"
# Query parameters of a job's status URI and its parts (everything else is a feed query).
CORRELATION_PARAM = "correlationID"
PART_PARAM = "part"


def prefers_async(prefer: str | None) -> bool:
    """Return whether a ``Prefer`` header (RFC 7240) asks for ``respond-async``, among other preferences."""
    if not prefer:
        return False
    for preference in prefer.split(","):
        name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
        if name == RESPOND_ASYNC:
            return True
    return False


def request_days(*, params: FeedParams, longest_history_seconds: int | None, now: datetime) -> int:
    """Return how many days of data a request covers: its published-min span, else the longest grant history.

    ``longest_history_seconds`` None means some grant has no history bound.
    """
    if params.published_min is not None:
        end = params.published_max or now
        seconds = max((end - params.published_min).total_seconds(), 0)
    elif longest_history_seconds is None:
        return UNBOUNDED_HISTORY_DAYS
    else:
        seconds = longest_history_seconds
    return max(1, math.ceil(seconds / 86400))


def respond_async(*, prefer: str | None, usage_point_days: int) -> bool:
    """Return whether to answer 202 and build the result with workers.

    Large work (at least ``BATCH_ASYNC_USAGE_POINT_DAYS`` usage-point-days) or the client's
    ``Prefer: respond-async``; anything else streams at once.
    """
    return prefers_async(prefer) or usage_point_days >= int(settings.BATCH_ASYNC_USAGE_POINT_DAYS)


def usage_point_ranges(ids: list[int], *, per_range: int) -> list[tuple[int, int]]:
    """Cut ascending usage point ids into ``[low, high)`` ranges of at most ``per_range`` ids each.

    No ids still give one (empty) range, so every job has a part to deliver.
    """
    if not ids:
        return [(0, 1)]
    step = max(1, per_range)
    ranges = []
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        following = ids[start + step] if start + step < len(ids) else chunk[-1] + 1
        ranges.append((chunk[0], following))
    return ranges
