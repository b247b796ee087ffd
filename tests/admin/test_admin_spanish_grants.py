"""The grants admin in Spanish for staff whose language is ``es``; English for everyone else; stored text English.

Third Parties, bulk users, grants and notifications: model names, column headers, help texts,
actions, messages and the app's own pages (credentials, rotation, approval, offline authorization).
"""

from __future__ import annotations

import html
import json

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import translation

from custodian.models import AuditEvent
from grants.models import Grant, Notification, ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def spanish(admin_client):
    """The superuser's admin client with the language cookie the switch sets."""
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    return admin_client


def text_of(response) -> str:
    assert response.status_code == 200, response.content.decode()[:2000]
    return html.unescape(response.content.decode())


def test_the_grant_changelist_in_spanish(spanish, grant):
    page = text_of(spanish.get(reverse("admin:grants_grant_changelist")))
    assert '<html lang="es"' in page
    for words in (
        "Autorizaciones",  # the model's plural name
        "Terceros y autorizaciones",  # the app's name (breadcrumbs)
        "Estado",
        "Cliente",
        "Tercero",
        "Usuario de lote",
        "Fin autorizado",
        "Revocar las autorizaciones seleccionadas",  # the action
        "Registrar una autorización fuera de línea",  # the object tool
        "Activa",  # the status filter's choice
    ):
        assert words in page, words
    for words in ("Revoke selected grants", "Record offline authorization", "Authorized end", "Bulk user"):
        assert words not in page, words


def test_the_same_grant_changelist_in_english(admin_client, grant):
    page = text_of(admin_client.get(reverse("admin:grants_grant_changelist"), HTTP_ACCEPT_LANGUAGE="en"))
    for words in ("Grants", "Revoke selected grants", "Record offline authorization", "Authorized end", "Active"):
        assert words in page, words
    for words in ("Autorizaciones", "Revocar las autorizaciones seleccionadas", "Fin autorizado"):
        assert words not in page, words


def test_a_grant_change_form_in_spanish_and_in_english(spanish, admin_client, grant):
    url = reverse("admin:grants_grant_change", args=[grant.pk])
    page = text_of(spanish.get(url))
    assert "Evidencia del consentimiento" in page
    assert "La cadena de alcance (scope) ESPI que se autorizó realmente (canónica)." in page  # a help text
    assert "No se registró ninguna pantalla de consentimiento para esta autorización" in page
    assert "Puntos de uso de autorizaciones" in page  # the inline's title
    assert "The ESPI scope string actually granted" not in page
    assert "No consent screen was recorded" not in page

    del admin_client.cookies[settings.LANGUAGE_COOKIE_NAME]
    english = text_of(admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Consent evidence" in english
    assert "The ESPI scope string actually granted (canonical)." in english
    assert "No consent screen was recorded for this grant" in english
    assert "Evidencia del consentimiento" not in english


def test_consent_evidence_given_online_reads_in_spanish(spanish, client, customer, usage_point, third_party):
    from tests.grants.oauth_helpers import approve

    client.force_login(customer.user)
    approve(client, third_party=third_party, usage_points=[usage_point], scope=factories.DEFAULT_SCOPE)
    grant = Grant.objects.get(customer=customer)
    page = text_of(spanish.get(reverse("admin:grants_grant_change", args=[grant.pk])))
    for words in ("Quién, cuándo, desde dónde", "Qué se le mostró al cliente", "Qué eligió el cliente"):
        assert words in page, words
    assert "la pantalla de consentimiento a la que el tercero envió al cliente (autorización OAuth)" in page
    assert f"Home ({usage_point.public_id})" in page
    assert "Who, when, from where" not in page


def test_the_third_party_changelist_and_change_form_in_spanish(spanish, admin_client, third_party, bulk_user):
    page = text_of(spanish.get(reverse("admin:grants_thirdparty_changelist")))
    for words in (
        "Terceros",
        "Ciclo de vida",
        "ID de cliente",
        "ID público",
        "Producción",  # the lifecycle of Solar Co, and a filter choice
        "Poner en espera",
        "Aprobar para Producción (ejecuta la lista de verificación)",
        "Revocar (revoca todas sus autorizaciones y todos sus tokens)",
    ):
        assert words in page, words
    for words in ("Put On Hold", "Approve to Production", "Lifecycle changed at"):
        assert words not in page, words

    change = text_of(spanish.get(reverse("admin:grants_thirdparty_change", args=[third_party.pk])))
    for words in (
        "Una dirección de correo electrónico por línea.",  # help text of contacts
        "Notificaciones y límites de llamadas",  # a fieldset title
        "Compatibilidad con ESPI (desactivada de forma predeterminada)",
        "Límite de llamadas por segundo",
        "Cambiar el secreto de cliente",  # the object tool
        "Usuarios de lote",  # the inline
        "Tipo de aplicación",
        "Gestión de energía",  # a choice of application use
    ):
        assert words in change, words
    assert "One e-mail address per line." not in change
    assert "Rotate client secret" not in change

    del admin_client.cookies[settings.LANGUAGE_COOKIE_NAME]
    english = text_of(
        admin_client.get(reverse("admin:grants_thirdparty_change", args=[third_party.pk]), HTTP_ACCEPT_LANGUAGE="en")
    )
    for words in ("One e-mail address per line.", "Notifications and rate limits", "Rotate client secret"):
        assert words in english, words
    assert "Cambiar el secreto de cliente" not in english


def test_the_registration_form_in_spanish(spanish):
    page = text_of(spanish.get(reverse("admin:grants_thirdparty_add")))
    assert "Un usuario de lote por línea: su Bulk ID, un espacio y luego su nombre" in page
    assert "Oficina interna del custodio de datos" in page  # a role choice
    assert "One bulk user per line" not in page
    response = spanish.post(
        reverse("admin:grants_thirdparty_add"),
        {"name": "Watt Watchers", "role": ThirdParty.Role.THIRD_PARTY, "bulk_users": "bad_id Broken"},
    )
    assert "línea 1: 'bad_id' no es un Bulk ID (de 1 a 64 letras, dígitos o guiones)" in text_of(response)


def test_rotation_credentials_and_approval_pages_in_spanish(spanish, third_party):
    confirm = text_of(spanish.get(reverse("admin:grants_thirdparty_rotate", args=[third_party.pk])))
    assert "El secreto actual deja de funcionar de inmediato" in confirm
    assert "Cancelar" in confirm
    assert "The current secret stops working at once" not in confirm

    credentials = text_of(spanish.post(reverse("admin:grants_thirdparty_rotate", args=[third_party.pk])))
    assert "Nuevo secreto de cliente de Solar Co" in credentials
    assert "Copie ahora estas credenciales y entréguelas a Solar Co por un canal seguro." in credentials
    assert "Secreto de cliente" in credentials and "Producción" in credentials
    assert "Copy these credentials now" not in credentials


@pytest.mark.django_db(transaction=True)  # the checklist's test notification runs outside any transaction
def test_the_approval_checklist_in_spanish(spanish):
    reviewed, _secret = factories.make_third_party(name="Heat Pump Helper", lifecycle=ThirdParty.Lifecycle.REVIEW)
    approval = text_of(spanish.post(reverse("admin:grants_thirdparty_approve", args=[reviewed.pk])))
    assert "Lista de verificación para aprobar a Heat Pump Helper" in approval
    assert "Verificación" in approval and "Resultado" in approval and "Detalle" in approval
    assert "Heat Pump Helper no está aprobado" in approval and "Sigue en «En revisión»." in approval
    assert "FALLÓ" in approval
    assert "Approval checklist for" not in approval and "is not approved" not in approval


def test_the_offline_authorization_form_in_spanish(spanish):
    page = text_of(spanish.get(reverse("admin:grants_grant_offline")))
    for words in (
        "Registrar una autorización fuera de línea (en papel)",
        "Id del cliente",
        "Referencia de la evidencia",
        "Autorizada hasta (incluido)",
        "Registrar la autorización",
    ):
        assert words in page, words
    assert "Evidence reference" not in page
    response = spanish.post(reverse("admin:grants_grant_offline"), {"customer": "no-such-customer"})
    assert response.status_code == 400
    assert "Ningún cliente tiene este id." in html.unescape(response.content.decode())


def test_bulk_user_notification_and_token_changelists_in_spanish(spanish, third_party, bulk_user, grant):
    factories.make_access_token(grant)
    Notification.objects.create(third_party=third_party, kind=Notification.Kind.NEW_DATA)
    bulks = text_of(spanish.get(reverse("admin:grants_bulkuser_changelist")))
    assert "Usuarios de lote" in bulks and "Creado el" in bulks
    notifications = text_of(spanish.get(reverse("admin:grants_notification_changelist")))
    for words in ("Notificaciones", "Último error", "Próximo intento el", "Datos nuevos", "Pendiente"):
        assert words in notifications, words
    assert "Reintentar ahora (con un nuevo cupo de intentos)" in notifications
    assert "Retry now" not in notifications
    tokens = text_of(spanish.get(reverse("admin:oauth2_provider_accesstoken_changelist")))
    assert "Aplicación" in tokens and "Vence" in tokens


def test_a_spanish_lifecycle_action_answers_in_spanish_and_stores_english(spanish, third_party):
    third_party.notify_uri = "https://solar.example/notify"
    third_party.save(update_fields=["notify_uri"])
    response = spanish.post(
        reverse("admin:grants_thirdparty_changelist"),
        {"action": "put_on_hold", "_selected_action": [third_party.pk]},
        follow=True,
    )
    page = text_of(response)
    assert "1 tercero pasó a «En espera». Sus solicitudes se rechazan desde ahora" in page
    event = AuditEvent.objects.get(action=AuditEvent.Action.THIRD_PARTY_STATUS_CHANGED, object_id=third_party.public_id)
    assert event.summary == "Solar Co: Production → On Hold"
    notification = Notification.objects.get(third_party=third_party)
    with translation.override("es"):
        # The admin stores str(obj) (LogEntry.object_repr): English whatever the language.
        assert str(notification) == "ApplicationInformation changed for Solar Co (pending)"


def test_a_spanish_grant_revocation_answers_in_spanish_and_stores_english(spanish, grant):
    response = spanish.post(
        reverse("admin:grants_grant_changelist"),
        {"action": "revoke_grants", "_selected_action": [grant.pk]},
        follow=True,
    )
    assert "1 autorización(es) revocada(s)." in text_of(response)
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    event = AuditEvent.objects.get(action=AuditEvent.Action.GRANT_REVOKED, object_id=grant.public_id)
    assert event.summary == "Grant to Solar Co revoked: Revoked by utility staff"


def test_the_registration_api_answers_in_english_to_a_spanish_client(settings):
    settings.OAUTH_DYNAMIC_REGISTRATION = True
    body = {
        "client_name": "Heat Pump Helper",
        "redirect_uris": ["https://heatpump.example/callback"],
        "scope": factories.DEFAULT_SCOPE,
        "grant_types": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        # Longer than the field: the model's own validation refuses it, in Django's words (Spanish for "es").
        "logo_uri": "https://heatpump.example/" + "a" * 300,
    }
    response = HttpClient().post(
        "/oauth/register", json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"].startswith("Ensure this value has at most 200 characters")
