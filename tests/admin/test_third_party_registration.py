"""Registering Third Parties in the admin: secret shown once, rotation, approval checklist, register again."""

from __future__ import annotations

import pytest
from django.urls import reverse
from lxml import etree
from oauth2_provider.models import AccessToken

from custodian.espi.parser import parse_small_document
from custodian.models import AuditEvent
from grants.models import BulkUser, ThirdParty
from tests import factories
from tests.grants.oauth_helpers import client_credentials
from tests.notifications.conftest import debug_on, receiver  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

SCOPE = factories.DEFAULT_SCOPE


def registration_data(**overrides) -> dict[str, str]:
    data = {
        "name": "Watt Watchers",
        "role": ThirdParty.Role.THIRD_PARTY,
        "redirect_uris": "https://wattwatchers.example/callback",
        "registered_scopes": SCOPE,
        "description": "Shows where your energy goes.",
        "application_type": "1",
        "application_use": "1",
        "phone": "+1 555 0100",
        "notify_uri": "https://wattwatchers.example/notify",
        "user_portal_uri": "https://wattwatchers.example/",
        "logo_uri": "https://wattwatchers.example/logo.png",
        "client_uri": "https://wattwatchers.example/about",
        "tos_uri": "https://wattwatchers.example/terms",
        "policy_uri": "https://wattwatchers.example/privacy",
        "software_id": "watt-watchers",
        "software_version": "2.1",
        "contacts": "ops@wattwatchers.example",
        "bulk_users": "1 Solar programme\nfleet-7 Fleet customers",
    }
    data.update(overrides)
    return data


def shown(response, element_id: str) -> str:
    """Return the text of one element of an HTML page (the credentials table)."""
    tree = etree.HTML(response.content)
    (node,) = tree.xpath(f'//*[@id="{element_id}"]')
    return node.text


def register(admin_client, **overrides):
    response = admin_client.post(reverse("admin:grants_thirdparty_add"), registration_data(**overrides))
    assert response.status_code == 200, response.content.decode()[:2000]
    return response


def test_registration_shows_the_secret_once_and_stores_it_hashed(admin_client, client):
    response = register(admin_client)
    assert "no-store" in response["Cache-Control"]
    secret = shown(response, "client-secret")
    client_id = shown(response, "client-id")
    third_party = ThirdParty.objects.get(client_id=client_id)
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVIEW
    assert third_party.client_secret != secret and secret not in third_party.client_secret
    assert third_party.logo_uri == "https://wattwatchers.example/logo.png"
    assert third_party.policy_uri == "https://wattwatchers.example/privacy"
    assert third_party.software_version == "2.1"
    assert third_party.registered_scope_list == [SCOPE]
    bulks = {b.bulk_id: b.name for b in BulkUser.objects.filter(third_party=third_party)}
    assert bulks == {"1": "Solar programme", "fleet-7": "Fleet customers"}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_CREATED, object_id=third_party.public_id)
    # Never again: the change page and the changelist do not show it.
    for url in (
        reverse("admin:grants_thirdparty_change", args=[third_party.pk]),
        reverse("admin:grants_thirdparty_changelist"),
    ):
        assert secret not in admin_client.get(url).content.decode()
    # The secret works once the Third Party is in Production.
    factories.grant_services.third_party_set_lifecycle(
        third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION
    )
    token = client_credentials(client, client_id=client_id, secret=secret, scope="FB=1_3_35")
    assert token.status_code == 200, token.content


def test_a_bad_registration_shows_the_errors_and_creates_nothing(admin_client):
    before = ThirdParty.objects.count()
    response = admin_client.post(
        reverse("admin:grants_thirdparty_add"),
        registration_data(registered_scopes="FB=1_x", bulk_users="1 A\n1 B\nnot/valid C"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "registered_scopes" in errors or "bulk_users" in errors
    assert "listed twice" in str(errors["bulk_users"]) and "not a Bulk ID" in str(errors["bulk_users"])
    assert ThirdParty.objects.count() == before


def test_rotation_shows_the_new_secret_once_and_stops_the_old(admin_client, client):
    third_party, old_secret = factories.make_third_party(name="Rotating Co")
    client_token = client_credentials(client, client_id=third_party.client_id, secret=old_secret, scope="FB=1_3_35")
    assert client_token.status_code == 200
    url = reverse("admin:grants_thirdparty_rotate", args=[third_party.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and b"stops working at once" in confirm.content
    response = admin_client.post(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new_secret = shown(response, "client-secret")
    assert new_secret != old_secret
    assert client_credentials(client, client_id=third_party.client_id, secret=old_secret).status_code == 401
    assert (
        client_credentials(client, client_id=third_party.client_id, secret=new_secret, scope="FB=1_3_35").status_code
        == 200
    )
    # The client token obtained with the old secret is revoked with it.
    old_token = client_token.json()["access_token"]
    assert (
        client.get(
            "/espi/1_1/resource/ApplicationInformation/" + third_party.public_id,
            HTTP_AUTHORIZATION=f"Bearer {old_token}",
        ).status_code
        == 401
    )
    assert AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_SECRET_ROTATED).count() == 1
    assert (
        new_secret
        not in admin_client.get(reverse("admin:grants_thirdparty_change", args=[third_party.pk])).content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_approval_passes_when_the_notify_uri_answers(admin_client, receiver, debug_on):  # noqa: F811
    third_party, _secret = factories.make_third_party(
        name="Ready Co", lifecycle=ThirdParty.Lifecycle.REVIEW, notify_uri=receiver.uri()
    )
    response = admin_client.post(reverse("admin:grants_thirdparty_approve", args=[third_party.pk]))
    assert response.status_code == 200
    third_party.refresh_from_db()
    assert third_party.lifecycle == ThirdParty.Lifecycle.PRODUCTION
    (body,) = receiver.bodies()
    resources = parse_small_document(body).xpath("//*[local-name()='resources']/text()")
    assert len(resources) == 1
    assert resources[0].endswith(f"/espi/1_1/resource/ApplicationInformation/{third_party.public_id}")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_APPROVAL_CHECKED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_approval_shows_every_failed_check_and_changes_nothing(admin_client, receiver, settings):  # noqa: F811
    receiver.status = 503
    settings.ESPI_FUNCTION_BLOCKS = "1_3_4_5_13_14_35_37_39"
    third_party, _secret = factories.make_third_party(
        name="Not Ready Co",
        lifecycle=ThirdParty.Lifecycle.REVIEW,
        notify_uri=receiver.uri(),
    )
    # Registered while DEBUG was on (the model refuses plain http otherwise).
    ThirdParty.objects.filter(pk=third_party.pk).update(
        redirect_uris="http://notready.example/callback https://notready.example/ok"
    )
    response = admin_client.post(reverse("admin:grants_thirdparty_approve", args=[third_party.pk]))
    page = response.content.decode()
    third_party.refresh_from_db()
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVIEW
    assert "is not approved" in page
    assert page.count("FAILED") == 3
    assert "http://notready.example/callback is not https" in page
    assert "Refused notify URI scheme" in page  # plain http outside DEBUG is not even POSTed to
    assert "asks for more than the utility offers" in page
    assert receiver.bodies() == []


@pytest.mark.django_db(transaction=True)
def test_approval_reports_a_notify_uri_that_answers_an_error(admin_client, receiver, debug_on):  # noqa: F811
    receiver.status = 500
    third_party, _secret = factories.make_third_party(
        name="Broken Co", lifecycle=ThirdParty.Lifecycle.REVIEW, notify_uri=receiver.uri()
    )
    response = admin_client.post(
        reverse("admin:grants_thirdparty_changelist"),
        {"action": "approve_to_production", "_selected_action": [third_party.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    assert "not approved" in text and "HTTP 500" in text
    third_party.refresh_from_db()
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVIEW
    assert len(receiver.bodies()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_revoked_third_party_registers_again_as_a_new_client(admin_client):
    old, _secret = factories.make_third_party(name="Phoenix Co")
    factories.make_bulk_user(third_party=old, bulk_id="9")
    factories.grant_services.third_party_set_lifecycle(third_party=old, lifecycle=ThirdParty.Lifecycle.REVOKED)
    change = admin_client.get(reverse("admin:grants_thirdparty_change", args=[old.pk])).content.decode()
    assert "Register again as a new client" in change
    response = admin_client.post(reverse("admin:grants_thirdparty_register_again", args=[old.pk]))
    assert response.status_code == 200
    new = ThirdParty.objects.get(client_id=shown(response, "client-id"))
    assert new.pk != old.pk and new.client_id != old.client_id and new.public_id != old.public_id
    assert new.lifecycle == ThirdParty.Lifecycle.REVIEW and new.name == old.name
    assert list(new.bulk_users.values_list("bulk_id", flat=True)) == ["9"]
    old.refresh_from_db()
    assert old.lifecycle == ThirdParty.Lifecycle.REVOKED
    # Reinstating the revoked client itself stays refused.
    admin_client.post(reverse("admin:grants_thirdparty_approve", args=[old.pk]))
    old.refresh_from_db()
    assert old.lifecycle == ThirdParty.Lifecycle.REVOKED


@pytest.mark.django_db(transaction=True)
def test_the_back_office_client_is_registered_the_same_way(admin_client, client):
    response = register(
        admin_client,
        name="Utility back office",
        role=ThirdParty.Role.CUSTODIAN,
        redirect_uris="",
        notify_uri="",
        registered_scopes="",
        bulk_users="",
    )
    back_office = ThirdParty.objects.get(client_id=shown(response, "client-id"))
    assert back_office.role == ThirdParty.Role.CUSTODIAN
    secret = shown(response, "client-secret")
    admin_client.post(reverse("admin:grants_thirdparty_approve", args=[back_office.pk]))
    back_office.refresh_from_db()
    assert back_office.lifecycle == ThirdParty.Lifecycle.PRODUCTION
    assert client_credentials(client, client_id=back_office.client_id, secret=secret).status_code == 200


def test_a_back_office_client_refuses_redirect_uris(admin_client):
    response = admin_client.post(
        reverse("admin:grants_thirdparty_add"),
        registration_data(name="Back office", role=ThirdParty.Role.CUSTODIAN, bulk_users=""),
    )
    assert response.status_code == 200
    assert "no redirect URI" in response.content.decode()
    assert not ThirdParty.objects.filter(name="Back office").exists()


def test_changing_information_goes_through_the_service_and_is_audited(admin_client):
    third_party, _secret = factories.make_third_party(name="Edit Co")
    url = reverse("admin:grants_thirdparty_change", args=[third_party.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    data.update(
        {
            "logo_uri": "https://edit.example/new-logo.png",
            "bulk_users-TOTAL_FORMS": "0",
            "bulk_users-INITIAL_FORMS": "0",
            "bulk_users-MIN_NUM_FORMS": "0",
            "bulk_users-MAX_NUM_FORMS": "0",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    third_party.refresh_from_db()
    assert third_party.logo_uri == "https://edit.example/new-logo.png"
    event = AuditEvent.objects.get(action=AuditEvent.Action.THIRD_PARTY_UPDATED)
    assert event.detail == {"fields": ["logo_uri"]}


def test_rotation_needs_a_post_with_change_permission(client, django_user_model):
    third_party, _secret = factories.make_third_party(name="Guarded Co")
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    client.force_login(viewer)
    url = reverse("admin:grants_thirdparty_rotate", args=[third_party.pk])
    assert client.post(url).status_code in (403, 404)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_SECRET_ROTATED).exists()


def _application_information(client, third_party, token):
    return client.get(
        f"/espi/1_1/resource/ApplicationInformation/{third_party.public_id}",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/atom+xml",
    )


def test_staff_registration_issues_a_registration_token_shown_once(admin_client, client):
    response = register(admin_client)
    token = shown(response, "registration-token")
    third_party = ThirdParty.objects.get(client_id=shown(response, "client-id"))
    stored = AccessToken.objects.get(application=third_party, scope="FB=36_40")
    assert stored.user is None and token not in (stored.token or "") and stored.token_checksum
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.TOKEN_ISSUED, object_id=third_party.public_id, summary__contains="Registration"
    ).exists()
    for url in (
        reverse("admin:grants_thirdparty_change", args=[third_party.pk]),
        reverse("admin:grants_thirdparty_changelist"),
        reverse("admin:oauth2_provider_accesstoken_changelist"),
    ):
        assert token not in admin_client.get(url).content.decode()
    factories.grant_services.third_party_set_lifecycle(
        third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION
    )
    read = _application_information(client, third_party, token)
    assert read.status_code == 200, read.content[:300]
    # It is the registration token and nothing else: the Authorization feed is the client token's.
    assert client.get("/espi/1_1/resource/Authorization", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_registering_again_issues_a_new_registration_token(admin_client, client):
    old, _secret = factories.make_third_party(name="Phoenix Co")
    old_token = factories.grant_services.third_party_registration_token_issue(third_party=old)
    assert _application_information(client, old, old_token).status_code == 200
    factories.grant_services.third_party_set_lifecycle(third_party=old, lifecycle=ThirdParty.Lifecycle.REVOKED)
    response = admin_client.post(reverse("admin:grants_thirdparty_register_again", args=[old.pk]))
    new = ThirdParty.objects.get(client_id=shown(response, "client-id"))
    token = shown(response, "registration-token")
    assert token != old_token
    factories.grant_services.third_party_set_lifecycle(third_party=new, lifecycle=ThirdParty.Lifecycle.PRODUCTION)
    assert _application_information(client, new, token).status_code == 200
    assert _application_information(client, old, old_token).status_code == 401


def test_a_back_office_client_gets_no_registration_token(admin_client):
    response = register(
        admin_client,
        name="Back office 2",
        role=ThirdParty.Role.CUSTODIAN,
        redirect_uris="",
        notify_uri="",
        registered_scopes="",
        bulk_users="",
    )
    assert b'id="registration-token"' not in response.content


@pytest.mark.parametrize(
    ("offered", "passes"),
    [("1_3_4_5_13_14_15_17_35_37_39", True), ("1_3_4_5_13_14_35_37_39", False)],
)
def test_approval_scope_check_uses_the_utilitys_function_blocks(settings, offered, passes):
    """ESPI_FUNCTION_BLOCKS is the one list of what the utility offers: narrowing and approval both read it."""
    from grants.approval import check_scopes_offered

    settings.ESPI_FUNCTION_BLOCKS = offered
    third_party, _secret = factories.make_third_party(name="Scoped Co", lifecycle=ThirdParty.Lifecycle.REVIEW)
    check = check_scopes_offered(third_party)
    assert check.ok is passes, check.detail
    assert not hasattr(settings, "UTILITY_OFFERED_SCOPES")
