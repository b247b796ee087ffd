"""The customers and meter data admin in Spanish for staff who ask for it; what it stores stays English."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from custodian.imports import customer_feed_import_with_records
from custodian.models import AuditEvent, CustomerRecord, IntervalBlock, ServiceKind
from tests import factories

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def spanish(admin_client):
    """The superuser's client, its language cookie set to Spanish (as the admin's language switch would)."""
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    return admin_client


@pytest.fixture
def records():
    customer = factories.make_customer(name="Ana Ramos")
    home = factories.make_usage_point(customer=customer, title="Home")
    source = SAMPLES / "customer" / "retail_customer_feed.xml"
    assert customer_feed_import_with_records(customer=customer, source=source).imported
    return customer, home, CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")


def page(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_admin_index_names_the_app_and_the_reports_in_spanish(spanish, admin_client):
    html = page(spanish, reverse("admin:index"))
    assert '<html lang="es"' in html
    for text in ("Clientes y datos de medidores", "Personal de la compañía", "Informes", "Puntos de uso"):
        assert text in html, text
    assert "Customers and meter data" not in html and "Regulator report" not in html
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = page(admin_client, reverse("admin:index"))
    assert "Customers and meter data" in english and "Regulator report (quarterly figures)" in english


def test_the_customer_list_has_spanish_headers_and_action(spanish, admin_client, customer):
    url = reverse("admin:custodian_retailcustomer_changelist")
    html = page(spanish, url)
    for text in (
        "Clientes",
        "ID público",
        "Creado el",
        "Volver a enviar la invitación (enlace para crear la contraseña)",
    ):
        assert text in html, text
    assert "Public ID" not in html and "Send the invitation" not in html
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = page(admin_client, url)
    assert "Public ID" in english and "Send the invitation (set-password link) again" in english
    assert "Volver a enviar" not in english


def test_the_new_customer_form_is_in_spanish(spanish):
    html = page(spanish, reverse("admin:custodian_retailcustomer_add"))
    for text in (
        "El nombre de usuario con el que el cliente iniciará sesión.",
        "Un título de punto de uso por línea (p. ej., Casa, Garaje).",
        "Enviar invitación",
        "Tipo de servicio",
        "electricidad",
        "el idioma predeterminado de la compañía (LANGUAGE_CODE)",
    ):
        assert text in html, text
    assert "The login name the customer will use." not in html


def test_the_taken_username_is_refused_in_spanish(spanish, customer):
    response = spanish.post(
        reverse("admin:custodian_retailcustomer_add"),
        {
            "name": "Otra persona",
            "username": customer.user.username,
            "email": "otra@example.org",
            "usage_points": "Casa",
            "service_kind": str(ServiceKind.ELECTRICITY),
        },
    )
    assert response.status_code == 200
    assert "Este nombre de usuario ya está en uso." in response.content.decode()


def test_the_invitation_action_reports_in_spanish_and_audits_in_english(spanish, customer):
    customer.user.email = "ana@example.org"
    customer.user.save(update_fields=["email"])
    response = spanish.post(
        reverse("admin:custodian_retailcustomer_changelist"),
        {"action": "send_invitation", "_selected_action": [customer.pk]},
        follow=True,
    )
    assert "Se envió 1 invitación." in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_INVITED, customer=customer)
    assert event.summary == f"Invitation to set a password sent to {customer.name}"


def test_the_usage_point_list_filters_and_columns_are_in_spanish(spanish, admin_client, customer):
    factories.make_usage_point(customer=customer, title="Casa")
    url = reverse("admin:custodian_usagepoint_changelist")
    html = page(spanish, url)
    for text in ("Puntos de uso", "Tipo de servicio", "Por estado", "encendido", "apagado", "electricidad"):
        assert text in html, text
    assert "Service kind" not in html and ">electricity<" not in html
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = page(admin_client, url)
    assert "Service kind" in english and "By status" in english and "electricity" in english


def test_the_audit_log_is_in_spanish_but_its_csv_export_stays_english(spanish, customer):
    html = page(spanish, reverse("admin:custodian_auditevent_changelist"))
    for text in ("Eventos de auditoría", "Exportar CSV (estas filas)", "Acción", "Resumen", "cliente creado"):
        assert text in html, text
    assert "Export CSV (these rows)" not in html
    response = spanish.get(reverse("admin:custodian_auditevent_export"))
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0] == "when,action,summary,staff or customer,client,customer id,object type,object id"
    assert "customer.created" in text and f"Customer {customer.name} created" in text


def test_the_customer_record_form_shows_spanish_help_and_labels(spanish, records):
    _customer, _home, location = records
    html = page(spanish, reverse("admin:custodian_customerrecord_change", args=[location.pk]))
    for text in ("ServiceLocation, Meter: los puntos de uso que atiende.", "Etiqueta", "ubicación del servicio"):
        assert text in html, text
    assert "the usage points served" not in html
    listing = page(spanish, reverse("admin:custodian_customerrecord_changelist"))
    assert "Registros del cliente" in listing and "Por tipo" in listing and "medidor" in listing


def test_linking_a_record_in_spanish_stores_english_text(spanish, records):
    """The audit summary and the admin history name the record's kind in English, whatever the staff's language."""
    _customer, home, location = records
    url = reverse("admin:custodian_customerrecord_change", args=[location.pk])
    response = spanish.post(url, {"usage_points": [home.pk]})
    assert response.status_code == 302
    event = AuditEvent.objects.get(object_type="CustomerRecord", object_id=location.public_id)
    assert event.summary.startswith("service location ") and f"linked to usage points {home.public_id}" in event.summary
    assert "ubicación" not in event.summary
    (entry,) = LogEntry.objects.filter(object_id=str(location.pk))
    assert entry.object_repr.startswith("service location ")
    assert entry.change_message == '[{"changed": {"fields": ["Usage points"]}}]'  # Django stores field names in English


def test_a_usage_point_change_in_spanish_is_audited_in_english(spanish, customer):
    point = factories.make_usage_point(customer=customer, title="Casa")
    url = reverse("admin:custodian_usagepoint_change", args=[point.pk])
    form = {"title": "Casa", "service_kind": str(ServiceKind.GAS), "status": "1"}
    inline = {f"meter_readings-{key}": "0" for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS")}
    response = spanish.post(url, {**form, **inline, "meter_readings-MAX_NUM_FORMS": "1000"})
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.filter(action=AuditEvent.Action.USAGE_POINT_UPDATED).latest("id")
    assert event.summary.startswith("Usage point Casa: service_kind") and event.summary.endswith(" changed")
    with translation.override("es"):  # the action is shown in the reader's language, stored as a code
        assert event.get_action_display() == "punto de uso cambiado"
    assert event.action == "usage_point.updated"


def test_an_interval_block_shows_its_reading_table_in_spanish(spanish, customer):
    assert customer_feed_import_with_records(customer=customer, source=SAMPLES / "sample_greenbutton_data.xml").imported
    block = IntervalBlock.objects.exclude(reading_count=0).first()
    html = page(spanish, reverse("admin:custodian_intervalblock_change", args=[block.pk]))
    for text in ("<th>inicio (UTC)</th>", "<th>valor</th>", "Lecturas", "Número de lecturas", "bloque de intervalos"):
        assert text in html, text
    assert "<th>start (UTC)</th>" not in html


def test_the_green_button_import_page_and_its_message_are_in_spanish(spanish, customer):
    url = reverse("admin:custodian_retailcustomer_import", args=[customer.pk])
    html = page(spanish, url)
    for text in ("Importar datos de Green Button para", "Tolerante", "Archivo", 'value="Importar"'):
        assert text in html, text
    change = page(spanish, reverse("admin:custodian_retailcustomer_change", args=[customer.pk]))
    assert "Importar datos de Green Button" in change and "Registros del cliente (datos personales" in change
    upload = SimpleUploadedFile("gb.xml", (SAMPLES / "sample_greenbutton_data.xml").read_bytes())
    response = spanish.post(url, {"file": upload}, follow=True)
    assert "Se importaron " in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DATA_IMPORTED, customer=customer)
    assert event.summary.startswith("Imported ")


def test_the_read_only_meter_data_lists_are_in_spanish(spanish):
    for name, text in (
        ("meterreading", "Lecturas de medidor"),
        ("readingtype", "Tipos de lectura"),
        ("localtimeparameters", "Parámetros de hora local"),
        ("usagesummary", "Resúmenes de uso"),
        ("electricpowerqualitysummary", "Resúmenes de calidad de la energía eléctrica"),
    ):
        assert text in page(spanish, reverse(f"admin:custodian_{name}_changelist")), name
    assert "Por unidad" in page(spanish, reverse("admin:custodian_readingtype_changelist"))


def test_the_customer_csv_names_service_kinds_in_english_whatever_the_active_language():
    """``import_customers`` reads ``service_kind`` as English names even when loaded under Spanish."""
    import importlib

    from custodian.management.commands import import_customers

    try:
        with translation.override("es"):
            importlib.reload(import_customers)
            assert import_customers.service_kind_from_text("Gas") == ServiceKind.GAS
            assert import_customers.service_kind_from_text("electricity") == ServiceKind.ELECTRICITY
            assert import_customers.service_kind_from_text("TV licence") == ServiceKind.TV_LICENCE
    finally:
        importlib.reload(import_customers)
