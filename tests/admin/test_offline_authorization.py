"""Offline authorization (ESPI FB 40) from the admin: staff record a signed paper authorization.

It yields the same grant, Authorization resource and tokens an online consent does, with an audit
row and consent evidence that says "offline".
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from lxml import etree
from oauth2_provider.models import AccessToken, RefreshToken

from custodian.models import AuditEvent
from grants.models import Grant, Notification
from tests import factories
from tests.grants.oauth_helpers import basic_auth

pytestmark = pytest.mark.django_db

URL = "/admin/grants/grant/offline/"


@pytest.fixture
def paper(customer, third_party):
    third_party.notify_uri = "https://solar.example/notify"
    third_party.save(update_fields=["notify_uri"])
    points = [factories.make_usage_point(customer=customer, title=t) for t in ("Home", "Barn")]
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    return {
        "customer": customer.public_id,
        "third_party": str(third_party.pk),
        "usage_points": f"{points[0].public_id}\n{points[1].public_id}",
        "scope": "FB=1_3_4_5_13_14_15_37_39_98;IntervalDuration=900;BlockDuration=daily;HistoryLength=31536000",
        "authorized_until": (today + timedelta(days=180)).isoformat(),
        "signed_on": (today - timedelta(days=2)).isoformat(),
        "evidence_reference": "PAPER-2026-0042 (scan in the records office)",
    }


def shown(response, element_id: str) -> str:
    (node,) = etree.HTML(response.content).xpath(f'//*[@id="{element_id}"]')
    return node.text


def test_the_grant_changelist_links_to_the_form(admin_client):
    page = admin_client.get(reverse("admin:grants_grant_changelist")).content.decode()
    assert URL in page and "Record offline authorization" in page
    assert admin_client.get(URL).status_code == 200


def test_recording_a_paper_authorization_yields_grant_authorization_and_tokens(
    admin_client, admin_user, paper, customer, third_party
):
    response = admin_client.post(URL, paper)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    grant = Grant.objects.get(public_id=shown(response, "authorization-id"))
    access, refresh = shown(response, "access-token"), shown(response, "refresh-token")
    assert grant.customer == customer and grant.third_party == third_party and grant.status == Grant.Status.ACTIVE
    assert sorted(grant.usage_points.values_list("public_id", flat=True)) == sorted(paper["usage_points"].split())
    assert 98 not in grant.function_blocks  # narrowed to what the utility offers, as online
    assert grant.scope == "FB=1_3_4_5_13_14_15_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=31536000"
    # Consent evidence: offline, with the paper's reference, when it was signed and who recorded it.
    assert grant.consent["flow"] == "offline"
    assert grant.consent["evidence_reference"] == paper["evidence_reference"]
    assert grant.consent["signed_on"] == paper["signed_on"]
    assert grant.consent["recorded_by"] == admin_user.username
    record = admin_client.get(reverse("admin:grants_grant_change", args=[grant.pk])).content.decode()
    assert "signed paper authorization" in record and "PAPER-2026-0042" in record
    assert access not in record and refresh not in record
    # An audit row by the staff member, and the tokens' issue, never their values.
    events = AuditEvent.objects.filter(object_id=grant.public_id)
    offline = events.get(action=AuditEvent.Action.GRANT_CREATED, detail__flow="offline")
    assert offline.actor_user == admin_user
    assert events.filter(action=AuditEvent.Action.TOKEN_ISSUED).exists()
    assert not any(access in e.summary + str(e.detail) for e in AuditEvent.objects.all())
    # The Third Party is told of the new Authorization, as after an online consent.
    assert Notification.objects.filter(grant=grant, kind=Notification.Kind.GRANT_CREATED).exists()
    # Tokens stored as checksums only; the access token reaches the grant's subscription, the refresh token renews it.
    assert not AccessToken.objects.filter(token=access).exists()
    assert not RefreshToken.objects.filter(token=refresh).exists()
    client = HttpClient()
    feed = client.get(
        f"/espi/1_1/resource/Batch/Subscription/{grant.subscription_id}",
        HTTP_AUTHORIZATION=f"Bearer {access}",
        HTTP_ACCEPT="application/atom+xml",
    )
    assert feed.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_offline_refresh_token_renews_with_the_third_partys_credentials(admin_client, customer):
    third_party, secret = factories.make_third_party(name="Paper Co", client_secret="paper-co-secret-for-tests")
    point = factories.make_usage_point(customer=customer, title="Home")
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    response = admin_client.post(
        URL,
        {
            "customer": customer.public_id,
            "third_party": str(third_party.pk),
            "usage_points": point.public_id,
            "scope": "",
            "authorized_until": (today + timedelta(days=30)).isoformat(),
            "signed_on": today.isoformat(),
            "evidence_reference": "PAPER-7",
        },
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    refreshed = HttpClient().post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": shown(response, "refresh-token")},
        HTTP_AUTHORIZATION=basic_auth(third_party.client_id, secret),
    )
    assert refreshed.status_code == 200, refreshed.content
    body = refreshed.json()
    grant = Grant.objects.get(public_id=shown(response, "authorization-id"))
    assert body["scope"] == factories.DEFAULT_SCOPE == grant.scope  # empty scope: the first registered one
    assert body["authorizationURI"].endswith(f"/Authorization/{grant.public_id}")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer": "0000000000000000"}, "No retail customer has this id"),
        ({"usage_points": "ffffffffffffffff"}, "usage points of this customer only"),
        ({"evidence_reference": ""}, "This field is required"),
        ({"scope": "FB=read/write"}, "FB="),
        ({"bulk_id": "77"}, "no bulk user with this Bulk ID"),
        ({"signed_on": (date(2999, 1, 1)).isoformat()}, "cannot be signed in the future"),
        ({"authorized_until": "2001-01-01"}, "authorized period has already ended"),
    ],
)
def test_a_bad_paper_authorization_is_refused_and_creates_nothing(admin_client, paper, change, field):
    response = admin_client.post(URL, {**paper, **change})
    assert response.status_code == 400
    assert field in response.content.decode(), re.findall(r"errorlist.*|errornote.*", response.content.decode())
    assert not Grant.objects.exists()
    assert not AccessToken.objects.exists()


def test_other_customers_usage_points_are_refused(admin_client, paper, other_customer):
    theirs = factories.make_usage_point(customer=other_customer, title="Not yours")
    response = admin_client.post(URL, {**paper, "usage_points": theirs.public_id})
    assert response.status_code == 400
    assert not Grant.objects.exists()


def test_staff_without_change_permission_cannot_record(client, django_user_model, paper):
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_grant", content_type__app_label="grants"))
    client.force_login(viewer)
    assert client.get(URL).status_code == 403
    assert client.post(URL, paper).status_code == 403
    assert not Grant.objects.exists()
