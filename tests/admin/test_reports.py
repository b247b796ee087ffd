"""The regulator report: each quarterly figure from real grants, audit rows and submissions; table, chart, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batch.models import Submission
from batch.regulator import Quarter, regulator_report
from grants import services as grant_services
from grants.models import ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def quarter_activity(django_user_model):
    """Two Third Parties' activity inside the current quarter."""
    staff = django_user_model.objects.create_user("staffer", password="pw-staffer-123", is_staff=True)
    solar, _ = factories.make_third_party(name="Solar Co")
    meter, _ = factories.make_third_party(name="Meter Mates")
    grant_services.third_party_set_lifecycle(third_party=meter, lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    grant_services.third_party_set_lifecycle(third_party=meter, lifecycle=ThirdParty.Lifecycle.PRODUCTION)
    customers = [factories.make_customer() for _ in range(4)]
    points = [factories.make_usage_point(customer=c) for c in customers]
    g = [
        factories.make_grant(customer=c, third_party=solar, usage_points=[p])
        for c, p in zip(customers, points, strict=True)
    ]
    one_time = factories.make_grant(customer=customers[0], third_party=meter, usage_points=[points[0]], days=1)
    grant_services.grant_revoke(grant=g[0], actor=customers[0].user)
    grant_services.grant_revoke(grant=g[1], actor=staff)
    grant_services.grant_revoke(grant=g[2])
    Submission.objects.create(
        caller=solar,
        token_kind="access_token",
        target_kind="bulk",
        target_id="1",
        bytes=1000,
        outcome=Submission.Outcome.APPLIED,
    )
    Submission.objects.create(
        caller=solar,
        token_kind="access_token",
        target_kind="bulk",
        target_id="1",
        bytes=500,
        outcome=Submission.Outcome.MALFORMED,
    )
    return {"solar": solar, "meter": meter, "one_time": one_time}


def test_the_figures_of_a_quarter(quarter_activity, _clock):
    _clock.shift(timedelta(days=2))
    assert grant_services.grant_expire_due() == 1  # the one-day grant
    report = regulator_report(quarter=Quarter.containing(timezone.now()))
    assert report.third_parties_registered == 2
    assert report.third_parties_approved == 1  # Meter Mates back to Production; the factories register in Production
    rows = {item.name: item.figures for item in report.by_third_party}
    solar, meter = rows["Solar Co"], rows["Meter Mates"]
    assert (solar["created"], solar["one_time"], solar["ongoing"]) == (4, 0, 4)
    assert (meter["created"], meter["one_time"], meter["ongoing"]) == (1, 1, 0)
    assert (
        solar["revoked"],
        solar["revoked_by_customer"],
        solar["revoked_by_utility"],
        solar["revoked_by_third_party"],
    ) == (3, 1, 1, 1)
    assert meter.get("expired") == 1 and "expired" not in solar
    assert solar["customers_sharing"] == 1 and report.customers_sharing == 1
    # Data requests served and failed, bytes served: real requests, tests/feeds/test_request_outcomes.py.
    assert (solar["submissions"], solar["submissions_failed"], solar["bytes_received"]) == (2, 1, 1500)


def test_the_report_is_a_fixed_number_of_aggregate_queries(quarter_activity):
    quarter = Quarter.containing(timezone.now())
    with CaptureQueriesContext(connection) as few:
        regulator_report(quarter=quarter)
    solar = quarter_activity["solar"]
    for _ in range(30):
        customer = factories.make_customer()
        factories.make_grant(
            customer=customer, third_party=solar, usage_points=[factories.make_usage_point(customer=customer)]
        )
    with CaptureQueriesContext(connection) as many:
        regulator_report(quarter=quarter)
    assert len(few) == len(many) <= 11


def test_a_past_quarter_counts_what_was_in_force_then(quarter_activity):
    previous = Quarter.containing(timezone.now()).previous()
    report = regulator_report(quarter=previous)
    assert report.by_third_party == [] and report.customers_sharing == 0


def test_the_page_shows_table_chart_and_csv(admin_client, quarter_activity):
    url = reverse("admin_regulator_report")
    page = admin_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert '<table id="report-by-third-party">' in body and '<svg id="report-chart"' in body
    assert "<title>Solar Co: 4 created</title>" in body
    assert f"(exclusive), times in {timezone.get_current_timezone_name()}." in body
    assert url in admin_client.get(reverse("admin:index")).content.decode()
    quarter = str(Quarter.containing(timezone.now()))
    download = admin_client.get(url, {"quarter": quarter, "format": "csv"})
    assert download["Content-Disposition"] == f'attachment; filename="regulator-report-{quarter}.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0] == ["quarter", quarter] and rows[1] == ["Third Parties registered", "2"]
    assert rows[4] == ["data requests failed without an identified Third Party", "0"] and rows[5] == []
    header = rows[6]
    solar = next(row for row in rows if row[:1] == ["Solar Co"])
    assert solar[header.index("authorizations created")] == "4"
    assert solar[header.index("revoked by the customer")] == "1"
    totals = next(row for row in rows if row[:1] == ["all Third Parties"])
    assert totals[header.index("authorizations created")] == "5"
    assert rows[-1] == ["kind of request", "method", "served", "failed", "bytes served"]  # no requests this quarter


@override_settings(TIME_ZONE="America/Los_Angeles")
def test_the_page_names_the_utilitys_time_zone(admin_client):
    body = admin_client.get(reverse("admin_regulator_report"), {"quarter": "2026Q2"}).content.decode()

    assert "2026Q2: 2026-04-01 to 2026-07-01 (exclusive), times in America/Los_Angeles." in body


def test_a_bad_quarter_is_a_clear_400(admin_client):
    response = admin_client.get(reverse("admin_regulator_report"), {"quarter": "2026Q7"})
    assert response.status_code == 400 and "is not a quarter such as 2026Q2" in response.content.decode()


def test_only_staff_see_reports(client, customer):
    client.force_login(customer.user)
    response = client.get(reverse("admin_regulator_report"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_quarters():
    assert str(Quarter.parse("2026-q4").next()) == "2027Q1"
    assert str(Quarter.parse("2026Q1").previous()) == "2025Q4"
    assert Quarter.parse("2026Q2").end == Quarter.parse("2026Q3").start
    with pytest.raises(ValueError):
        Quarter.parse("26Q1")
