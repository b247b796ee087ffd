"""The utility's local dates (setting ``TIME_ZONE``): what "until 30 June 2027" means, and how times are shown.

An authorized period ends at an instant (exclusive, as ESPI's ``authorizedPeriod`` does); the
customer chooses and reads a last *day*, inclusive, in the utility's time zone. These two
functions are the only place the two are converted, so the consent form, "My grants", the e-mails
and the Authorization resource agree, also across a daylight-saving change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone


def end_of_local_day(day: date) -> datetime:
    """Return the instant a period "until ``day``" ends: the start of the next local day (exclusive)."""
    zone = timezone.get_default_timezone()
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def last_local_day(end: datetime) -> date:
    """Return the last local day a period ending (exclusive) at ``end`` covers: the inverse of end_of_local_day."""
    return timezone.localtime(end - timedelta(microseconds=1), timezone.get_default_timezone()).date()


def local_time(moment: datetime) -> datetime:
    """Return an instant in the utility's time zone (for display with the zone's abbreviation)."""
    return timezone.localtime(moment, timezone.get_default_timezone())
