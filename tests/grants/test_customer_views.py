"""Customer pages: share, my grants, revoke, history, dashboard; ownership, CSRF and framing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from custodian.models import AuditEvent, IntervalBlock, MeterReading
from grants.models import Grant
from tests import factories
from tests.grants.conftest import BULK_SCOPE
from tests.grants.oauth_helpers import authorize_url, consent_post_data, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_grant(customer, tp, two_points):
    bulk = tp.third_party.bulk_users.get(bulk_id="1")
    return factories.make_grant(customer=customer, third_party=tp.third_party, usage_points=two_points, bulk_user=bulk)


@pytest.fixture
def bob_client(other_customer):
    http = HttpClient()
    http.force_login(other_customer.user)
    return http


def _without_csrf_token(content: bytes) -> bytes:
    content = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b'name="csrfmiddlewaretoken" value=""', content)
    return re.sub(rb'name="next" type="hidden" value="[^"]*"', b'name="next" type="hidden" value=""', content)


def test_bola_matrix_other_customer_gets_the_same_404_as_for_nothing(bob_client, alice_grant, two_points):
    """Customer B cannot see or change customer A's grants or usage points; "not yours" == "does not exist"."""
    home = two_points[0]
    unknown = "0123456789abcdef"
    pairs = [
        (f"/grants/{alice_grant.public_id}/revoke/", f"/grants/{unknown}/revoke/"),
        (
            f"/grants/{alice_grant.public_id}/usage-points/{home.public_id}/revoke/",
            f"/grants/{unknown}/usage-points/{unknown}/revoke/",
        ),
        (
            f"/grants/{alice_grant.public_id}/records/name_address/revoke/",
            f"/grants/{unknown}/records/name_address/revoke/",
        ),
    ]
    for theirs, missing in pairs:
        a, b = bob_client.post(theirs), bob_client.post(missing)
        assert a.status_code == b.status_code == 404
        # The same page, byte for byte, but for the CSRF token (masked anew on every response) and the
        # language switch's return path (the URL the caller asked for).
        assert _without_csrf_token(a.content) == _without_csrf_token(b.content)
    alice_grant.refresh_from_db()
    assert alice_grant.status == Grant.Status.ACTIVE
    assert alice_grant.grant_usage_points.filter(revoked_at__isnull=True).count() == 2
    for page in ("/grants/", "/history/", "/"):
        response = bob_client.get(page)
        assert response.status_code == 200
        assert alice_grant.public_id.encode() not in response.content
        assert home.public_id.encode() not in response.content
        assert b"Solar Co" not in response.content or page != "/grants/"


def test_bola_usage_point_of_another_grant_or_customer(customer_client, customer, other_customer, alice_grant, tp):
    """A usage point that is not in the grant answers 404, whether it is the customer's own or another's."""
    own_unshared = factories.make_usage_point(customer=customer, title="Garage")
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    for point in (own_unshared, bobs):
        response = customer_client.post(f"/grants/{alice_grant.public_id}/usage-points/{point.public_id}/revoke/")
        assert response.status_code == 404


def test_consent_cannot_name_another_customers_usage_point(customer_client, other_customer, tp, two_points):
    bobs = factories.make_usage_point(customer=other_customer, title="Bob's")
    _verifier, challenge = pkce_pair()
    page = customer_client.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=challenge))
    assert bobs.public_id.encode() not in page.content
    response = customer_client.post("/oauth/authorize", consent_post_data(page, usage_points=[bobs]))
    assert response.status_code == 400
    assert "usage_points" in response.context["form"].errors
    assert not Grant.objects.exists()


def test_my_grants_lists_and_revokes_after_a_confirmation(customer_client, customer, alice_grant, two_points):
    page = customer_client.get("/grants/")
    assert page.status_code == 200
    assert b"Solar Co neighbourhood study" in page.content
    assert b"Home" in page.content and b"Cabin" in page.content
    confirm = customer_client.get(f"/grants/{alice_grant.public_id}/revoke/")
    assert confirm.status_code == 200
    assert b"Revoke Solar Co's access?" in confirm.content
    assert b'method="post"' in confirm.content
    alice_grant.refresh_from_db()
    assert alice_grant.status == Grant.Status.ACTIVE
    response = customer_client.post(f"/grants/{alice_grant.public_id}/revoke/", follow=True)
    assert response.status_code == 200
    alice_grant.refresh_from_db()
    assert alice_grant.status == Grant.Status.REVOKED
    assert b"Revoked" in response.content
    assert customer_client.get(f"/grants/{alice_grant.public_id}/revoke/").status_code == 302


def test_history_shows_who_did_what(customer_client, customer, alice_grant, tp):
    AuditEvent.objects.create(
        action=AuditEvent.Action.DATA_READ,
        actor_client=tp.third_party,
        customer=customer,
        summary="Read Batch/Subscription",
    )
    page = customer_client.get("/history/")
    assert page.status_code == 200
    assert b"Solar Co read your meters&#x27; data" in page.content
    assert b"Batch/Subscription" not in page.content


def test_share_page_lists_production_third_parties_and_leads_to_consent(
    customer_client, customer, tp, other_tp, two_points
):
    on_hold, _ = factories.make_third_party(name="Paused Co", lifecycle=3)
    page = customer_client.get("/share/")
    assert page.status_code == 200
    assert b"Solar Co" in page.content and b"Other Co" in page.content
    assert b"Paused Co" not in page.content
    url = f"/share/{tp.third_party.public_id}/bulk/1/"
    assert url.encode() in page.content
    consent = customer_client.get(url)
    assert consent.status_code == 200
    assert b"together with other customers" in consent.content
    data = {
        "allow": "Authorize",
        "usage_points": [two_points[1].public_id],
        "data": ["totals"],
        "until": (timezone.localdate() + timedelta(days=10)).isoformat(),
    }
    response = customer_client.post(url, data)
    assert response.status_code == 302
    grant = Grant.objects.get(customer=customer)
    assert grant.bulk_user.bulk_id == "1"
    assert grant.consent["flow"] == "portal"
    assert grant.consent["chosen"]["data"] == ["totals"]
    assert 4 not in grant.function_blocks and 5 not in grant.function_blocks and 17 not in grant.function_blocks
    assert 15 in grant.function_blocks and 1 in grant.function_blocks
    assert list(grant.usage_points.all()) == [two_points[1]]


def test_share_unknown_or_not_in_production_is_404(customer_client, tp):
    on_hold, _ = factories.make_third_party(name="Paused Co", lifecycle=3)
    factories.make_bulk_user(third_party=on_hold, bulk_id="1")
    for url in (
        f"/share/{on_hold.public_id}/bulk/1/",
        f"/share/{tp.third_party.public_id}/bulk/2/",
        f"/share/{tp.third_party.public_id}/bulk/01/",
        "/share/0123456789abcdef/bulk/1/",
    ):
        assert customer_client.get(url).status_code == 404


def test_dashboard_charts_each_usage_point(customer_client, customer, two_points):
    reading = MeterReading.objects.create(usage_point=two_points[0])
    block = IntervalBlock(meter_reading=reading, start=1_700_000_000, duration=4 * 900)
    block.set_readings((1_700_000_000 + i * 900, 900, 100 + i * 50, None, None, None) for i in range(4))
    block.save()
    page = customer_client.get("/")
    assert page.status_code == 200
    assert page.content.count(b"<svg") == 1
    assert page.content.count(b"<rect") == 7  # a week of daily totals, up to the last day with data
    assert b"No readings yet" in page.content
    assert b"<script" not in page.content


@pytest.mark.parametrize("url", ["/accounts/login/", "authorize"])
def test_login_and_consent_pages_cannot_be_framed(customer_client, tp, url):
    if url == "authorize":
        url = authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=pkce_pair()[1])
        response = customer_client.get(url)
    else:
        response = HttpClient().get(url)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_every_form_is_csrf_protected(customer, alice_grant, tp, two_points):
    """Each POST without the CSRF token is refused with 403 and changes nothing."""
    http = HttpClient(enforce_csrf_checks=True)
    assert http.post("/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}).status_code == 403
    http.force_login(customer.user)
    page = http.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=pkce_pair()[1]))
    posts = [
        ("/oauth/authorize", consent_post_data(page, usage_points=two_points)),
        (
            f"/share/{tp.third_party.public_id}/bulk/1/",
            {"allow": "Authorize", "usage_points": [two_points[0].public_id]},
        ),
        (f"/grants/{alice_grant.public_id}/revoke/", {}),
        (f"/grants/{alice_grant.public_id}/usage-points/{two_points[0].public_id}/revoke/", {}),
        ("/accounts/logout/", {}),
    ]
    for url, data in posts:
        assert http.post(url, data).status_code == 403, url
    assert Grant.objects.count() == 1
    alice_grant.refresh_from_db()
    assert alice_grant.status == Grant.Status.ACTIVE


def test_pages_need_login(db, alice_grant):
    http = HttpClient()
    for url in ("/", "/grants/", "/history/", "/share/"):
        response = http.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_staff_without_customer_cannot_consent(db, tp, django_user_model):
    staff = django_user_model.objects.create_user(username="staff", password="x-staff-password", is_staff=True)
    http = HttpClient()
    http.force_login(staff)
    response = http.get(authorize_url(client_id=tp.client_id, scope=BULK_SCOPE, challenge=pkce_pair()[1]))
    assert response.status_code == 403
    assert "Location" not in response
    assert http.get("/grants/").status_code == 404
