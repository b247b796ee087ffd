"""Staff read a customer's records in the admin and link them to that customer's usage points only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from custodian.imports import customer_feed_import_with_records
from custodian.models import AuditEvent, CustomerRecord
from custodian.services import customer_record_link_usage_points
from tests import factories

pytestmark = pytest.mark.django_db

RECORDS = Path(__file__).resolve().parent.parent / "samples" / "customer" / "retail_customer_feed.xml"


@pytest.fixture
def records():
    customer = factories.make_customer(name="Ana Ramos")
    home = factories.make_usage_point(customer=customer, title="Home")
    assert customer_feed_import_with_records(customer=customer, source=RECORDS).imported
    return customer, home, CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")


def test_the_changelist_finds_a_record_by_its_label_and_filters_by_kind(admin_client, records):
    url = reverse("admin:custodian_customerrecord_changelist")
    found = admin_client.get(url, {"q": '"742 Evergreen"'})  # a prefix of the label, quoted as one term
    assert found.status_code == 200 and b"742 Evergreen Terrace" in found.content
    meters = admin_client.get(url, {"kind": "Meter"})
    assert b"1010187342" in meters.content and b"742 Evergreen Terrace" not in meters.content


def test_staff_link_a_service_location_to_the_customers_usage_point_with_an_audit_row(admin_client, records):
    customer, home, location = records
    url = reverse("admin:custodian_customerrecord_change", args=[location.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b"Home" in page.content
    response = admin_client.post(url, {"usage_points": [home.pk]})
    assert response.status_code == 302
    assert list(location.usage_points.all()) == [home]
    assert AuditEvent.objects.filter(object_type="CustomerRecord", object_id=location.public_id).count() == 1


def test_another_customers_usage_point_cannot_be_linked(admin_client, records):
    _customer, _home, location = records
    stranger = factories.make_usage_point(customer=factories.make_customer(), title="Elsewhere")
    url = reverse("admin:custodian_customerrecord_change", args=[location.pk])
    response = admin_client.post(url, {"usage_points": [stranger.pk]})
    assert response.status_code == 200  # the form refuses it: not one of the choices
    assert not location.usage_points.exists()
    with pytest.raises(ValueError):
        customer_record_link_usage_points(record=location, usage_points=[stranger])


def test_the_customers_page_lists_their_records(admin_client, records):
    customer, _home, _location = records
    page = admin_client.get(reverse("admin:custodian_retailcustomer_change", args=[customer.pk]))
    assert page.status_code == 200
    assert b"0098765432-1" in page.content and b"742 Evergreen Terrace" in page.content
