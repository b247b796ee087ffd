"""The regulator's quarterly figures, computed with SQL aggregates (a handful of grouped queries).

Each figure is decided here, in one place:

* Third Parties *registered*: Third Party clients created in the quarter; *approved*: distinct
  Third Parties moved to Production in the quarter (audit log).
* Authorizations *created* in the quarter, split *one-time* (an authorized period of at most
  ``ONE_TIME_MAX``) and *ongoing*; *revoked* in the quarter, by whom (the customer, utility staff,
  or the Third Party / the portal: no user); *expired*: grants whose period ended in the quarter.
* *Customers sharing*: distinct customers with a grant in force at the end of the quarter (or now,
  for the quarter under way).
* *Data requests*: every ESPI API request as answered (``batch.models.ApiRequestCount``, counted by
  ``batch.middleware``): *served* (1xx-3xx) and *failed* (4xx or 5xx) per Third Party, with the
  response bytes actually sent for those served; failures of callers no valid token identified are
  one figure of their own. Batch submissions received and failed (rejected, malformed or failed:
  nothing applied), and bytes received in them.
* *Requests refused for rate limit*: ESPI API calls answered 429 (the daily counters of
  ``AuditCount``, summed over the quarter's local days); they are also among the failed requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from batch.models import Submission
from batch.selectors import api_request_totals
from custodian.models import AuditCount, AuditEvent
from grants.models import Grant, ThirdParty

#: An authorization whose period is at most this long is counted as one-time; longer ones as ongoing.
ONE_TIME_MAX = timedelta(days=1)

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])\Z", re.IGNORECASE)
_FAILED_OUTCOMES = (Submission.Outcome.REJECTED, Submission.Outcome.MALFORMED, Submission.Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class Quarter:
    """A calendar quarter in the portal's time zone: ``[start, end)``."""

    year: int
    number: int

    @classmethod
    def containing(cls, moment: datetime) -> Quarter:
        local = timezone.localtime(moment)
        return cls(local.year, (local.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """Parse ``2026Q2`` or ``2026-Q2``; raise ValueError otherwise."""
        match = _QUARTER.match(text.strip())
        if not match or not 1970 <= int(match.group(1)) <= 9998:
            raise ValueError(gettext("%(text)s is not a quarter such as 2026Q2.") % {"text": repr(text)})
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def start(self) -> datetime:
        return datetime(self.year, 3 * self.number - 2, 1, tzinfo=timezone.get_current_timezone())

    @property
    def end(self) -> datetime:
        following = self.next()
        return datetime(following.year, 3 * following.number - 2, 1, tzinfo=timezone.get_current_timezone())

    def next(self) -> Quarter:
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - (self.number == 1), (self.number - 2) % 4 + 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


#: The per-Third-Party columns, in the order the table and the CSV show them. The labels are lazy: the
#: staff page shows them in the page's language, the CSV for the regulator writes them in English.
THIRD_PARTY_COLUMNS = (
    ("created", _("authorizations created")),
    ("one_time", _("of which one-time")),
    ("ongoing", _("of which ongoing")),
    ("revoked", _("authorizations revoked")),
    ("revoked_by_customer", _("revoked by the customer")),
    ("revoked_by_utility", _("revoked by utility staff")),
    ("revoked_by_third_party", _("revoked by the Third Party or the portal")),
    ("expired", _("authorizations expired")),
    ("customers_sharing", _("customers sharing (quarter end)")),
    ("requests_served", _("data requests served")),
    ("requests_failed", _("data requests failed")),
    ("bytes_served", _("bytes served")),
    ("submissions", _("batch submissions")),
    ("submissions_failed", _("batch submissions failed")),
    ("bytes_received", _("bytes received")),
    ("refused_rate_limit", _("requests refused for rate limit")),
)


@dataclass
class ThirdPartyFigures:
    third_party_id: int
    name: str
    figures: dict[str, int] = field(default_factory=dict)

    def row(self) -> list[int]:
        return [self.figures.get(key, 0) for key, _label in THIRD_PARTY_COLUMNS]


@dataclass
class RegulatorReport:
    quarter: Quarter
    third_parties_registered: int
    third_parties_approved: int
    customers_sharing: int
    sharing_at: datetime
    by_third_party: list[ThirdPartyFigures]
    #: Requests answered 4xx/5xx to a caller no valid token identified.
    unidentified_failed: int = 0
    #: (kind, method, served, failed, bytes served) over every caller, identified or not.
    by_kind: list[tuple[str, str, int, int, int]] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(item.figures.get(key, 0) for item in self.by_third_party)

    def totals(self) -> list[int]:
        return [self.total(key) for key, _label in THIRD_PARTY_COLUMNS]


def one_time_q(prefix: str = "") -> Q:
    """Return the condition for a one-time authorization: its period is at most ``ONE_TIME_MAX``."""
    return Q(**{f"{prefix}authorized_end__lte": F(f"{prefix}authorized_start") + ONE_TIME_MAX})


def sharing_at_q(*, moment: datetime) -> Q:
    """Return the condition for a grant that was in force at ``moment`` (consented, not yet revoked or ended)."""
    return (
        Q(created_at__lte=moment, authorized_start__lte=moment, authorized_end__gt=moment)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gt=moment))
        & ~Q(status=Grant.Status.DENIED)
    )


def _merge(rows, into: dict[int, dict[str, int]], key: str = "third_party_id") -> None:
    for row in rows:
        ident = row.pop(key)
        if ident is None:
            continue
        target = into.setdefault(ident, {})
        for name, value in row.items():
            target[name] = target.get(name, 0) + (value or 0)


def regulator_report(*, quarter: Quarter) -> RegulatorReport:
    """Return the quarter's figures: a fixed number of grouped aggregate queries, whatever the number of rows."""
    start, end = quarter.start, quarter.end
    period = {"gte": start, "lt": end}
    registered = ThirdParty.objects.filter(
        role=ThirdParty.Role.THIRD_PARTY, created__gte=start, created__lt=end
    ).count()
    approved = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.THIRD_PARTY_STATUS_CHANGED,
            created_at__gte=period["gte"],
            created_at__lt=period["lt"],
            detail__to=ThirdParty.Lifecycle.PRODUCTION,
        )
        .values("object_id")
        .distinct()
        .count()
    )
    figures: dict[int, dict[str, int]] = {}
    # Several grouped queries, one per source table; merged per Third Party here.
    _merge(
        Grant.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("third_party_id")
        .annotate(
            created=Count("id"),
            one_time=Count("id", filter=one_time_q()),
            ongoing=Count("id", filter=~one_time_q()),
        )
        .order_by(),
        figures,
    )
    by_customer = Q(revoked_by_id=F("customer__user_id"))
    _merge(
        Grant.objects.filter(revoked_at__gte=start, revoked_at__lt=end)
        .values("third_party_id")
        .annotate(
            revoked=Count("id"),
            revoked_by_customer=Count("id", filter=by_customer),
            revoked_by_utility=Count("id", filter=Q(revoked_by__isnull=False) & ~by_customer),
            revoked_by_third_party=Count("id", filter=Q(revoked_by__isnull=True)),
        )
        .order_by(),
        figures,
    )
    _merge(
        Grant.objects.filter(status=Grant.Status.EXPIRED, authorized_end__gte=start, authorized_end__lt=end)
        .values("third_party_id")
        .annotate(expired=Count("id"))
        .order_by(),
        figures,
    )
    sharing_at = min(end - timedelta(microseconds=1), timezone.now())
    sharing = Grant.objects.filter(sharing_at_q(moment=sharing_at))
    _merge(
        sharing.values("third_party_id").annotate(customers_sharing=Count("customer_id", distinct=True)).order_by(),
        figures,
    )
    customers_sharing = sharing.values("customer_id").distinct().count()
    # One grouped query over the daily counters, folded here per Third Party and per kind.
    requests = list(
        api_request_totals(first_day=start.date(), end_day=end.date(), by=("third_party_id", "kind", "method"))
    )
    unidentified_failed = sum(row["requests_failed"] for row in requests if row["third_party_id"] is None)
    kinds: dict[tuple[str, str], list[int]] = {}
    for row in requests:
        totals = kinds.setdefault((row["kind"], row["method"]), [0, 0, 0])
        for index, name in enumerate(("requests_served", "requests_failed", "bytes_served")):
            totals[index] += row[name]
    by_kind = [(kind, method, served, failed, sent) for (kind, method), (served, failed, sent) in sorted(kinds.items())]
    _merge(  # the unidentified rows (no Third Party) are skipped
        (
            {key: row[key] for key in ("third_party_id", "requests_served", "requests_failed", "bytes_served")}
            for row in requests
        ),
        figures,
    )
    _merge(
        Submission.objects.filter(received_at__gte=start, received_at__lt=end)
        .values("caller_id")
        .annotate(
            submissions=Count("id"),
            submissions_failed=Count("id", filter=Q(outcome__in=_FAILED_OUTCOMES)),
            bytes_received=Sum("bytes"),
        )
        .order_by(),
        figures,
        key="caller_id",
    )
    _merge(
        AuditCount.objects.filter(
            action=AuditEvent.Action.RATE_LIMITED,
            day__gte=timezone.localdate(start),
            day__lt=timezone.localdate(end),
        )
        .values("actor_client_id")
        .annotate(refused_rate_limit=Sum("count"))
        .order_by(),
        figures,
        key="actor_client_id",
    )
    names = dict(ThirdParty.objects.filter(pk__in=list(figures)).values_list("pk", "name"))
    rows = sorted(
        (ThirdPartyFigures(pk, names.get(pk, f"client {pk}"), values) for pk, values in figures.items()),
        key=lambda item: item.name.lower(),
    )
    return RegulatorReport(
        quarter, registered, approved, customers_sharing, sharing_at, rows, unidentified_failed, by_kind
    )


#: The chart's series: authorizations created, revoked and expired per Third Party (labels in the page's language).
CHART_SERIES = (
    ("created", pgettext_lazy("authorizations", "created"), "#1f6f43"),
    ("revoked", pgettext_lazy("authorizations", "revoked"), "#b3261e"),
    ("expired", pgettext_lazy("authorizations", "expired"), "#8a6d00"),
)


@dataclass(frozen=True, slots=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    color: str
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class ReportChart:
    width: int
    height: int
    label_width: int
    names: list[tuple[float, str]]
    bars: list[ChartBar]
    legend: list[tuple[int, str, str]]


def report_chart(report: RegulatorReport, *, width: int = 760, bar_height: int = 12) -> ReportChart | None:
    """Return the geometry of a horizontal bar chart (inline SVG, no script) of authorizations per Third Party."""
    rows = [item for item in report.by_third_party if any(item.figures.get(key) for key, *_ in CHART_SERIES)]
    if not rows:
        return None
    label_width = 200
    plot = width - label_width - 60
    peak = max(item.figures.get(key, 0) for item in rows for key, *_ in CHART_SERIES) or 1
    group = bar_height * len(CHART_SERIES) + 10
    bars, names = [], []
    for index, item in enumerate(rows):
        top = 30 + index * group
        names.append((top + group / 2, item.name[:32]))
        for series, (key, label, color) in enumerate(CHART_SERIES):
            value = item.figures.get(key, 0)
            bars.append(
                ChartBar(
                    x=label_width,
                    y=top + series * bar_height,
                    width=round(max(value / peak * plot, 1 if value else 0), 2),
                    height=bar_height - 2,
                    color=color,
                    value=value,
                    label=f"{item.name}: {value} {label}",
                )
            )
    legend = [(label_width + index * 110, str(label), color) for index, (_key, label, color) in enumerate(CHART_SERIES)]
    return ReportChart(width, 30 + len(rows) * group + 10, label_width, names, bars, legend)
