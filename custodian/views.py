"""Customer portal pages."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, JsonResponse
from django.utils.decorators import method_decorator
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from custodian.charts import unit_label, usage_chart
from custodian.exceptions import NotFound
from custodian.selectors import (
    customer_for_user,
    usage_point_list_for_customer,
    usage_point_reading_type,
    usage_point_recent_readings,
)


@method_decorator(never_cache, name="dispatch")
class DashboardView(LoginRequiredMixin, TemplateView):
    """Each of the customer's usage points with its recent usage as a chart."""

    template_name = "custodian/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            customer = customer_for_user(user=self.request.user)
        except NotFound:
            raise Http404("No retail customer for this login.") from None
        context["customer"] = customer
        context["usage_points"] = [
            {
                "usage_point": point,
                "chart": usage_chart(readings=usage_point_recent_readings(usage_point=point)),
                "unit": _unit(point),
            }
            for point in usage_point_list_for_customer(customer=customer)
        ]
        return context


def _unit(point) -> str:
    reading_type = usage_point_reading_type(usage_point=point)
    if reading_type is None:
        return unit_label(uom=None, power_of_ten_multiplier=None)
    return unit_label(uom=reading_type.uom, power_of_ten_multiplier=reading_type.power_of_ten_multiplier)


def page_not_found(request, exception=None):
    """Answer an unmatched ESPI URL with the API's JSON 404, and any other with the HTML page."""
    if request.path.startswith("/espi/"):
        return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
