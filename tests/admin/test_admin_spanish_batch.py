"""The batch app's admin in Spanish for staff whose browser asks for it; what is stored or sent stays English."""

from __future__ import annotations

import csv
import io

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from batch.models import BulkJob, Submission
from batch.regulator import Quarter
from batch.staff_groups import AUDITOR, staff_groups_sync
from custodian.models import AuditEvent
from tests.admin.test_reports import quarter_activity  # noqa: F401 - the fixture, shared
from tests.batch.conftest import _media_root, bulk_path, post, sample_feed, upload_world  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("jefa", "jefa@example.com", "pw-jefa-12345")


def staff_client(user, language: str) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def spanish(superuser) -> Client:
    return staff_client(superuser, "es")


@pytest.fixture
def english(superuser) -> Client:
    return staff_client(superuser, "en")


@pytest.fixture
def rejected_submission(upload_world):  # noqa: F811 - the fixture imported above
    """A real Batch/Bulk POST, sent with a Spanish Accept-Language, whose every entry is rejected (not granted)."""
    body = sample_feed(usage_point=upload_world.a2, salt="es-admin")
    response = post(bulk_path("1"), body, upload_world.tp_token, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code < 500
    return Submission.objects.get()


def test_the_submission_changelist_in_spanish(spanish, rejected_submission):
    page = spanish.get(reverse("admin:batch_submission_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<html lang="es"' in html
    assert rejected_submission.public_id in html
    # The app, the model's plural name, column headers, filter titles and choices.
    for spanish_text in (
        "Envíos Batch",
        "Seleccione envío para ver",  # Django's own "Select %s to view" with the model's verbose name
        "Recibido el",
        "Tipo de token",
        "Tipo de destino",
        "Entradas recibidas",
        "Estado HTTP",
        "Por resultado",
        "Por tipo de token",
        "token de cliente",
        "rechazado (no se aplicó nada)",
        "estricto",
    ):
        assert spanish_text in html, spanish_text
    for english_text in ("Batch submissions", "Received at", "Token kind", "By outcome", "rejected (nothing applied)"):
        assert english_text not in html, english_text


def test_the_same_changelist_in_english(english, rejected_submission):
    html = english.get(reverse("admin:batch_submission_changelist")).content.decode()
    for english_text in ("Batch submissions", "Received at", "Token kind", "Entries received", "By outcome"):
        assert english_text in html, english_text
    assert "Recibido el" not in html and "Tipo de token" not in html


def test_the_submission_page_in_spanish(spanish, english, rejected_submission):
    url = reverse("admin:batch_submission_change", args=[rejected_submission.pk])
    html = spanish.get(url).content.decode()
    for spanish_text in (
        "Vista envío",  # Django's own "View %s" with the model's verbose name
        "Informe por entrada",
        "Contenido original",
        "descargar (",
        "ID de entrada",
        "motivo",
        "Clave de idempotencia",
        "El ID de lote, de suscripción o de cliente en la URL.",  # a help text
    ):
        assert spanish_text in html, spanish_text
    assert "not_granted" in html and "IntervalBlock" in html  # stored report codes and ESPI names as they are
    assert "Per-entry report" not in html and "The bulk, subscription or retail customer id in the URL." not in html
    english_html = english.get(url).content.decode()
    assert (
        "Per-entry report" in english_html
        and "The bulk, subscription or retail customer id in the URL." in english_html
    )


def test_a_batch_sent_in_spanish_stores_english(rejected_submission):
    """The audit summary and the stored JSON report are machine text: codes and English, whatever the language."""
    event = AuditEvent.objects.get(action=AuditEvent.Action.BATCH_RECEIVED)
    assert event.summary.startswith("Batch to bulk 1: 0 of ") and event.summary.endswith("outcome rejected")
    assert rejected_submission.outcome == Submission.Outcome.REJECTED == "rejected"
    with translation.override("es"):
        assert rejected_submission.get_outcome_display() == "rechazado (no se aplicó nada)"
        assert str(Submission._meta.verbose_name_plural) == "envíos"


def test_the_csv_export_keeps_english_headings(spanish, rejected_submission):
    response = spanish.get(reverse("admin:batch_submission_export"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["submission", "received", "finished", "caller"]
    assert rows[1][7] == "rejected"


def test_the_regulator_report_in_spanish(spanish, english, quarter_activity):  # noqa: F811 - the fixture
    url = reverse("admin_regulator_report")
    html = spanish.get(url).content.decode()
    for spanish_text in (
        "Informe para el regulador, ",
        "Trimestre",
        "Descargar CSV",
        "Terceros registrados",
        "Por tercero",
        "autorizaciones creadas",
        "revocadas por el cliente",
        "Todos los terceros",
        "Solicitudes de datos por tipo",
        "<title>Solar Co: 4 creadas</title>",
        "Autorizaciones creadas, revocadas y vencidas por tercero en ",
        "De una sola vez: un período autorizado de un día o menos",
    ):
        assert spanish_text in html, spanish_text
    for english_text in ("Regulator report", "Third Parties registered", "authorizations created", "4 created"):
        assert english_text not in html, english_text
    english_html = english.get(url).content.decode()
    assert "Third Parties registered" in english_html and "<title>Solar Co: 4 created</title>" in english_html
    bad = spanish.get(url, {"quarter": "2026Q7"})
    assert bad.status_code == 400 and "&#x27;2026Q7&#x27; no es un trimestre como 2026Q2." in bad.content.decode()


def test_the_regulator_csv_stays_english_from_a_spanish_page(spanish, quarter_activity):  # noqa: F811 - the fixture
    quarter = str(Quarter.containing(timezone.now()))
    download = spanish.get(reverse("admin_regulator_report"), {"quarter": quarter, "format": "csv"})
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[1] == ["Third Parties registered", "2"]
    header = rows[6]
    assert header[:3] == ["Third Party", "authorizations created", "of which one-time"]
    assert not any("autorizaciones" in cell for row in rows for cell in row)


def test_the_home_page_and_the_groups_page_name_batch_models_in_spanish(spanish):
    home = spanish.get(reverse("admin:index")).content.decode()
    assert "Envíos Batch" in home and ">Envíos</a>" in home and ">Submissions</a>" not in home
    group = Group.objects.get(name=AUDITOR)  # the group's name is stored: it stays English
    page = spanish.get(reverse("admin:auth_group_change", args=[group.pk])).content.decode()
    assert "trabajo de lote" in page  # the content type of "Can view bulk job", in the page's language


def test_permissions_made_during_a_spanish_request_are_named_in_english():
    """Permission names are stored text built from verbose names: Django builds them from the English ones."""
    Permission.objects.filter(codename="view_bulkjob").delete()
    with translation.override("es"):
        staff_groups_sync()
        assert str(BulkJob._meta.verbose_name) == "trabajo de lote"
    assert Permission.objects.get(codename="view_bulkjob").name == "Can view bulk job"
    assert Group.objects.filter(name=AUDITOR, permissions__codename="view_bulkjob").exists()
