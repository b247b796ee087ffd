"""Staff upload a Green Button file for a customer in the admin; the import service does the work."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from custodian.models import AuditEvent, IntervalBlock, UsagePoint
from tests.readings import reading_count

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser(username="staff", password="pw-staff-123", email="s@x.test")
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_staff_upload_imports_for_the_customer(staff_client, customer):
    url = reverse("admin:custodian_retailcustomer_import", args=[customer.pk])
    assert staff_client.get(url).status_code == 200
    upload = SimpleUploadedFile("gb.xml", (SAMPLES / "sample_greenbutton_data.xml").read_bytes())
    response = staff_client.post(url, {"file": upload})
    assert response.status_code == 302
    assert UsagePoint.objects.filter(customer=customer).count() == 1
    assert reading_count(IntervalBlock.objects.filter(meter_reading__usage_point__customer=customer)) > 0
    event = AuditEvent.objects.get(action=AuditEvent.Action.DATA_IMPORTED, customer=customer)
    assert event.actor_user.username == "staff"


@pytest.mark.django_db
def test_staff_upload_shows_the_rejected_entries(staff_client, customer):
    url = reverse("admin:custodian_retailcustomer_import", args=[customer.pk])
    upload = SimpleUploadedFile("gb.xml", (SAMPLES / "Multiple-Authorization-Feed-Anonymized.xml").read_bytes())
    response = staff_client.post(url, {"file": upload})
    assert response.status_code == 200
    assert b"Authorization): unsupported: Authorization cannot be imported" in response.content
    assert not UsagePoint.objects.filter(customer=customer).exists()


@pytest.mark.django_db
def test_customers_cannot_reach_the_upload(client, customer):
    client.force_login(customer.user)
    response = client.get(reverse("admin:custodian_retailcustomer_import", args=[customer.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_staff_lenient_upload_shows_each_normalization_and_what_changed(staff_client, customer):
    url = reverse("admin:custodian_retailcustomer_import", args=[customer.pk])
    data = (SAMPLES / "PGEUsagePoint.xml").read_bytes()
    refused = staff_client.post(url, {"file": SimpleUploadedFile("gb.xml", data)})
    assert refused.status_code == 200 and b"is not a urn:uuid" in refused.content
    done = staff_client.post(url, {"file": SimpleUploadedFile("gb.xml", data), "lenient": "on"}, follow=True)
    assert b"(created 1, updated 0, unchanged 0)" in done.content
    assert b"is a bare UUID, read as urn:uuid:00000000-0000-0000-0000-000000000002" in done.content
    again = staff_client.post(url, {"file": SimpleUploadedFile("gb.xml", data), "lenient": "on"}, follow=True)
    assert b"(created 0, updated 0, unchanged 1)" in again.content
    assert UsagePoint.objects.filter(customer=customer).count() == 1
