"""The back office uploads a customer's records: POST Batch/RetailCustomer/{id}, all or nothing, a report per entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodian.models import AuditEvent, CustomerRecord
from grants.models import ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db

RECORDS = Path(__file__).resolve().parent.parent / "samples" / "customer" / "retail_customer_feed.xml"
URL = "/espi/1_1/resource/Batch/RetailCustomer/{}"


@pytest.fixture
def custodian_token():
    custodian, _secret = factories.make_third_party(name="Utility back office", role=ThirdParty.Role.CUSTODIAN)
    return custodian, factories.make_client_token(custodian, scope="FB=45")


def _post(client, customer, token, body: bytes):
    return client.post(
        URL.format(customer.public_id),
        data=body,
        content_type="application/atom+xml",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_back_office_uploads_a_customers_records_and_a_second_upload_changes_nothing(client, custodian_token):
    custodian, token = custodian_token
    customer = factories.make_customer()
    first = _post(client, customer, token, RECORDS.read_bytes())
    assert first.status_code == 200, first.content
    assert (first.json()["status"], first.json()["created"]) == ("applied", 6)
    assert CustomerRecord.objects.filter(customer=customer).count() == 6
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_RECORDS_IMPORTED)
    assert event.actor_client_id == custodian.pk and event.customer == customer
    again = _post(client, customer, token, RECORDS.read_bytes())
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 6)


def test_one_bad_entry_imports_nothing_and_the_report_says_which_and_why(client, custodian_token):
    _custodian, token = custodian_token
    customer = factories.make_customer()
    body = RECORDS.read_bytes().replace(b"<cust:isPrePay>false", b"<cust:isPrePay>later")
    response = _post(client, customer, token, body)
    assert response.status_code == 400
    refused = [entry for entry in response.json()["entries"] if entry["status"] != "ok"]
    assert [(entry["kind"], entry["status"]) for entry in refused] == [("CustomerAgreement", "invalid")]
    assert not CustomerRecord.objects.exists()


def test_a_third_partys_token_cannot_upload_records_and_an_unknown_customer_is_404(client, custodian_token):
    _custodian, token = custodian_token
    tp, _secret = factories.make_third_party()
    customer = factories.make_customer()
    tp_token = factories.make_client_token(tp, scope="FB=35")
    assert _post(client, customer, tp_token, RECORDS.read_bytes()).status_code == 403
    response = client.post(
        URL.format("0000000000000000"),
        data=RECORDS.read_bytes(),
        content_type="application/atom+xml",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404
    assert not CustomerRecord.objects.exists()
