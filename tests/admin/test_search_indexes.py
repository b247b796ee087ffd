"""On PostgreSQL every admin search is served by an index: EXPLAIN of each changelist's search shows no table scan.

Sequential scans are switched off for the EXPLAIN (``enable_seqscan = off``), so the plan names a
``Seq Scan`` of the table only when no index can answer the condition at all: whatever the table's
size or statistics, an id is found through its b-tree and a text prefix through its trigram GIN index.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory

from custodian.admin_tools import IndexedSearchMixin
from tests import factories
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db]

#: A uuid (exact id columns), an id-like word and a name prefix: each search kind the admins offer.
TERMS = ("0f4c1c3e-6a7e-4b53-9d52-3f1f6c1b2a10", "4f2a9c1d7e3b5a60", "Sunny")

SEARCHABLE = sorted(
    (m for m, a in admin.site._registry.items() if a.search_fields and isinstance(a, IndexedSearchMixin)),
    key=lambda m: m._meta.label_lower,
)


@pytest.fixture
def staff_request(db):
    request = RequestFactory().get("/admin/")
    request.user = factories.make_customer(username="root").user
    request.user.is_staff = request.user.is_superuser = True
    return request


def test_every_searchable_changelist_is_covered():
    searchable = {m._meta.label_lower for m in SEARCHABLE}
    assert {"custodian.auditevent", "custodian.usagepoint", "grants.grant", "grants.thirdparty"} <= searchable
    unindexed = [
        m for m, a in admin.site._registry.items() if a.search_fields and not isinstance(a, IndexedSearchMixin)
    ]
    assert all(m._meta.app_label not in {"custodian", "grants", "batch"} for m in unindexed), unindexed


@pytest.mark.parametrize("model", SEARCHABLE, ids=lambda m: m._meta.label_lower)
def test_the_search_of_a_changelist_uses_indexes(model, staff_request):
    factories.make_third_party(name="Sunny Solar")  # a related match, so related lookups become key lists
    model_admin = admin.site._registry[model]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        for term in TERMS:
            queryset, _duplicates = model_admin.get_search_results(
                staff_request, model_admin.get_queryset(staff_request), term
            )
            if queryset.query.is_empty():
                continue  # no column can hold this term: nothing is asked of the database
            # Without the page's ordering, so an ordered index walked whole cannot pass for a lookup.
            plan = queryset.order_by().explain()
            assert f"Seq Scan on {table}" not in plan, f"{model._meta.label} searching {term!r}:\n{plan}"
            assert "Index Cond" in plan or "Recheck Cond" in plan, f"{model._meta.label} searching {term!r}:\n{plan}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = on")


def test_the_audit_text_search_uses_its_trigram_index(staff_request):
    from custodian.models import AuditEvent

    model_admin = admin.site._registry[AuditEvent]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        queryset, _ = model_admin.get_search_results(staff_request, model_admin.get_queryset(staff_request), "Batch")
        assert "custodian_auditevent_summary_trgm" in queryset.explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = on")
