"""Admin changelists at scale: a cheap page count on large tables, and a streamed CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property

_CHUNK_ROWS = 2000


#: Above this many rows (PostgreSQL's planner estimate), an unfiltered changelist shows the estimate.
ESTIMATE_ABOVE_ROWS = 50_000


class EstimatedCountPaginator(Paginator):
    """Count an unfiltered large table from PostgreSQL's statistics instead of ``COUNT(*)``.

    ``COUNT(*)`` reads the whole table (seconds at millions of rows); ``pg_class.reltuples`` is
    what the planner knows, kept current by autovacuum. A filtered or small list is counted exactly.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                        [connection.ops.quote_name(queryset.model._meta.db_table)],
                    )
                    row = cursor.fetchone()
                if row and row[0] > ESTIMATE_ABOVE_ROWS:
                    return int(row[0])
        return super().count


class LargeTableMixin:
    """A changelist over a table that grows without bound: no full count, an estimated page count."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/change_list_large.html"


class _Echo:
    """A file-like object whose ``write`` returns the line, for csv.writer over a streamed response."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if value is None:
        return ""
    text = str(value)
    # Spreadsheets run a cell that starts with these as a formula (CSV injection); quote it as text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def fixed_choices_filter(field_name: str, title: str, choices: list[tuple[str, str]]) -> type[admin.SimpleListFilter]:
    """Return a list filter with known choices: no ``SELECT DISTINCT`` over the table to find them."""

    class FixedChoicesFilter(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            return choices

        def queryset(self, request, queryset):
            value = self.value()
            return queryset.filter(**{field_name: value}) if value is not None else queryset

    FixedChoicesFilter.title = title
    return FixedChoicesFilter


class CsvExportMixin:
    """Add ``<changelist>/export.csv`` streaming ``csv_fields`` of the rows the changelist filters select.

    The rows are read with ``values_list`` in chunks (``iterator``): no model instances, no
    whole-table list in memory, whatever the number of rows.
    """

    csv_fields: tuple[tuple[str, str], ...] = ()  # (lookup, column heading)
    change_list_template = "admin/change_list_csv.html"

    def get_urls(self):
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}_export"
        extra = [path("export.csv", self.admin_site.admin_view(self.csv_export_view), name=name)]
        return extra + super().get_urls()

    def csv_rows(self, request) -> Iterator[tuple]:
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        yield tuple(heading for _lookup, heading in self.csv_fields)
        for row in queryset.values_list(*(lookup for lookup, _heading in self.csv_fields)).iterator(
            chunk_size=_CHUNK_ROWS
        ):
            yield tuple(_cell(value) for value in row)

    def csv_export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        writer = csv.writer(_Echo())
        rows = self.csv_rows(request)
        response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}-{stamp}.csv"'
        return response
