"""Service errors in the reader's language: Spanish in the admin for staff reading Spanish, English in the API.

The services raise their messages with ``gettext`` when they refuse; the admin follows the staff
member's language, the OAuth and ESPI endpoints always answer in English (PortalLocaleMiddleware),
and whatever is stored (audit rows) stays English whatever the language of the request that wrote it.
"""

from __future__ import annotations

import base64
import html
import json

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from custodian.models import AuditEvent
from grants.models import Grant, ThirdParty
from tests import factories
from tests.admin.test_offline_authorization import paper  # noqa: F401 - fixture
from tests.admin.test_third_party_registration import registration_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def spanish(admin_client):
    """The superuser's admin client with the language cookie the admin's switch sets."""
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    return admin_client


def page_of(response) -> str:
    assert response.status_code == 200, response.content.decode()[:2000]
    return html.unescape(response.content.decode())


def revoked_third_party() -> ThirdParty:
    third_party, _secret = factories.make_third_party(name="Old Watts")
    factories.grant_services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.REVOKED)
    return third_party


def test_putting_a_revoked_third_party_on_hold_is_refused_in_spanish(spanish):
    third_party = revoked_third_party()
    response = spanish.post(
        reverse("admin:grants_thirdparty_changelist"),
        {"action": "put_on_hold", "_selected_action": [third_party.pk]},
        follow=True,
    )
    page = page_of(response)
    assert "Un tercero revocado no se puede restablecer; regístrelo de nuevo." in page
    assert "cannot be reinstated" not in page
    third_party.refresh_from_db()
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVOKED


@pytest.mark.django_db(transaction=True)  # approval runs outside any transaction
def test_the_same_refusal_in_english_for_staff_reading_english(admin_client):
    third_party = revoked_third_party()
    response = admin_client.post(
        reverse("admin:grants_thirdparty_approve", args=[third_party.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = page_of(response)
    assert "A revoked Third Party cannot be reinstated; register it again." in page
    assert "regístrelo" not in page


def test_rotating_the_secret_of_a_revoked_third_party_is_refused_in_spanish(spanish):
    third_party = revoked_third_party()
    page = page_of(spanish.post(reverse("admin:grants_thirdparty_rotate", args=[third_party.pk]), follow=True))
    assert "Un tercero revocado no tiene secreto de cliente que cambiar; regístrelo de nuevo." in page


def test_an_invalid_registered_scope_on_the_registration_form_in_spanish(spanish):
    response = spanish.post(
        reverse("admin:grants_thirdparty_add"), registration_data(name="Bad Scope Co", registered_scopes="FB=1_x")
    )
    page = page_of(response)
    assert "FB=1_x debe ser una lista de números de bloques de funciones unidos por '_'." in page
    assert "must be function block numbers" not in page
    assert not ThirdParty.objects.filter(name="Bad Scope Co").exists()


def test_an_invalid_registered_scope_on_the_change_form_in_spanish(spanish):
    third_party, _secret = factories.make_third_party(name="Change Co")
    url = reverse("admin:grants_thirdparty_change", args=[third_party.pk])
    assert 'name="registered_scopes"' in page_of(spanish.get(url))
    data = {**registration_data(name="Change Co", registered_scopes="FB=1_3;HistoryLength=x"), "lenient_uploads": ""}
    data.pop("role")
    data.pop("bulk_users")
    data.update({"bulk_users-TOTAL_FORMS": "0", "bulk_users-INITIAL_FORMS": "0"})
    page = page_of(spanish.post(url, data))
    assert "HistoryLength debe ser un número entero no negativo, no 'x'." in page
    third_party.refresh_from_db()
    assert third_party.registered_scope_list == [factories.DEFAULT_SCOPE]


def test_a_back_office_client_with_a_redirect_uri_is_refused_in_spanish(spanish):
    response = spanish.post(
        reverse("admin:grants_thirdparty_add"),
        registration_data(name="Back office", role=ThirdParty.Role.CUSTODIAN, bulk_users=""),
    )
    page = page_of(response)
    assert "Un cliente de sistemas internos usa solo credenciales de cliente: quite la URI de redirección." in page
    assert not ThirdParty.objects.filter(name="Back office").exists()


def test_inviting_a_customer_without_an_e_mail_is_refused_in_spanish(spanish):
    customer = factories.make_customer(name="Ana Sin Correo")
    assert not customer.user.email
    response = spanish.post(
        reverse("admin:custodian_retailcustomer_changelist"),
        {"action": "send_invitation", "_selected_action": [customer.pk]},
        follow=True,
    )
    page = page_of(response)
    assert "El cliente no tiene dirección de correo electrónico. Agregue una primero." in page
    assert "has no e-mail address" not in page
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_INVITED).exists()


def test_dynamic_registration_with_a_bad_scope_answers_in_english_whatever_accept_language(settings):
    settings.OAUTH_DYNAMIC_REGISTRATION = True
    body = {
        "client_name": "Heat Pump Helper",
        "redirect_uris": ["https://heatpump.example/callback"],
        "scope": "FB=1_x",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    response = HttpClient().post(
        "/oauth/register", json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert response.status_code == 400
    description = response.json()["error_description"]
    assert "FB=1_x must be function block numbers joined by '_'." in description
    assert "bloques de funciones" not in description
    assert not ThirdParty.objects.filter(name="Heat Pump Helper").exists()


def test_the_oauth_token_endpoint_explains_a_bad_scope_in_english(client):
    third_party, secret = factories.make_third_party(name="Scope Tester", client_secret="s3cret-scope-tester")
    response = client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "FB=1_x"},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{third_party.client_id}:{secret}".encode()).decode(),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert response.status_code == 400, response.content
    assert "must be function block numbers" in response.json()["error_description"]


@pytest.mark.django_db(transaction=True)  # approval runs outside any transaction
def test_an_approval_checked_in_spanish_is_stored_in_english(spanish):
    third_party, _secret = factories.make_third_party(name="Review Co", lifecycle=ThirdParty.Lifecycle.REVIEW)
    ThirdParty.objects.filter(pk=third_party.pk).update(registered_scopes="FB=1_x")  # stored before the rules
    page = page_of(spanish.post(reverse("admin:grants_thirdparty_approve", args=[third_party.pk])))
    assert "Review Co" in page
    # Shown to staff in Spanish ...
    assert "Los alcances (scope) están dentro de lo que ofrece la compañía" in page
    assert "FB=1_x debe ser una lista de números de bloques de funciones unidos por '_'." in page
    assert "No hay ninguna URI de notificación (thirdPartyNotifyUri) registrada." in page
    assert "must be function block numbers" not in page
    # ... stored in English.
    event = AuditEvent.objects.get(action=AuditEvent.Action.THIRD_PARTY_APPROVAL_CHECKED)
    details = " ".join(check["detail"] for check in event.detail["checks"])
    assert "FB=1_x must be function block numbers joined by '_'." in details
    assert "bloques de funciones" not in details
    assert "No notify URI (thirdPartyNotifyUri) is registered." in details
    assert [check["name"] for check in event.detail["checks"]] == [
        "Redirect URIs are https",
        "Notify URI answers a test notification",
        "Scopes are within what the utility offers",
    ]
    assert event.summary == "Approval checklist of Review Co: failed"


def test_a_lifecycle_change_made_in_spanish_is_audited_in_english(spanish):
    third_party, _secret = factories.make_third_party(name="Hold Co")
    spanish.post(
        reverse("admin:grants_thirdparty_changelist"),
        {"action": "put_on_hold", "_selected_action": [third_party.pk]},
        follow=True,
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.THIRD_PARTY_STATUS_CHANGED, object_id=third_party.public_id)
    assert event.summary == "Hold Co: Production → On Hold"


def test_an_offline_authorization_signed_in_the_future_is_refused_in_spanish(spanish, paper):  # noqa: F811
    response = spanish.post(reverse("admin:grants_grant_offline"), {**paper, "signed_on": "2999-01-01"})
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "La autorización no puede tener una fecha de firma futura. Revise la fecha." in page
    assert "cannot be signed in the future" not in page
    assert not Grant.objects.exists()
