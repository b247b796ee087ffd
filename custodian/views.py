"""Customer portal pages."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, JsonResponse
from django.utils.decorators import method_decorator
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from custodian.api_errors import error_body
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


# URLs whose clients are programs (ESPI REST API, OAuth endpoints, metadata): their errors are JSON.
# The consent screen (/oauth/authorize) is a page a person sees, so it keeps the HTML error page.
_API_PREFIXES = ("/espi/", "/oauth/", "/.well-known/")
_PAGE_PATHS = ("/oauth/authorize",)


def is_api_path(path: str) -> bool:
    """Return whether ``path`` belongs to a machine client (ESPI, OAuth) and so gets JSON errors."""
    return path.startswith(_API_PREFIXES) and not path.startswith(_PAGE_PATHS)


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
