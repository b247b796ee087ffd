"""Staff view of batch submissions: who sent what, what became of each entry, and the raw payload."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from batch import reports
from batch.models import Submission
from custodian.admin_tools import CsvExportMixin, LargeTableMixin, fixed_choices_filter

_REPORT_ROWS_SHOWN = 500


@admin.register(Submission)
class SubmissionAdmin(CsvExportMixin, LargeTableMixin, admin.ModelAdmin):
    """Read-only: a submission is evidence of what a caller sent and what the filter decided."""

    list_display = (
        "public_id",
        "received_at",
        "caller",
        "token_kind",
        "target_kind",
        "target_id",
        "outcome",
        "http_status",
        "received_count",
        "accepted_count",
        "rejected_count",
        "bytes",
    )
    list_filter = (
        "outcome",
        "target_kind",
        # Lazy labels (the filter renders them per request) where fixed_choices_filter's annotation says str.
        fixed_choices_filter(
            "token_kind",
            _("token kind"),
            [
                ("access_token", _("access token")),
                ("client_access_token", _("client token")),
                ("custodian", _("back office")),
            ],
        ),
        "dry_run",
        fixed_choices_filter(
            "mode",
            _("mode"),
            [
                ("partial", pgettext_lazy("mode", "partial")),
                ("strict", pgettext_lazy("mode", "strict")),
            ],
        ),
    )
    search_fields = ("=public_id", "=target_id", "=sha256", "=idempotency_key", "^caller__name")
    list_select_related = ("caller",)
    date_hierarchy = "received_at"
    fields = (
        "public_id",
        "caller",
        "token_kind",
        "grant",
        "target_kind",
        "target_id",
        "idempotency_key",
        "content_type",
        "mode",
        "dry_run",
        "received_at",
        "finished_at",
        "outcome",
        "http_status",
        "received_count",
        "accepted_count",
        "rejected_count",
        "applied_count",
        "readings_written",
        "bytes",
        "sha256",
        "payload_download",
        "error",
        "report_table",
    )
    readonly_fields = fields
    # The CSV headings stay English whatever the page's language: scripts and spreadsheets read them by name.
    csv_fields = (
        ("public_id", "submission"),
        ("received_at", "received"),
        ("finished_at", "finished"),
        ("caller__name", "caller"),
        ("token_kind", "token kind"),
        ("target_kind", "target kind"),
        ("target_id", "target id"),
        ("outcome", "outcome"),
        ("http_status", "HTTP status"),
        ("dry_run", "dry run"),
        ("received_count", "entries received"),
        ("accepted_count", "accepted"),
        ("rejected_count", "rejected"),
        ("applied_count", "applied"),
        ("readings_written", "readings written"),
        ("bytes", "bytes"),
        ("sha256", "sha256"),
    )

    def get_queryset(self, request):
        # The per-entry report and the error text can be large: read only on a submission's page.
        return super().get_queryset(request).defer("report", "error")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path(
                "<int:pk>/payload/",
                self.admin_site.admin_view(self.payload_view),
                name="batch_submission_payload",
            )
        ]
        return urls + super().get_urls()

    def payload_view(self, request, pk: int):
        """Send the raw payload as received (staff with view permission only; MEDIA_ROOT is never served)."""
        submission = get_object_or_404(Submission, pk=pk)
        if not self.has_view_permission(request, submission) or not submission.payload.name:
            raise Http404
        file_path = Path(settings.MEDIA_ROOT) / submission.payload.name
        if not file_path.is_file():
            raise Http404
        return FileResponse(
            open(file_path, "rb"),  # noqa: SIM115 - FileResponse closes it
            as_attachment=True,
            filename=f"submission-{submission.public_id}.xml",
            content_type="application/xml",
        )

    @admin.display(description=_("raw payload"))
    def payload_download(self, obj: Submission) -> str:
        if not obj.payload.name:
            return "-"
        url = reverse("admin:batch_submission_payload", args=[obj.pk])
        text = gettext("download (%(bytes)s bytes, sha256 %(sha256)s)") % {
            "bytes": obj.bytes,
            "sha256": obj.sha256[:16],
        }
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description=_("per-entry report"))
    def report_table(self, obj: Submission) -> str:
        report = obj.report or {}
        entries = reports.report_rows_first(obj, _REPORT_ROWS_SHOWN) if reports.report_has_entries(report) else []
        if not entries:
            error = (obj.report or {}).get("error")
            return format_html("<code>{}</code>", f"{error}: {obj.report.get('detail', '')}") if error else "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((row["index"], row["id"], row["kind"] or "", row["status"], row["reason"] or "") for row in entries),
        )
        more = report.get("counts", {}).get("received", len(entries)) - len(entries)
        more_text = ngettext(
            "%(count)s more row in the stored report.", "%(count)s more rows in the stored report.", more
        ) % {"count": more}
        note = format_html("<p>{}</p>", more_text) if more > 0 else ""
        return format_html(
            "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>{}",
            gettext("entry id"),
            pgettext("kind of entry", "kind"),
            pgettext("entry status", "status"),
            gettext("reason"),
            rows,
            note,
        )
