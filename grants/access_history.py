"""The customer's access history in sentences: "Solar Co read Home's 15-minute usage, 24–30 Nov 2026".

One function, :func:`history_sentence`, turns an audit row into what the customer reads; the
grants and usage points it names are looked up once per page (:func:`history_page`).

A Bulk page is one audit row for all the customers it served (``custodian.services_access_log``);
a customer's history reaches it through their bulk grants: same Third Party and bulk, a usage
point range that meets the grant's, and the grant in the row's grant set (:func:`bulk_reads_q`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.paginator import Page, Paginator
from django.db.models import Max, Min, Q, QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from custodian.local_dates import last_local_day, local_time
from custodian.models import AuditEvent, RetailCustomer, UsagePoint
from grants.data_categories import COSTS, CUSTOMER, QUALITY, TOTALS, USAGE, categories_of, record_choices_words
from grants.models import Grant, ThirdParty
from grants.services import REPLACED

PAGE_SIZE = 25

# The ESPI resource a read named, and the data category it is.
_RESOURCE_CATEGORY = {
    "IntervalBlock": USAGE,
    "MeterReading": USAGE,
    "ReadingType": USAGE,
    "UsageSummary": TOTALS,
    "ElectricPowerQualitySummary": QUALITY,
    "RetailCustomer": CUSTOMER,
    "Customer": CUSTOMER,
    "CustomerAccount": CUSTOMER,
}


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the access history."""

    at: datetime
    who: str
    sentence: str


def bulk_reads_q(*, customer: RetailCustomer, third_party: ThirdParty | None = None) -> Q:
    """Return the condition for the Bulk page reads that served this customer's data (one query, for their grants).

    Per bulk grant: the row's bulk and Third Party, a usage point range meeting the grant's lowest to
    highest usage point (the indexed part, ``audit_bulk_read_range``), after the grant was made, and
    the grant in the row's grant set (exact).
    """
    grants = Grant.objects.filter(customer=customer, bulk_user__isnull=False)
    if third_party is not None:
        grants = grants.filter(third_party=third_party)
    rows = (
        grants.annotate(low=Min("grant_usage_points__usage_point_id"), high=Max("grant_usage_points__usage_point_id"))
        .order_by()
        .values_list("pk", "third_party_id", "bulk_user__bulk_id", "created_at", "low", "high")
    )
    condition = Q(pk__in=[])
    for pk, third_party_id, bulk_id, created_at, low, high in rows:
        if low is None:
            continue
        condition |= Q(
            action=AuditEvent.Action.DATA_READ,
            object_type="BulkUser",
            object_id=bulk_id,
            actor_client_id=third_party_id,
            usage_point_low__lte=high,
            usage_point_high__gte=low,
            created_at__gte=created_at,
            detail__grants__has_key=str(pk),
        )
    return condition


def access_history_for_customer(*, customer: RetailCustomer, third_party: ThirdParty | None = None) -> QuerySet:
    """Return the customer's audit rows (their own and the Bulk reads that served them), newest first.

    Optionally those of one Third Party only.
    """
    events = AuditEvent.objects.filter(
        Q(customer=customer) | bulk_reads_q(customer=customer, third_party=third_party)
    ).select_related("actor_client", "actor_user")
    if third_party is not None:
        their_grants = Grant.objects.filter(customer=customer, third_party=third_party).values("public_id")
        events = events.filter(Q(actor_client=third_party) | Q(object_type="Grant", object_id__in=their_grants))
    return events.order_by("-created_at", "-pk")


def history_third_parties(*, customer: RetailCustomer) -> QuerySet[ThirdParty]:
    """Return the Third Parties the customer's history names (for the filter)."""
    from_grants = Grant.objects.filter(customer=customer).order_by().values("third_party_id")
    from_events = (
        AuditEvent.objects.filter(customer=customer, actor_client__isnull=False).order_by().values("actor_client_id")
    )
    return ThirdParty.objects.filter(Q(pk__in=from_grants) | Q(pk__in=from_events)).order_by("name")


def _names(titles: list[str]) -> str:
    titles = [title for title in titles if title]
    if not titles:
        return _("your meters")
    if len(titles) == 1:
        return titles[0]
    return _("%(first)s and %(last)s") % {"first": ", ".join(titles[:-1]), "last": titles[-1]}


def _interval_words(seconds: int | None) -> str:
    if not seconds:
        return _("usage")
    if seconds % 3600 == 0:
        return _("hourly usage") if seconds == 3600 else _("%(hours)s-hour usage") % {"hours": seconds // 3600}
    return _("%(minutes)s-minute usage") % {"minutes": seconds // 60}


def _category_noun(key: str, grant: Grant | None) -> str:
    return {
        USAGE: _interval_words(grant.interval_duration if grant else None),
        COSTS: _("costs"),
        TOTALS: _("billing-period totals"),
        QUALITY: _("power-quality summaries"),
        CUSTOMER: _("account details"),
    }[key]


def _epoch_day(value: str) -> date | None:
    try:
        return local_time(datetime.fromtimestamp(int(value), tz=UTC)).date()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def date_range_words(first: date | None, last: date | None) -> str:
    """Return a local date range as few words as it needs: "24–30 Nov 2026", "since 3 Jan 2026"."""
    if first and last:
        if first == last:
            return formats.date_format(first, "DATE_FORMAT")
        return _("%(first)s to %(last)s") % {
            "first": formats.date_format(first, "DATE_FORMAT"),
            "last": formats.date_format(last, "DATE_FORMAT"),
        }
    if first:
        return _("since %(first)s") % {"first": formats.date_format(first, "DATE_FORMAT")}
    if last:
        return _("up to %(last)s") % {"last": formats.date_format(last, "DATE_FORMAT")}
    return ""


def _read_sentence(event: AuditEvent, who: str, grant: Grant | None, points: dict[str, UsagePoint]) -> str:
    records = event.detail.get("records")
    if records:
        # The customer's own records (personal data): said by what they are, never by meter.
        what = _(" and ").join(record_choices_words(records)) or _("your records")
        return _("%(who)s read %(what)s") % {"who": who, "what": what}
    path = str(event.detail.get("path", ""))
    parts = urlsplit(path)
    segments = [segment for segment in parts.path.split("/") if segment]
    titles: list[str] = []
    if "UsagePoint" in segments and segments.index("UsagePoint") + 1 < len(segments):
        point = points.get(segments[segments.index("UsagePoint") + 1])
        titles = [point.title or point.public_id] if point else []
    elif grant is not None:
        titles = [link.usage_point.title or link.usage_point.public_id for link in grant.grant_usage_points.all()]
    resource = next((segment for segment in reversed(segments) if segment in _RESOURCE_CATEGORY), None)
    if resource is not None:
        keys = [_RESOURCE_CATEGORY[resource]]
    elif grant is not None:
        keys = [category.key for category in categories_of(grant.function_blocks)]
    else:
        keys = []
    what = _(" and ").join(_category_noun(key, grant) for key in keys) if keys else _("data")
    query = parse_qs(parts.query)
    low = query.get("published-min", query.get("updated-min", [None]))[0]
    high = query.get("published-max", query.get("updated-max", [None]))[0]
    first = _epoch_day(low) if low else None
    last = _epoch_day(str(int(high) - 1)) if high and high.isdigit() else None  # the bound is exclusive
    span = date_range_words(first, last)
    if titles:
        sentence = _("%(who)s read %(meters)s's %(what)s") % {"who": who, "meters": _names(titles), "what": what}
    else:
        sentence = _("%(who)s read your meters' %(what)s") % {"who": who, "what": what}
    return f"{sentence}, {span}" if span else sentence


def history_sentence(
    event: AuditEvent,
    *,
    viewer: Any,
    grants: dict[str, Grant],
    points: dict[str, UsagePoint],
    bulk_grants: dict[str, Grant] | None = None,
) -> HistoryEntry:
    """Return one audit row as the customer reads it.

    ``grants``: the customer's grants by public id; ``bulk_grants``: their bulk grants by pk (a Bulk
    page's row names the grants it served by pk).
    """
    if event.actor_client is not None:
        who = event.actor_client.name
    elif event.actor_user_id is not None and event.actor_user_id == getattr(viewer, "pk", None):
        who = _("You")
    elif event.actor_user_id is not None:
        who = _("The utility")
    else:
        who = _("The portal")
    grant = grants.get(event.object_id) if event.object_type == "Grant" else None
    if event.object_type == "BulkUser" and bulk_grants:
        served = (event.detail or {}).get("grants") or {}
        grant = next((candidate for key, candidate in bulk_grants.items() if key in served), None)
    name = grant.third_party.name if grant else (event.actor_client.name if event.actor_client else "")
    action = event.action
    detail = event.detail or {}
    if action == AuditEvent.Action.DATA_READ and detail.get("download"):
        titles = [points[pid].title or pid for pid in detail.get("usage_points", []) if pid in points]
        first = date.fromisoformat(detail["first_day"]) if detail.get("first_day") else None
        last = date.fromisoformat(detail["last_day"]) if detail.get("last_day") else None
        sentence = _("%(who)s downloaded %(meters)s's data as %(format)s, %(span)s") % {
            "who": who,
            "meters": _names(titles),
            "format": str(detail.get("format", "")).upper(),
            "span": date_range_words(first, last),
        }
    elif action == AuditEvent.Action.DATA_READ:
        sentence = _read_sentence(event, who, grant, points)
    elif action == AuditEvent.Action.GRANT_CREATED and grant is not None:
        titles = [points[pid].title or pid for pid in detail.get("usage_points", []) if pid in points]
        sentence = _("%(who)s shared %(meters)s with %(name)s until %(until)s") % {
            "who": who,
            "meters": _names(titles),
            "name": name,
            "until": formats.date_format(last_local_day(grant.authorized_end), "DATE_FORMAT"),
        }
    elif action == AuditEvent.Action.GRANT_REVOKED and detail.get("reason") == REPLACED:
        sentence = _("A new grant to %(name)s replaced the earlier one") % {"name": name}
    elif action == AuditEvent.Action.GRANT_REVOKED:
        sentence = _("%(who)s revoked %(name)s's access") % {"who": who, "name": name}
    elif action == AuditEvent.Action.GRANT_EXPIRED:
        sentence = _("%(name)s's access ended at the end of the period you chose") % {"name": name}
    elif action == AuditEvent.Action.GRANT_USAGE_POINT_REVOKED:
        point = points.get(str(detail.get("usage_point", "")))
        sentence = _("%(who)s stopped sharing %(meter)s with %(name)s") % {
            "who": who,
            "meter": (point.title or point.public_id) if point else _("a meter"),
            "name": name,
        }
    elif action == AuditEvent.Action.GRANT_DENIED:
        sentence = _("%(who)s said no to %(name)s") % {"who": who, "name": name or who}
    elif action == AuditEvent.Action.TOKEN_ISSUED:
        sentence = _("%(name)s was given a key to reach your shared data") % {"name": name or who}
    elif action == AuditEvent.Action.TOKEN_REVOKED:
        sentence = _("%(name)s's key to your data was withdrawn") % {"name": name or who}
    elif action == AuditEvent.Action.DATA_UPLOADED:
        sentence = _("%(who)s sent new data for %(count)s of your meters") % {
            "who": who,
            "count": detail.get("usage_points", "?"),
        }
    elif action == AuditEvent.Action.USAGE_POINT_CREATED:
        point = points.get(event.object_id)
        sentence = _("The utility added your meter %(meter)s") % {
            "meter": (point.title or point.public_id) if point else _("a meter")
        }
    elif action == AuditEvent.Action.CUSTOMER_CREATED:
        sentence = _("The utility opened your account")
    elif action == AuditEvent.Action.DATA_IMPORTED:
        sentence = _("The utility loaded new data for your meters")
    else:
        sentence = event.summary or event.get_action_display()
    return HistoryEntry(at=event.created_at, who=who, sentence=sentence)


def history_page(
    *, customer: RetailCustomer, viewer: Any, third_party: ThirdParty | None, page_number: Any
) -> tuple[Page, list[HistoryEntry]]:
    """Return one page of the customer's history and its sentences (a fixed number of queries per page)."""
    paginator = Paginator(access_history_for_customer(customer=customer, third_party=third_party), PAGE_SIZE)
    page = paginator.get_page(page_number)
    events = list(page.object_list)
    grant_ids = {event.object_id for event in events if event.object_type == "Grant"}
    bulk_read = any(event.object_type == "BulkUser" for event in events)
    named = Q(public_id__in=grant_ids) | Q(bulk_user__isnull=False) if bulk_read else Q(public_id__in=grant_ids)
    found = list(
        Grant.objects.filter(named, customer=customer)
        .select_related("third_party")
        .prefetch_related("grant_usage_points__usage_point")
    )
    grants = {grant.public_id: grant for grant in found}
    bulk_grants = {str(grant.pk): grant for grant in found if grant.bulk_user_id is not None}
    points = {point.public_id: point for point in UsagePoint.objects.filter(customer=customer)}
    return page, [
        history_sentence(event, viewer=viewer, grants=grants, points=points, bulk_grants=bulk_grants)
        for event in events
    ]
