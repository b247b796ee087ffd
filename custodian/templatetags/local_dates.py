"""Template filters for the utility's local dates: ``{{ grant.authorized_end|last_day }}``."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import formats

from custodian.local_dates import last_local_day, local_time

register = template.Library()


@register.filter
def last_day(end: datetime | None) -> date | None:
    """Return the last local day of a period that ends (exclusive) at ``end``."""
    return last_local_day(end) if end is not None else None


@register.filter
def when(moment: datetime | None) -> str:
    """Return an instant as a local date and time with the zone ("2 Dec 2026, 14:05 EST")."""
    if moment is None:
        return ""
    local = local_time(moment)
    return f"{formats.date_format(local, 'DATE_FORMAT')}, {local:%H:%M} {local.tzname()}"
