"""The staff reports page: the regulator's quarterly figures as a table, a chart and CSV."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone, translation
from django.utils.translation import gettext

from batch.regulator import THIRD_PARTY_COLUMNS, Quarter, RegulatorReport, regulator_report, report_chart


def _quarter_from(request) -> tuple[Quarter, str]:
    text = request.GET.get("quarter", "")
    if not text:
        return Quarter.containing(timezone.now()), ""
    try:
        return Quarter.parse(text), ""
    except ValueError as exc:
        return Quarter.containing(timezone.now()), str(exc)


def _csv(report: RegulatorReport, quarter: Quarter) -> HttpResponse:
    """Send the figures as CSV for the regulator: English headings whatever the staff page's language."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="regulator-report-{quarter}.csv"'
    writer = csv.writer(response)
    with translation.override("en"):
        writer.writerow(["quarter", str(quarter)])
        writer.writerow(["Third Parties registered", report.third_parties_registered])
        writer.writerow(["Third Parties approved", report.third_parties_approved])
        writer.writerow(["customers sharing", report.customers_sharing])
        writer.writerow(["data requests failed without an identified Third Party", report.unidentified_failed])
        writer.writerow([])
        writer.writerow(["Third Party", *(str(label) for _key, label in THIRD_PARTY_COLUMNS)])
        for item in report.by_third_party:
            writer.writerow([item.name, *item.row()])
        writer.writerow(["all Third Parties", *report.totals()])
        writer.writerow([])
        writer.writerow(["kind of request", "method", "served", "failed", "bytes served"])
        writer.writerows(report.by_kind)
    return response


def regulator_report_view(request):
    """Show (or, with ``?format=csv``, send) one quarter's figures; staff only (``admin_view``)."""
    quarter, error = _quarter_from(request)
    report = regulator_report(quarter=quarter)
    if request.GET.get("format") == "csv" and not error:
        return _csv(report, quarter)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Regulator report, %(quarter)s") % {"quarter": quarter},
        "report": report,
        "columns": [label for _key, label in THIRD_PARTY_COLUMNS],
        "rows": [(item.name, item.row()) for item in report.by_third_party],
        "totals": report.totals(),
        "chart": report_chart(report),
        "quarter": quarter,
        "time_zone": timezone.get_current_timezone_name(),
        "previous": quarter.previous(),
        "following": quarter.next(),
        "error": error,
    }
    return TemplateResponse(request, "admin/reports/regulator.html", context, status=400 if error else 200)
