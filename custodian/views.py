"""Customer portal pages."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, JsonResponse
from django.utils import formats
from django.utils.decorators import method_decorator
from django.utils.translation import check_for_language
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django.views import i18n as i18n_views
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from custodian.api_errors import error_body
from custodian.charts import usage_chart
from custodian.exceptions import NotFound
from custodian.middleware import is_api_path
from custodian.selectors import (
    customer_for_user,
    meter_reading_daily_totals,
    meter_reading_last_day,
    usage_point_list_for_customer,
    usage_point_meter_reading,
)
from custodian.services import retail_customer_language_set
from custodian.units import customer_unit

PERIODS = {"week": _("Week"), "month": _("Month"), "year": _("Year")}
_PERIOD_DAYS = {"week": 7, "month": 31}


def dashboard_period(*, period: str, last_day: date) -> tuple[date, date]:
    """Return the first and last local day a period choice shows, ending at the last day with data."""
    if period == "year":
        first = date(last_day.year - 1, last_day.month, 1)
        first = date(first.year + (first.month == 12), first.month % 12 + 1, 1)  # twelve whole months
        return first, last_day
    return last_day - timedelta(days=_PERIOD_DAYS[period] - 1), last_day


def _chart_points(*, totals: dict[date, int], period: str, convert) -> list[tuple[str, str, Decimal]]:
    if period == "year":
        months: dict[date, int] = {}
        for day, value in totals.items():
            key = day.replace(day=1)
            months[key] = months.get(key, 0) + value
        return [
            (formats.date_format(month, "YEAR_MONTH_FORMAT"), formats.date_format(month, "M"), convert(value))
            for month, value in sorted(months.items())
        ]
    short = "D j" if period == "week" else "j M"
    return [
        (formats.date_format(day, "DATE_FORMAT"), formats.date_format(day, short), convert(value))
        for day, value in sorted(totals.items())
    ]


def usage_point_chart(*, usage_point, period: str) -> dict:
    """Return one usage point's chart for the dashboard: daily (or monthly) totals in the customer's unit."""
    meter_reading = usage_point_meter_reading(usage_point=usage_point)
    last_day = meter_reading_last_day(meter_reading=meter_reading) if meter_reading is not None else None
    if meter_reading is None or last_day is None:
        return {"usage_point": usage_point, "chart": None}
    reading_type = meter_reading.reading_type
    unit = customer_unit(
        uom=reading_type.uom if reading_type else None,
        power_of_ten_multiplier=reading_type.power_of_ten_multiplier if reading_type else None,
    )
    first_day, last_day = dashboard_period(period=period, last_day=last_day)
    totals = meter_reading_daily_totals(meter_reading=meter_reading, first_day=first_day, last_day=last_day)
    points = _chart_points(totals=totals, period=period, convert=lambda value: unit.convert(value) or Decimal(0))
    return {
        "usage_point": usage_point,
        "chart": usage_chart(points=points, unit=unit.label),
        "first_day": first_day,
        "last_day": last_day,
    }


@method_decorator(never_cache, name="dispatch")
class DashboardView(LoginRequiredMixin, TemplateView):
    """Each of the customer's usage points with its usage as a chart with axes and a table, for a chosen period."""

    template_name = "custodian/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            customer = customer_for_user(user=self.request.user)
        except NotFound:
            raise Http404("No retail customer for this login.") from None
        period = self.request.GET.get("period")
        period = period if period in PERIODS else "week"
        context["customer"] = customer
        context["period"] = period
        context["periods"] = PERIODS
        context["usage_points"] = [
            usage_point_chart(usage_point=point, period=period)
            for point in usage_point_list_for_customer(customer=customer)
        ]
        return context


def language_switch(request):
    """Django's ``set_language`` (cookie and redirect); a logged-in customer's choice is also stored.

    The stored language is the one every e-mail to them is written in (``customer_language``).
    """
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "") if request.method == "POST" else ""
    customer = getattr(request.user, "retail_customer", None) if request.user.is_authenticated else None
    if customer is not None and language and check_for_language(language):
        retail_customer_language_set(customer=customer, language=language, actor=request.user)
    return response


def server_error(request):
    """Answer an uncaught error: the API's JSON shape for ESPI and OAuth URLs, the HTML page elsewhere.

    Touches neither the database nor the session, so it also answers when PostgreSQL is down.
    """
    if is_api_path(request.path):
        detail = "The server failed to answer this request. Retry later; if it persists, contact the utility."
        return JsonResponse({"error": "server_error", "detail": detail, "error_description": detail}, status=500)
    return defaults.server_error(request)


def page_not_found(request, exception=None):
    """Answer an unmatched ESPI URL with the API's JSON 404, and any other with the HTML page."""
    if request.path.startswith("/espi/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)
