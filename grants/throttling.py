"""Per-Third-Party rate limits of the ESPI API, as a DRF throttle (``DEFAULT_THROTTLE_CLASSES``).

Every ESPI endpoint is a DRF view, so DRF's throttling runs on each of them after authentication and
the token-kind check: a request over a limit gets ``429`` with ``Retry-After`` in the API's error
shape (``custodian.api_errors.exception_handler`` turns DRF's ``Throttled`` into it). The limits are
the Third Party's own (``rate_limit_per_second``, ``_per_hour``, ``_per_day``, set by staff in the
admin) and are counted on the shared cache (Redis through ``REDIS_URL`` in production, so every
gunicorn worker and host counts into the same windows).

DRF's stock ``SimpleRateThrottle`` keeps a list of request times per client and one rate per class:
at 20,000 calls a day that list is rewritten on every request, and three classes would each count a
request another one refused. Here the three windows are fixed-window counters incremented
atomically, and a refused request is taken back out of all of them
(``custodian.throttle.rate_limit_windows_hit``). The utility's own back-office client is not limited.
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import BaseThrottle

from custodian.throttle import rate_limit_windows_hit
from grants.models import ThirdParty
from grants.services_rate_limits import rate_limit_refusal_record

#: (window name, seconds, ThirdParty field holding its limit), shortest first.
WINDOWS = (
    ("second", 1, "rate_limit_per_second"),
    ("hour", 3600, "rate_limit_per_hour"),
    ("day", 86400, "rate_limit_per_day"),
)


def third_party_rate_limits(third_party: ThirdParty) -> list[tuple[int, int]]:
    """Return the ``(window_seconds, limit)`` pairs that apply to ``third_party``'s ESPI API calls."""
    return [(seconds, getattr(third_party, field)) for _name, seconds, field in WINDOWS]


class ThirdPartyRateThrottle(BaseThrottle):
    """Refuse a Third Party's ESPI API call past its limit per second, hour or day (429, ``Retry-After``)."""

    scope = "espi-api"

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        token = getattr(request, "auth", None)
        third_party = getattr(token, "application", None)
        if not isinstance(third_party, ThirdParty) or third_party.role != ThirdParty.Role.THIRD_PARTY:
            return True  # no token (the view answers 401), or the utility's back office
        refused = rate_limit_windows_hit(
            scope=self.scope, ident=str(third_party.pk), limits=third_party_rate_limits(third_party)
        )
        if refused is None:
            return True
        window_seconds, self.retry_after = refused
        name, _seconds, field = next(window for window in WINDOWS if window[1] == window_seconds)
        rate_limit_refusal_record(
            third_party=third_party, window=name, limit=getattr(third_party, field), retry_after=self.retry_after
        )
        return False

    def wait(self) -> int | None:
        return self.retry_after
