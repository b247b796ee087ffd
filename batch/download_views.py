"""The customer's "Download my data" page: choose usage points, days and a format; the file streams."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache

from batch.atom_http import ATOM_CONTENT_TYPE
from batch.downloads import DownloadRequest, download_csv_chunks, download_record, download_xml_chunks
from custodian.exceptions import NotFound
from custodian.selectors import customer_for_user, usage_point_list_for_customer
from grants.resource_uris import espi_resource_base

MAX_DAYS = 3 * 366


class DownloadForm(forms.Form):
    """Which of the customer's own usage points, from which day to which day (inclusive, local), as what."""

    usage_points = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label=_("Meters"))
    first_day = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    last_day = forms.DateField(
        label=_("Until (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    format = forms.ChoiceField(
        widget=forms.RadioSelect,
        label=_("Format"),
        choices=[
            ("xml", _("Green Button XML (for apps and other utilities)")),
            ("csv", _("CSV spreadsheet (one row per reading)")),
        ],
        initial="csv",
    )
    records = forms.BooleanField(
        required=False,
        label=_("Also include my name, service address and account details (Green Button XML only)"),
    )

    def __init__(self, *args, usage_points, **kwargs):
        super().__init__(*args, **kwargs)
        self.points = {point.public_id: point for point in usage_points}
        self.fields["usage_points"].choices = [
            (point.public_id, point.title or point.public_id) for point in usage_points
        ]
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        self.fields["usage_points"].initial = list(self.points)
        self.fields["first_day"].initial = today - timedelta(days=30)
        self.fields["last_day"].initial = today

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first and last:
            if last < first:
                self.add_error("last_day", gettext("Choose a last day on or after the first day."))
            elif (last - first).days >= MAX_DAYS:
                self.add_error("first_day", gettext("Choose at most %(days)s days at a time.") % {"days": MAX_DAYS})
        return cleaned


@method_decorator(never_cache, name="dispatch")
class DownloadView(LoginRequiredMixin, View):
    """GET shows the form; GET with the form's fields streams the file (a read: safe, bookmarkable)."""

    def get(self, request):
        try:
            customer = customer_for_user(user=request.user)
        except NotFound:
            raise Http404("No retail customer for this login.") from None
        points = list(usage_point_list_for_customer(customer=customer))
        submitted = "format" in request.GET
        form = DownloadForm(request.GET if submitted else None, usage_points=points)
        if not submitted or not form.is_valid():
            status = 400 if submitted else 200
            return TemplateResponse(request, "batch/download.html", {"form": form}, status=status)
        chosen = DownloadRequest(
            customer=customer,
            usage_points=[form.points[public_id] for public_id in form.cleaned_data["usage_points"]],
            first_day=form.cleaned_data["first_day"],
            last_day=form.cleaned_data["last_day"],
            format=form.cleaned_data["format"],
            include_records=form.cleaned_data["records"],
        )
        download_record(request=chosen, actor=request.user)
        if chosen.format == "xml":
            response = StreamingHttpResponse(
                download_xml_chunks(request=chosen, base=espi_resource_base()), content_type=ATOM_CONTENT_TYPE
            )
        else:
            response = StreamingHttpResponse(
                download_csv_chunks(request=chosen), content_type="text/csv; charset=utf-8"
            )
        response["Content-Disposition"] = f'attachment; filename="{chosen.filename}"'
        response["Cache-Control"] = "no-store"
        return response
