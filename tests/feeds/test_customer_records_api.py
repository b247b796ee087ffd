"""The customer's own records (customer.xsd) on the ESPI API: only with their own consent, same rules as usage data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from custodian.espi.namespaces import ATOM, CUSTOMER
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from custodian.imports import customer_feed_import_with_records
from custodian.models import AuditEvent, CustomerRecord
from custodian.services import customer_record_link_usage_points
from grants import services as grant_services
from grants.access_history import history_page
from tests import factories
from tests.worlds import RecordsWorld

pytestmark = pytest.mark.django_db

RESOURCE = "/espi/1_1/resource"
RECORDS = Path(__file__).resolve().parent.parent / "samples" / "customer" / "retail_customer_feed.xml"
RC_SCOPE = (
    "FB=1_3_4_5_13_14_15_17_35_37_39_46_47_50;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000"
)
USAGE_ONLY = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000"
NS = {"a": ATOM, "c": CUSTOMER}
BASE = "https://portal.example"


@pytest.fixture
def records_world() -> RecordsWorld:
    """Ana: two homes (Home, Cabin), her records imported; Home's ServiceLocation linked to Home only."""
    customer = factories.make_customer(username="ana", name="Ana Ramos")
    home = factories.make_usage_point(customer=customer, title="Home")
    cabin = factories.make_usage_point(customer=customer, title="Cabin")
    outcome = customer_feed_import_with_records(customer=customer, source=RECORDS)
    assert outcome.imported
    location = CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")
    customer_record_link_usage_points(record=location, usage_points=[home])
    meter = CustomerRecord.objects.get(customer=customer, kind="Meter")
    customer_record_link_usage_points(record=meter, usage_points=[home])
    tp = factories.make_third_party(name="Sunny Solar", scopes=(RC_SCOPE, RC_SCOPE + ";BR=7"))[0]
    return RecordsWorld(customer=customer, home=home, cabin=cabin, tp=tp, location=location)


def _grant(records_world, *, records, points=None, scope=RC_SCOPE, bulk_user=None):
    return grant_services.grant_create(
        customer=records_world.customer,
        third_party=records_world.tp,
        usage_points=points or [records_world.home],
        scope=scope + (f";BR={bulk_user.bulk_id}" if bulk_user else ""),
        bulk_user=bulk_user,
        authorized_end=timezone.now() + timedelta(days=30),
        customer_records=records,
    )


def _get(client, path, token):
    return client.get(RESOURCE + path, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/atom+xml")


def _kinds(response) -> list[str]:
    root = parse_small_document(b"".join(response.streaming_content))
    return [
        child.tag.split("}", 1)[1]
        for entry in root.iterfind("a:entry", NS)
        for child in entry.find("a:content", NS).iterchildren()
    ]


@override_settings(PORTAL_BASE_URL=BASE)
def test_batch_retail_customer_serves_only_the_records_the_customer_chose(client, records_world):
    grant = _grant(records_world, records=["name_address"])
    token = factories.make_access_token(grant)
    response = _get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", token)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert validate_document(body) == []
    root = parse_small_document(body)
    kinds = [
        next(entry.find("a:content", NS).iterchildren()).tag.split("}", 1)[1] for entry in root.iterfind("a:entry", NS)
    ]
    assert sorted(kinds) == ["Customer", "Meter", "ServiceLocation"]  # no account, agreement or statement


@override_settings(PORTAL_BASE_URL=BASE)
def test_account_details_alone_serve_no_name_and_no_address(client, records_world):
    grant = _grant(records_world, records=["account_billing"])
    response = _get(
        client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", factories.make_access_token(grant)
    )
    assert sorted(_kinds(response)) == ["CustomerAccount", "CustomerAgreement", "Statement"]


def test_usage_consent_never_implies_the_records(client, records_world):
    grant = _grant(records_world, records=[], scope=USAGE_ONLY)
    response = _get(
        client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", factories.make_access_token(grant)
    )
    assert response.status_code == 403
    assert response.json()["error"]


def test_the_records_blocks_without_a_choice_are_refused_at_grant_time(records_world):
    with pytest.raises(grant_services.ValidationError):
        _grant(records_world, records=["name_address"], scope=USAGE_ONLY)


def test_another_customers_id_and_an_unknown_id_are_the_same_404(client, records_world):
    grant = _grant(records_world, records=["name_address", "account_billing"])
    token = factories.make_access_token(grant)
    other = factories.make_customer()
    mine_not = _get(client, f"/Batch/RetailCustomer/{other.public_id}", token)
    unknown = _get(client, "/Batch/RetailCustomer/0123456789abcdef", token)
    assert mine_not.status_code == unknown.status_code == 404
    assert mine_not.json() == unknown.json()


def test_a_client_token_or_a_registration_token_cannot_read_a_customers_records(client, records_world):
    _grant(records_world, records=["name_address"])
    client_token = factories.make_client_token(records_world.tp, scope=RC_SCOPE)
    response = _get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", client_token)
    assert response.status_code == 403
    assert _get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", "nope").status_code == 401


@override_settings(PORTAL_BASE_URL=BASE)
def test_fb58_each_service_location_names_its_usage_points_by_their_absolute_https_self_href(client, records_world):
    """GBA's FB_58 check: every UsagePoint reference is the https href of a UsagePoint entry the reader can GET."""
    grant = _grant(records_world, records=["name_address"], points=[records_world.home, records_world.cabin])
    token = factories.make_access_token(grant)
    records = parse_small_document(
        b"".join(_get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", token).streaming_content)
    )
    usage = parse_small_document(
        b"".join(_get(client, f"/Batch/Subscription/{grant.subscription_id}", token).streaming_content)
    )
    usage_point_selves = {
        link.get("href")
        for entry in usage.iterfind("a:entry", NS)
        if entry.find("a:content/{http://naesb.org/espi}UsagePoint", NS) is not None
        for link in entry.iterfind("a:link[@rel='self']", NS)
    }
    refs = [node.text for node in records.iterfind(".//c:ServiceLocation/c:UsagePoints/c:UsagePoint", NS)]
    assert refs, "the ServiceLocation names its usage point"
    for ref in refs:
        assert ref.startswith("https://"), ref
        assert ref in usage_point_selves, ref
        assert _get(client, ref.removeprefix(BASE + RESOURCE), token).status_code == 200
    # The file it came from named the utility's own UsagePoint/5446AF3F: never passed on.
    assert b"5446AF3F" not in b"".join(
        _get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", token).streaming_content
    )


def test_a_location_linked_to_a_usage_point_the_grant_does_not_share_is_not_served(client, records_world):
    grant = _grant(records_world, records=["name_address"], points=[records_world.cabin])
    response = _get(
        client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", factories.make_access_token(grant)
    )
    assert sorted(_kinds(response)) == ["Customer"]  # the Home's address and meter stay private


@override_settings(PORTAL_BASE_URL=BASE)
def test_resource_level_paths_follow_the_espi_tree(client, records_world):
    grant = _grant(records_world, records=["name_address", "account_billing"])
    token = factories.make_access_token(grant)
    rc = records_world.customer.public_id
    records = {r.kind: r for r in CustomerRecord.objects.filter(customer=records_world.customer)}
    customer, account = records["Customer"].public_id, records["CustomerAccount"].public_id
    one = _get(client, f"/RetailCustomer/{rc}/Customer/{customer}/CustomerAccount/{account}", token)
    assert one.status_code == 200
    body = b"".join(one.streaming_content)
    assert validate_document(body) == []
    assert b"0098765432-1" in body
    listing = _get(client, f"/RetailCustomer/{rc}/Customer/{customer}/CustomerAccount", token)
    assert _kinds(listing) == ["CustomerAccount"]
    # A record under the wrong parent, a kind out of place, an unknown id: the same 404.
    wrong = _get(client, f"/RetailCustomer/{rc}/Customer/{account}/CustomerAccount/{account}", token)
    misplaced = _get(client, f"/RetailCustomer/{rc}/CustomerAccount/{account}", token)
    unknown = _get(client, f"/RetailCustomer/{rc}/Customer/ffffffffffffffff", token)
    assert wrong.status_code == misplaced.status_code == unknown.status_code == 404


def test_bulk_retail_customer_info_carries_only_members_who_opted_in(client, records_world):
    bulk_user = factories.make_bulk_user(third_party=records_world.tp, bulk_id="7")
    _grant(records_world, records=["name_address"], bulk_user=bulk_user)
    bob = factories.make_customer(username="bob")
    bob_point = factories.make_usage_point(customer=bob, title="Bob's flat")
    grant_services.grant_create(
        customer=bob,
        third_party=records_world.tp,
        usage_points=[bob_point],
        scope=USAGE_ONLY + ";BR=7",
        bulk_user=bulk_user,
        authorized_end=timezone.now() + timedelta(days=30),
    )
    token = factories.make_client_token(records_world.tp, scope="FB=3_35_47;BR=7")
    response = _get(client, "/Batch/BulkRetailCustomerInfo/7", token)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert validate_document(body) == []
    assert b"Ana Ramos" in body
    assert sorted(_kinds_of(body)) == ["Customer", "Meter", "ServiceLocation"]
    reads = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ)
    assert list(reads.values_list("customer__user__username", flat=True)) == ["ana"]


def _kinds_of(body: bytes) -> list[str]:
    root = parse_small_document(body)
    return [
        next(entry.find("a:content", NS).iterchildren()).tag.split("}", 1)[1] for entry in root.iterfind("a:entry", NS)
    ]


def test_every_read_of_records_is_in_the_customers_access_history_in_words(client, records_world):
    grant = _grant(records_world, records=["name_address"])
    _get(client, f"/Batch/RetailCustomer/{records_world.customer.public_id}", factories.make_access_token(grant))
    _page, entries = history_page(
        customer=records_world.customer, viewer=records_world.customer.user, third_party=None, page_number=None
    )
    sentences = [entry.sentence for entry in entries]
    assert "Sunny Solar read your name and service address" in sentences


def test_revoking_the_records_alone_keeps_the_usage_data_shared(client, records_world):
    grant = _grant(records_world, records=["name_address", "account_billing"])
    token = factories.make_access_token(grant)
    grant_services.grant_customer_records_revoke(grant=grant, records=["name_address"])
    rc = records_world.customer.public_id
    assert sorted(_kinds(_get(client, f"/Batch/RetailCustomer/{rc}", token))) == [
        "CustomerAccount",
        "CustomerAgreement",
        "Statement",
    ]
    grant_services.grant_customer_records_revoke(grant=grant, records=["account_billing"])
    grant.refresh_from_db()
    assert not {46, 47, 50} & set(grant.function_blocks)
    assert grant.scope.split(";")[0] == "FB=1_3_4_5_13_14_15_17_35_37_39"
    assert _get(client, f"/Batch/RetailCustomer/{rc}", token).status_code == 403
    assert _get(client, f"/Batch/Subscription/{grant.subscription_id}", token).status_code == 200
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.GRANT_RECORDS_REVOKED, customer=records_world.customer
        ).count()
        == 2
    )


@override_settings(PORTAL_BASE_URL=BASE)
def test_round_trip_export_import_export_gives_the_same_records(client, records_world):
    """Batch/RetailCustomer out, into an empty portal (the records deleted), out again: same ids, same content."""
    grant = _grant(records_world, records=["name_address", "account_billing"])
    token = factories.make_access_token(grant)
    path = f"/Batch/RetailCustomer/{records_world.customer.public_id}"
    first = b"".join(_get(client, path, token).streaming_content)
    assert validate_document(first) == []
    before = {r.uuid: (r.kind, r.label) for r in CustomerRecord.objects.filter(customer=records_world.customer)}
    CustomerRecord.objects.filter(customer=records_world.customer).delete()
    outcome = customer_feed_import_with_records(customer=records_world.customer, source=first)
    assert outcome.imported, outcome.rejected
    after = {r.uuid: (r.kind, r.label) for r in CustomerRecord.objects.filter(customer=records_world.customer)}
    assert after == before
    # The ServiceLocation named the usage point by this portal's Subscription href: linked again to Home.
    location = CustomerRecord.objects.get(customer=records_world.customer, kind="ServiceLocation")
    assert list(location.usage_points.all()) == [records_world.home]

    def entries(body: bytes) -> list[bytes]:
        root = parse_small_document(body)
        return sorted(
            etree_tostring(next(entry.find("a:content", NS).iterchildren())) for entry in root.iterfind("a:entry", NS)
        )

    second = b"".join(_get(client, path, token).streaming_content)
    assert entries(second) == entries(first)


def etree_tostring(element) -> bytes:
    from lxml import etree

    return etree.tostring(element, method="c14n")


def test_head_answers_like_get_and_reads_nothing(client, records_world):
    grant = _grant(records_world, records=["name_address"])
    token = factories.make_access_token(grant)
    response = client.head(
        RESOURCE + f"/Batch/RetailCustomer/{records_world.customer.public_id}",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/atom+xml",
    )
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).exists()


def test_bulk_retail_customer_info_pages_over_members(client, records_world):
    bulk_user = factories.make_bulk_user(third_party=records_world.tp, bulk_id="7")
    _grant(records_world, records=["name_address"], bulk_user=bulk_user)
    for name in ("bea", "cai"):
        other = factories.make_customer(username=name)
        point = factories.make_usage_point(customer=other, title=f"{name}'s home")
        grant_services.grant_create(
            customer=other,
            third_party=records_world.tp,
            usage_points=[point],
            scope=RC_SCOPE + ";BR=7",
            bulk_user=bulk_user,
            authorized_end=timezone.now() + timedelta(days=30),
            customer_records=["account_billing"],
        )
    token = factories.make_client_token(records_world.tp, scope="FB=3_35_47;BR=7")
    first = _get(client, "/Batch/BulkRetailCustomerInfo/7?max-results=2", token)
    root = parse_small_document(b"".join(first.streaming_content))
    following = [link.get("href") for link in root.iterfind("a:link[@rel='next']", NS)]
    assert len(following) == 1 and "start-index=3" in following[0]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count() == 2
    last = _get(client, "/Batch/BulkRetailCustomerInfo/7?start-index=3&max-results=2", token)
    root = parse_small_document(b"".join(last.streaming_content))
    assert not root.findall("a:link[@rel='next']", NS)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATA_READ).count() == 3


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/atom+xml", "application/atom+xml"),
        ("application/xml", "application/xml"),
        ("text/xml; charset=utf-8", "text/xml"),
        ("*/*", "application/atom+xml"),
    ],
)
def test_every_records_get_answers_the_xml_accepts_and_json_only_is_406(client, records_world, accept, expected):
    bulk_user = factories.make_bulk_user(third_party=records_world.tp, bulk_id="7")
    grant = _grant(records_world, records=["name_address"], bulk_user=bulk_user)
    access = factories.make_access_token(grant)
    client_token = factories.make_client_token(records_world.tp, scope="FB=3_35_47;BR=7")
    rc = records_world.customer.public_id
    customer = CustomerRecord.objects.get(customer=records_world.customer, kind="Customer").public_id
    gets = [
        (f"/Batch/RetailCustomer/{rc}", access),
        (f"/RetailCustomer/{rc}/Customer/{customer}", access),
        (f"/RetailCustomer/{rc}/Customer", access),
        ("/Batch/BulkRetailCustomerInfo/7", client_token),
    ]
    for path, token in gets:
        response = client.get(RESOURCE + path, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=accept)
        assert response.status_code == 200, path
        assert response["Content-Type"].split(";")[0] == expected, path
        assert validate_document(b"".join(response.streaming_content)) == [], path
        refused = client.get(RESOURCE + path, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")
        assert refused.status_code == 406, path
        unauthenticated = client.get(RESOURCE + path, HTTP_ACCEPT=accept)
        assert unauthenticated.status_code == 401 and unauthenticated["Content-Type"] == "application/json"
