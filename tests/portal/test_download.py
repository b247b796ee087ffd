"""Download My Data: the customer's own data as schema-valid Green Button XML or as CSV, streamed and audited."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from greenbutton_objects import parse

from custodian.espi.validate import validate_document
from custodian.models import AuditEvent
from tests import factories
from tests.feeds.conftest import make_point_with_data, shared_resources

pytestmark = pytest.mark.django_db


@pytest.fixture
def points(customer):
    reading_type, ltp = shared_resources()
    home = make_point_with_data(customer=customer, title="Home", days=5, reading_type=reading_type, ltp=ltp)
    cabin = make_point_with_data(customer=customer, title="Cabin", days=5, reading_type=reading_type, ltp=ltp)
    return home, cabin


def _body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def _query(points, *, fmt: str, first: date, last: date) -> dict:
    return {
        "usage_points": [point.public_id for point in points],
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "format": fmt,
    }


def test_the_form_offers_the_customers_own_meters(customer_client, points, other_customer):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    page = customer_client.get("/download/")
    assert page.status_code == 200
    assert points[0].public_id.encode() in page.content and points[1].public_id.encode() in page.content
    assert bobs.public_id.encode() not in page.content


def test_xml_is_schema_valid_and_parses_with_greenbutton_objects(customer_client, customer, points, tmp_path):
    today = timezone.localdate()
    response = customer_client.get(
        "/download/", _query(points[:1], fmt="xml", first=today - timedelta(days=3), last=today - timedelta(days=2))
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    assert response["Content-Disposition"].startswith('attachment; filename="green-button-')
    body = _body(response)
    assert validate_document(body, strict_links=True) == []
    path = tmp_path / "download.xml"
    path.write_bytes(body)
    usage_points = parse.parse_feed(str(path))
    assert [up.title for up in usage_points] == ["Home"]
    readings = [
        reading
        for mr in usage_points[0].meterReadings
        for block in mr.intervalBlocks
        for reading in block.intervalReadings
    ]
    assert len(readings) == 2 * 4  # two chosen days of four readings
    assert "Cabin" not in body.decode()


def test_csv_has_one_row_per_reading_with_local_time_unit_and_quality(customer_client, customer, points, settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    today = timezone.localdate()
    first, last = today - timedelta(days=4), today - timedelta(days=2)
    response = customer_client.get("/download/", _query(points, fmt="csv", first=first, last=last))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_body(response).decode())))
    header, data = rows[0], rows[1:]
    assert header == ["meter", "start (local time)", "end (local time)", "time zone", "value", "unit", "quality"]
    assert {row[0] for row in data} == {"Home", "Cabin"}
    starts = [row[1] for row in data if row[0] == "Home"]
    # Readings start in the chosen local days only, shown with the local offset (PDT here).
    assert all(first.isoformat() <= start[:10] <= last.isoformat() for start in starts)
    assert all(start.endswith("-07:00") for start in starts)
    assert {row[3] for row in data} == {"PDT"}
    assert {row[5] for row in data} == {"kWh"}
    assert data[0][4] == "0.1" or data[0][4].startswith("0.1")  # 100 Wh is 0.1 kWh
    assert {row[6] for row in data} == {"not flagged"}


def test_download_is_audited_and_shown_in_the_access_history(customer_client, customer, points):
    today = timezone.localdate()
    response = customer_client.get(
        "/download/", _query(points[:1], fmt="csv", first=today - timedelta(days=2), last=today - timedelta(days=1))
    )
    _body(response)
    event = AuditEvent.objects.get(customer=customer, detail__download=True)
    assert event.actor_user == customer.user
    history = customer_client.get("/history/").content.decode()
    assert "You downloaded Home&#x27;s data as CSV" in history


@pytest.mark.parametrize(
    "change",
    [
        {"usage_points": ["0123456789abcdef"]},
        {"format": "pdf"},
        {"first_day": "2026-06-10", "last_day": "2026-06-01"},
        {"first_day": "not a date"},
    ],
)
def test_bad_choices_are_refused_and_nothing_is_downloaded(customer_client, customer, points, change):
    query = {**_query(points, fmt="csv", first=date(2026, 6, 1), last=date(2026, 6, 10)), **change}
    response = customer_client.get("/download/", query)
    assert response.status_code == 400
    assert not response.streaming
    assert b"errorlist" in response.content
    assert not AuditEvent.objects.filter(customer=customer, detail__download=True).exists()


def test_another_customers_meter_is_refused_like_an_unknown_one(customer_client, other_customer, points):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    theirs = customer_client.get(
        "/download/", {**_query([bobs], fmt="csv", first=date(2026, 6, 1), last=date(2026, 6, 2))}
    )
    unknown = customer_client.get(
        "/download/",
        {**_query([], fmt="csv", first=date(2026, 6, 1), last=date(2026, 6, 2)), "usage_points": ["0" * 16]},
    )
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.context["form"].errors.keys() == unknown.context["form"].errors.keys() == {"usage_points"}
    assert b"Bob&#x27;s" not in theirs.content


def test_the_xml_includes_the_customers_own_records_only_when_asked_and_imports_back(customer_client, customer, points):
    from pathlib import Path

    from custodian.imports import customer_feed_import_with_records
    from custodian.models import CustomerRecord
    from custodian.services import customer_record_link_usage_points

    records = Path(__file__).resolve().parent.parent / "samples" / "customer" / "retail_customer_feed.xml"
    assert customer_feed_import_with_records(customer=customer, source=records).imported
    location = CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")
    customer_record_link_usage_points(record=location, usage_points=[points[0]])
    today = timezone.localdate()
    query = _query(points[:1], fmt="xml", first=today - timedelta(days=3), last=today - timedelta(days=2))
    without = _body(customer_client.get("/download/", query))
    assert b"Ana Ramos" not in without and b"naesb.org/espi/customer" not in without
    body = _body(customer_client.get("/download/", {**query, "records": "on"}))
    assert validate_document(body, strict_links=True) == []
    assert b"Ana Ramos" in body and b"0098765432-1" in body
    assert AuditEvent.objects.filter(customer=customer, detail__records=True).count() == 1
    # The file is a Green Button file of its own: it imports back whole, the ServiceLocation linked to the
    # usage point the same file names, the usage data unchanged.
    uuids = set(CustomerRecord.objects.filter(customer=customer).values_list("uuid", flat=True))
    CustomerRecord.objects.filter(customer=customer).delete()
    outcome = customer_feed_import_with_records(customer=customer, source=body)
    assert outcome.imported, outcome.rejected
    assert set(CustomerRecord.objects.filter(customer=customer).values_list("uuid", flat=True)) == uuids
    imported = CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")
    assert [point.title for point in imported.usage_points.all()] == ["Home"]
    assert outcome.result is not None and not sum(outcome.result.created.values())
