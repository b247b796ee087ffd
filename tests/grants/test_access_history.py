"""Access history in sentences, paged, filtered by Third Party."""

from __future__ import annotations

import pytest

from custodian.models import AuditEvent
from custodian.services_access_log import data_read_record
from grants import services
from grants.access_history import PAGE_SIZE
from tests import factories

pytestmark = pytest.mark.django_db

# 24 Nov 2026 00:00 and 1 Dec 2026 00:00 UTC (the test zone): the week of 24-30 Nov.
NOV_24, DEC_1 = 1_795_478_400, 1_796_083_200


@pytest.fixture
def sunny(db):
    third_party, _ = factories.make_third_party(name="Sunny Solar")
    return third_party


def test_reads_are_sentences_naming_the_meter_the_data_and_the_days(customer_client, customer, sunny, two_points):
    home = two_points[0]
    grant = factories.make_grant(customer=customer, third_party=sunny, usage_points=[home])
    path = (
        f"/espi/1_1/resource/Subscription/{grant.subscription_id}/UsagePoint/{home.public_id}/MeterReading/m1/"
        f"IntervalBlock?published-min={NOV_24}&published-max={DEC_1}"
    )
    data_read_record(grants=[grant], client=sunny, path=path)
    data_read_record(
        grants=[grant], client=sunny, path=f"/espi/1_1/resource/Batch/Subscription/{grant.subscription_id}"
    )
    page = customer_client.get("/history/")
    html = page.content.decode()
    assert "Sunny Solar read Home&#x27;s 15-minute usage, Nov. 24, 2026 to Nov. 30, 2026" in html
    assert "Sunny Solar read Home&#x27;s 15-minute usage and billing-period totals and power-quality summaries" in html
    assert "/espi/" not in html
    assert "Subscription" not in html


def test_grant_changes_are_sentences(customer_client, customer, sunny, two_points):
    grant = factories.make_grant(customer=customer, third_party=sunny, usage_points=two_points)
    services.grant_revoke_usage_point(grant=grant, usage_point=two_points[1], actor=customer.user)
    services.grant_revoke(grant=grant, actor=customer.user)
    html = customer_client.get("/history/").content.decode()
    assert "shared Home and Cabin with Sunny Solar until" in html
    assert "You stopped sharing Cabin with Sunny Solar" in html
    assert "You revoked Sunny Solar&#x27;s access" in html


def test_history_is_paged_and_keeps_everything(customer_client, customer, sunny, two_points):
    grant = factories.make_grant(customer=customer, third_party=sunny, usage_points=two_points[:1])
    for n in range(PAGE_SIZE * 9):
        data_read_record(grants=[grant], client=sunny, path=f"/espi/1_1/resource/Batch/Subscription/{n}")
    total = AuditEvent.objects.filter(customer=customer).count()
    assert total > 200
    first = customer_client.get("/history/")
    assert len(first.context["entries"]) == PAGE_SIZE
    pages = first.context["page"].paginator.num_pages
    assert pages == -(-total // PAGE_SIZE)
    last = customer_client.get(f"/history/?page={pages}")
    assert len(last.context["entries"]) == total - PAGE_SIZE * (pages - 1)
    assert b'rel="prev"' in last.content and b'rel="next"' not in last.content
    assert customer_client.get("/history/?page=nonsense").status_code == 200


def test_history_filters_by_third_party(customer_client, customer, sunny, tp, two_points):
    mine = factories.make_grant(customer=customer, third_party=sunny, usage_points=two_points[:1])
    theirs = factories.make_grant(customer=customer, third_party=tp.third_party, usage_points=two_points[1:])
    data_read_record(grants=[mine], client=sunny, path="/espi/1_1/resource/Batch/Subscription/x")
    data_read_record(grants=[theirs], client=tp.third_party, path="/espi/1_1/resource/Batch/Subscription/y")
    everything = customer_client.get("/history/").content.decode()
    assert "Sunny Solar read" in everything and "Solar Co read" in everything
    only = customer_client.get(f"/history/?third_party={sunny.public_id}").content.decode()
    assert "Sunny Solar read" in only
    assert "Solar Co read" not in only
    assert "shared Cabin with Solar Co" not in only


def test_another_customers_third_party_is_not_a_filter(customer_client, other_customer, tp):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    factories.make_grant(customer=other_customer, third_party=tp.third_party, usage_points=[bobs])
    page = customer_client.get(f"/history/?third_party={tp.third_party.public_id}")
    assert page.status_code == 200
    assert page.context["chosen"] is None
    assert b"Solar Co" not in page.content
