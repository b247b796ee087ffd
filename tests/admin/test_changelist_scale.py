"""Every admin changelist costs the same number of queries with 10,000 rows as with 10 (no N+1, no per-row work)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from batch.models import Submission
from custodian.models import (
    AuditEvent,
    CustomerRecord,
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    UsagePoint,
    UsageSummary,
    User,
)
from grants.models import BulkUser, Grant, Notification, ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db

LARGE = 10_000


@pytest.fixture
def parents(customer, usage_point, third_party):
    reading_type = ReadingType.objects.create(title="Wh", uom=72)
    reading = MeterReading.objects.create(usage_point=usage_point, reading_type=reading_type, title="Energy")
    bulk = factories.make_bulk_user(third_party=third_party, bulk_id="parent")
    return {
        "customer": customer,
        "usage_point": usage_point,
        "third_party": third_party,
        "reading_type": reading_type,
        "meter_reading": reading,
        "bulk_user": bulk,
    }


def _users(start: int, count: int, prefix: str) -> list[User]:
    return User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.org") for i in range(start, start + count)],
        batch_size=1000,
    )


def _rows(model, p, start: int, count: int) -> list:
    now = timezone.now()
    span = range(start, start + count)
    if model is User:
        return [User(username=f"scale{i}") for i in span]
    if model is RetailCustomer:
        return [RetailCustomer(user=user, name=user.username) for user in _users(start, count, "cust")]
    if model is UsagePoint:
        return [UsagePoint(customer=p["customer"], title=f"Meter {i}", content="<UsagePoint/>" * 50) for i in span]
    if model is MeterReading:
        return [MeterReading(usage_point=p["usage_point"], reading_type=p["reading_type"]) for _ in span]
    if model is IntervalBlock:
        return [IntervalBlock(meter_reading=p["meter_reading"], start=i * 86400, duration=86400) for i in span]
    if model is ReadingType:
        return [ReadingType(title=f"Type {i}", uom=72, content="<ReadingType/>" * 50) for i in span]
    if model is LocalTimeParameters:
        return [
            LocalTimeParameters(dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=0)
            for _ in span
        ]
    if model is UsageSummary:
        return [UsageSummary(usage_point=p["usage_point"]) for _ in span]
    if model is ElectricPowerQualitySummary:
        return [ElectricPowerQualitySummary(usage_point=p["usage_point"]) for _ in span]
    if model is CustomerRecord:
        return [
            CustomerRecord(customer=p["customer"], kind="ServiceLocation", label=f"{i} Main St", content="<x/>" * 50)
            for i in span
        ]
    if model is AuditEvent:
        return [
            AuditEvent(
                action=AuditEvent.Action.DATA_READ,
                customer=p["customer"],
                actor_client=p["third_party"],
                summary=f"read {i}",
                detail={"path": "/x" * 100},
            )
            for i in span
        ]
    if model is ThirdParty:
        return [
            ThirdParty(
                name=f"TP {i}",
                client_type=ThirdParty.CLIENT_CONFIDENTIAL,
                authorization_grant_type=ThirdParty.GRANT_AUTHORIZATION_CODE,
                redirect_uris="https://tp.example/cb",
            )
            for i in span
        ]
    if model is BulkUser:
        return [BulkUser(third_party=p["third_party"], bulk_id=f"b{i}", name=f"Bulk {i}") for i in span]
    if model is Grant:
        return [
            Grant(
                customer=p["customer"],
                third_party=p["third_party"],
                bulk_user=p["bulk_user"] if i % 2 else None,
                scope=factories.DEFAULT_SCOPE,
                authorized_start=now,
                authorized_end=now + timedelta(days=30),
                consent={"shown": {"data": ["x" * 100] * 10}},
            )
            for i in span
        ]
    if model is Notification:
        return [Notification(third_party=p["third_party"], kind=Notification.Kind.NEW_DATA) for _ in span]
    if model is get_access_token_model():
        return [
            model(token=f"scale-access-{i}", application=p["third_party"], expires=now + timedelta(hours=1))
            for i in span
        ]
    if model is get_refresh_token_model():
        return [model(token=f"scale-refresh-{i}", application=p["third_party"], user=p["customer"].user) for i in span]
    if model is Submission:
        return [
            Submission(
                caller=p["third_party"],
                token_kind="access_token",
                target_kind="bulk",
                target_id="1",
                report={"entries": [{"index": 1}] * 50},
            )
            for _ in span
        ]
    if model is Group:
        return [Group(name=f"group {i}") for i in span]
    if model._meta.app_label == "axes":  # login throttling records (django-axes)
        common = {"user_agent": "Mozilla/5.0", "ip_address": "192.0.2.1", "http_accept": "*/*", "path_info": "/x"}
        extra = (
            {"get_data": "", "post_data": "", "failures_since_start": 1} if model.__name__ == "AccessAttempt" else {}
        )
        return [model(username=f"user{i}", attempt_time=now, **common, **extra) for i in span]
    raise AssertionError(f"No scale rows for {model.__name__}: add them here when registering a new admin.")


def _grow(model, parents, start: int, count: int) -> None:
    for offset in range(0, count, 2000):
        model._default_manager.bulk_create(_rows(model, parents, start + offset, min(2000, count - offset)))


#: Columns a changelist never reads: payloads, reports, packed readings, consent records, raw XML.
HEAVY_COLUMNS = {
    AuditEvent: "detail",
    Submission: "report",
    Grant: "consent",
    IntervalBlock: "readings",
    UsagePoint: "content",
    ReadingType: "content",
    UsageSummary: "content",
    ElectricPowerQualitySummary: "content",
    CustomerRecord: "content",
    Notification: "resources",
}


#: A search term of each kind the admins search by: a uuid (exact id columns) and a word (text prefixes).
SEARCH_TERMS = ("0f4c1c3e-6a7e-4b53-9d52-3f1f6c1b2a10", "Meter")


def _changelist_queries(admin_client, model, search: str = "") -> tuple[int, int]:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if search:
        url += "?" + urlencode({"q": search})
    admin_client.get(url)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200, model
    if model in HEAVY_COLUMNS:
        column = f"{connection.ops.quote_name(model._meta.db_table)}.{connection.ops.quote_name(HEAVY_COLUMNS[model])}"
        assert not any(column in query["sql"] for query in queries.captured_queries), (model, column)
    return len(queries), response.context["cl"].result_count


MODELS = sorted(
    (m for m in admin.site._registry if m._meta.label_lower != "auth.permission"), key=lambda m: m._meta.label_lower
)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label_lower)
def test_a_changelist_page_costs_the_same_queries_at_ten_thousand_rows(admin_client, parents, model):
    _grow(model, parents, 0, 10)
    few, small_count = _changelist_queries(admin_client, model)
    _grow(model, parents, 10, LARGE - 10)
    many, large_count = _changelist_queries(admin_client, model)
    assert large_count >= LARGE > small_count
    assert many == few, f"{model._meta.label}: {few} queries with {small_count} rows, {many} with {large_count}"


@pytest.mark.parametrize(
    "model", [m for m in MODELS if admin.site._registry[m].search_fields], ids=lambda m: m._meta.label_lower
)
def test_a_search_costs_the_same_queries_at_ten_thousand_rows(admin_client, parents, model):
    _grow(model, parents, 0, 10)
    few = [_changelist_queries(admin_client, model, term)[0] for term in SEARCH_TERMS]
    _grow(model, parents, 10, LARGE - 10)
    many = [_changelist_queries(admin_client, model, term)[0] for term in SEARCH_TERMS]
    assert many == few, f"{model._meta.label}: {few} queries per search with 10 rows, {many} with {LARGE}"


def test_large_changelists_never_count_the_whole_table_twice():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {"custodian", "grants", "batch", "oauth2_provider"} and model is not ThirdParty:
            assert model_admin.show_full_result_count is False, model
