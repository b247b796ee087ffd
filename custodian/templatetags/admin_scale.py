"""A date drill-down for large tables: one MIN/MAX query (an index lookup) instead of ``SELECT DISTINCT``.

Django's ``date_hierarchy`` lists the years, months or days that hold rows with a ``SELECT DISTINCT
date_trunc(...)`` over every matching row: seconds on a million audit rows. This one lists every
year, month or day between the first and the last matching row (a period without rows shows an
empty page), read with one aggregate that PostgreSQL answers from the index ends.
"""

from __future__ import annotations

import calendar
import datetime

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.db import models
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def _local(value):
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def range_date_hierarchy(cl) -> dict:
    """Return the context of ``admin/date_hierarchy.html`` from the first and last matching dates."""
    field_name = cl.date_hierarchy
    year_field, month_field, day_field = (f"{field_name}__{part}" for part in ("year", "month", "day"))
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))
    year, month, day = (
        int(value[-1] if isinstance(value, list) else value) if value else None for value in (year, month, day)
    )

    def link(filters):
        return cl.get_query_string(filters, [f"{field_name}__"])

    span = cl.queryset.aggregate(first=models.Min(field_name), last=models.Max(field_name))
    first, last = _local(span["first"]), _local(span["last"])
    if first is None or last is None:
        return {"show": True, "back": None, "choices": []}
    if year is None and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month
    if year and month and day:
        moment = datetime.date(year, month, day)
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": capfirst(formats.date_format(moment, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(moment, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        low = first.day if (first.year, first.month) == (year, month) else 1
        high = last.day if (last.year, last.month) == (year, month) else calendar.monthrange(year, month)[1]
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: number}),
                    "title": capfirst(formats.date_format(datetime.date(year, month, number), "MONTH_DAY_FORMAT")),
                }
                for number in range(low, high + 1)
            ],
        }
    if year:
        low = first.month if first.year == year else 1
        high = last.month if last.year == year else 12
        return {
            "show": True,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({year_field: year, month_field: number}),
                    "title": capfirst(formats.date_format(datetime.date(year, number, 1), "YEAR_MONTH_FORMAT")),
                }
                for number in range(low, high + 1)
            ],
        }
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({year_field: number}), "title": str(number)} for number in range(first.year, last.year + 1)
        ],
    }


@register.tag(name="range_date_hierarchy")
def range_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=range_date_hierarchy, template_name="date_hierarchy.html", takes_context=False
    )
