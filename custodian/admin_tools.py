"""Admin changelists at scale: a cheap page count, searches an index serves, and a streamed CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import unescape_string_literal

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

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


#: At most this many related rows (customers, Third Parties) stand for a search term on a related column.
_RELATED_MATCHES = 1000


class IndexedSearchMixin:
    """Admin search where every condition is one an index serves, whatever the table's size.

    ``search_fields`` keeps Django's spelling with two kinds of entries:

    * ``"=column"``: the term equals the column (an id: public id, uuid, client id, hash), compared
      exactly, so the column's b-tree index serves it; a uuid column is only asked about a term that
      is a uuid (``urn:uuid:`` allowed);
    * ``"^column"``: the column starts with the term, ignoring case; on PostgreSQL a trigram GIN index
      on ``UPPER(column)`` serves it (the ``*_trgm`` indexes of the migrations), on SQLite it is a scan.

    A column of a related model (``customer__public_id``) is looked up in that model first (at most
    ``_RELATED_MATCHES`` rows), then matched by the foreign key: every condition stays on this table's
    own indexed columns, so PostgreSQL combines them (``BitmapOr``) instead of scanning a join. The
    term is matched whole (no splitting into words; quotes around it are dropped). One query per
    related hop: a constant number.
    """

    search_fields: Any = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if len(term) > 1 and term[0] in "\"'" and term[-1] == term[0]:
            term = unescape_string_literal(term)  # a quoted term, as Django's own search reads it
        if not term or not self.search_fields:
            return queryset, False
        conditions = [c for spec in self.search_fields if (c := search_condition(queryset.model, spec, term))]
        if not conditions:
            return queryset.none(), False
        either = Q()
        for condition in conditions:
            either |= condition
        return queryset.filter(either), False


def _exact_value(field: models.Field, term: str) -> object | None:
    """Return ``term`` as a value of ``field`` for an exact lookup, or None if it cannot be one."""
    if isinstance(field, models.UUIDField):
        try:
            return UUID(term.removeprefix("urn:uuid:"))
        except ValueError:
            return None
    if isinstance(field, models.IntegerField | models.AutoField):
        return int(term) if term.isdigit() else None
    max_length = getattr(field, "max_length", None)
    return None if max_length is not None and len(term) > max_length else term


def search_condition(model: Any, spec: str, term: str) -> Q | None:
    """Return the condition ``spec`` (``"=column"`` or ``"^column"``, see IndexedSearchMixin) puts on ``model``."""
    mode, name = spec[0], spec[1:]
    if mode not in "=^":
        raise ValueError(f"search field {spec!r}: start it with '=' (exact id) or '^' (text prefix)")
    first, _sep, rest = name.partition("__")
    field = model._meta.get_field(first)
    if rest:
        related = field.related_model
        inner = search_condition(related, mode + rest, term)
        if inner is None:
            return None
        keys = list(related._default_manager.filter(inner).values_list("pk", flat=True)[:_RELATED_MATCHES])
        return Q(**{f"{field.attname}__in": keys}) if keys else None
    if mode == "^":
        return Q(**{f"{first}__istartswith": term})
    value = _exact_value(field, term)
    return None if value is None else Q(**{first: value})


class LargeTableMixin(IndexedSearchMixin):
    """A changelist over a table that grows without bound: no full count, an estimated page count, indexed search."""

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


def fixed_choices_filter(
    field_name: str, title: StrOrPromise, choices: list[tuple[str, StrOrPromise]]
) -> type[admin.SimpleListFilter]:
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
