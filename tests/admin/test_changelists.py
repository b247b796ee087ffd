"""Changelists staff work in: consent evidence as a record, date drill-down, streamed CSV export, columns."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from batch.models import Submission
from custodian.models import AuditEvent
from custodian.services import audit_record
from grants.models import Grant
from tests import factories
from tests.grants.oauth_helpers import approve

pytestmark = pytest.mark.django_db


def test_consent_evidence_reads_as_a_record(admin_client, client, customer, usage_point, third_party):
    client.force_login(customer.user)
    approve(
        client,
        third_party=third_party,
        usage_points=[usage_point],
        scope=factories.DEFAULT_SCOPE,
    )
    grant = Grant.objects.get(customer=customer)
    page = admin_client.get(
        reverse("admin:grants_grant_change", args=[grant.pk]), HTTP_USER_AGENT="Mozilla/5.0 (ConsentTest)"
    ).content.decode()
    for heading in ("Who, when, from where", "What the customer was shown", "What the customer chose"):
        assert heading in page
    assert f"{customer.name} (RetailCustomer {customer.public_id})" in page
    assert "the consent screen the Third Party sent the customer to" in page
    assert "127.0.0.1" in page  # the test client's REMOTE_ADDR, recorded at consent
    assert "Helps you understand and reduce your energy use." in page  # the purpose shown
    assert f"Home ({usage_point.public_id})" in page
    assert "Interval metering (your meter&#x27;s interval readings)" in page
    assert '"chosen"' not in page and "&quot;chosen&quot;" not in page  # no raw JSON blob


def test_a_grant_without_consent_evidence_says_so(admin_client, grant):
    page = admin_client.get(reverse("admin:grants_grant_change", args=[grant.pk])).content.decode()
    assert "No consent screen was recorded for this grant" in page


def rows_of(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_audit_log_exports_what_the_changelist_filters_as_streamed_csv(admin_client, customer):
    AuditEvent(
        action=AuditEvent.Action.DATA_READ,
        summary="=HYPERLINK(evil)",
        customer=customer,
        created_at=timezone.now() - timedelta(days=400),
    ).save(force_insert=True)
    audit_record(action=AuditEvent.Action.DATA_READ, summary="later read", customer=customer)
    changelist = reverse("admin:custodian_auditevent_changelist")
    page = admin_client.get(changelist).content.decode()
    assert reverse("admin:custodian_auditevent_export") in page
    everything = rows_of(admin_client.get(reverse("admin:custodian_auditevent_export")))
    assert everything[0][:3] == ["when", "action", "summary"]
    this_year = timezone.localtime().year
    drilled = rows_of(
        admin_client.get(
            reverse("admin:custodian_auditevent_export"), {"created_at__year": this_year, "action__exact": "data.read"}
        )
    )
    assert [row[2] for row in drilled[1:]] == ["later read"]
    earlier = rows_of(
        admin_client.get(
            reverse("admin:custodian_auditevent_export"),
            {"created_at__year": this_year - 1, "action__exact": "data.read"},
        )
    )
    # A cell that a spreadsheet would run as a formula is exported as text.
    assert [row[2] for row in earlier[1:]] == ["'=HYPERLINK(evil)"]
    assert len(everything) > len(drilled)


def test_the_audit_log_and_submissions_drill_down_by_date(admin_client, customer, third_party):
    audit_record(action=AuditEvent.Action.DATA_READ, summary="a read", customer=customer)
    Submission.objects.create(caller=third_party, token_kind="custodian", target_kind="bulk", target_id="1")
    year = timezone.localtime().year
    for model, field in ((AuditEvent, "created_at"), (Submission, "received_at")):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        page = admin_client.get(url).content.decode()
        assert '<nav class="toplinks">' in page, model
        assert f"?{field}__year={year}" in page, model
        assert admin_client.get(url, {f"{field}__year": year}).context["cl"].result_count == model.objects.count()
        assert admin_client.get(url, {f"{field}__year": year - 3}).context["cl"].result_count == 0


def test_submissions_export_as_streamed_csv(admin_client, third_party):
    Submission.objects.create(caller=third_party, token_kind="custodian", target_kind="bulk", target_id="1", bytes=42)
    rows = rows_of(admin_client.get(reverse("admin:batch_submission_export")))
    assert rows[0][:4] == ["submission", "received", "finished", "caller"]
    assert rows[1][3] == third_party.name and rows[1][-2] == "42"


def test_an_auditor_without_view_permission_gets_no_export(client, django_user_model):
    staff = django_user_model.objects.create_user("nobody", password="pw-nobody-123", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:custodian_auditevent_export")).status_code == 403


def test_the_grant_list_shows_status_early(admin_client, grant):
    page = admin_client.get(reverse("admin:grants_grant_changelist")).content.decode()
    assert page.index("column-status") < page.index("column-customer")
