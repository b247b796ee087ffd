"""Writes for the ESPI API rate limits: a refused request is counted, and the start of limiting is audited.

A Third Party over its limits may send thousands of requests a minute; each is counted in one daily
counter row (``custodian.models.AuditCount``) and only the first refusal of each clock hour writes an
audit row. The audit log therefore grows by at most 24 rows a day per Third Party, whatever it sends.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from custodian.models import AuditEvent
from custodian.services import audit_count_add, audit_record
from grants.models import ThirdParty

#: A limiting episode is audited once per Third Party per this many seconds (a clock hour).
AUDIT_EPISODE_SECONDS = 3600


def rate_limit_refusal_record(*, third_party: ThirdParty, window: str, limit: int, retry_after: int) -> None:
    """Count one request of ``third_party`` refused by its ``window`` limit; audit the first of each hour."""
    now = timezone.now()
    episode = int(now.timestamp() // AUDIT_EPISODE_SECONDS)
    first_of_episode = cache.add(f"ratelimit-audited:{third_party.pk}:{episode}", 1, timeout=AUDIT_EPISODE_SECONDS + 1)
    with transaction.atomic():
        audit_count_add(action=AuditEvent.Action.RATE_LIMITED, actor_client=third_party, day=timezone.localdate(now))
        if first_of_episode:
            audit_record(
                action=AuditEvent.Action.RATE_LIMITED,
                actor_client=third_party,
                obj=third_party,
                summary=f"{third_party.name} is over its limit of {limit} ESPI API calls per {window}; "
                "requests are refused with 429 (counted per day, audited once an hour)",
                detail={"window": window, "limit": limit, "retry_after": retry_after},
            )
