"""Onboarding customers: one admin form, the invitation e-mail and its link, and ``import_customers``."""

from __future__ import annotations

import io
import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from custodian.models import AuditEvent, RetailCustomer, ServiceKind, UsagePoint, User
from tests import factories

# Real commits: the invitation is mailed after commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"http://[^\s]+/accounts/invitation/[^\s]+/")


def onboarding_data(**overrides) -> dict[str, str]:
    data = {
        "name": "Carmen Ortiz",
        "username": "carmen",
        "email": "Carmen@Example.org",
        "usage_points": "Home\nWorkshop",
        "service_kind": str(ServiceKind.ELECTRICITY),
        "send_invitation": "on",
    }
    data.update(overrides)
    return data


def follow_invitation(client, message) -> str:
    """Open the set-password link of an invitation e-mail and choose a password; return the password."""
    (link,) = LINK.findall(message.body)
    path = link.removeprefix("http://127.0.0.1:8000")
    page = client.get(path, follow=True)
    assert page.status_code == 200 and page.context["validlink"], page.content.decode()[:500]
    password = "a-long-chosen-passphrase-42"
    done = client.post(page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302 and done["Location"] == reverse("login")
    return password


def test_one_form_creates_the_customer_with_usage_points_and_sends_the_invitation(admin_client, client):
    response = admin_client.post(reverse("admin:custodian_retailcustomer_add"), onboarding_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = RetailCustomer.objects.get(user__username="carmen")
    assert customer.name == "Carmen Ortiz" and customer.user.email == "carmen@example.org"
    assert not customer.user.has_usable_password()
    assert sorted(customer.usage_points.values_list("title", flat=True)) == ["Home", "Workshop"]
    (message,) = mail.outbox
    assert message.to == ["carmen@example.org"] and "set your password" in message.subject
    assert "carmen" in message.body
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_INVITED, customer=customer).count() == 1
    # The link is never written to the audit log.
    (link,) = LINK.findall(message.body)
    assert not AuditEvent.objects.filter(summary__contains=link.rsplit("/", 2)[-2]).exists()
    password = follow_invitation(client, message)
    assert client.login(username="carmen", password=password)
    # The link works once.
    client.logout()
    again = client.get(link.removeprefix("http://127.0.0.1:8000"), follow=True)
    assert again.context["validlink"] is False
    assert b"expired or was already used" in again.content


def test_the_form_refuses_a_taken_username_or_email_and_creates_nothing(admin_client):
    factories.make_customer(username="carmen")
    response = admin_client.post(reverse("admin:custodian_retailcustomer_add"), onboarding_data())
    assert response.status_code == 200
    assert "This username is taken." in response.content.decode()
    assert RetailCustomer.objects.count() == 1 and not mail.outbox


def test_the_customer_page_has_the_import_button(admin_client, customer):
    page = admin_client.get(reverse("admin:custodian_retailcustomer_change", args=[customer.pk])).content.decode()
    assert f'href="{reverse("admin:custodian_retailcustomer_import", args=[customer.pk])}"' in page
    assert admin_client.get(reverse("admin:custodian_retailcustomer_import", args=[customer.pk])).status_code == 200


def test_renaming_a_customer_goes_through_the_service(admin_client, customer):
    url = reverse("admin:custodian_retailcustomer_change", args=[customer.pk])
    data = {
        "name": "Alice Liddell",
        "usage_points-TOTAL_FORMS": "0",
        "usage_points-INITIAL_FORMS": "0",
        "usage_points-MIN_NUM_FORMS": "0",
        "usage_points-MAX_NUM_FORMS": "0",
    }
    assert admin_client.post(url, data).status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Alice Liddell"
    assert AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_UPDATED).detail["to"] == "Alice Liddell"


CSV = """username,email,name,usage_points,service_kind
dora,dora@example.org,Dora Diaz,Home;Barn,electricity
ed,ed@example.org,Ed Evans,Flat,gas
fay,not-an-email,Fay Fox,Home,
gus,gus@example.org,Gus Green,,electricity
hal,hal@example.org,Hal Hill,Home,plasma
alice,someone-else@example.org,Alice Again,Home,
ivy,ivy@example.org,Ivy Ives,Home;Home,2
"""


def run(path, *args) -> tuple[str, str, str | None]:
    out, err = io.StringIO(), io.StringIO()
    failure = None
    try:
        call_command("import_customers", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        failure = str(exc)
    return out.getvalue(), err.getvalue(), failure


def snapshot():
    return (User.objects.count(), UsagePoint.objects.count(), AuditEvent.objects.count())


def test_import_customers_reports_every_refused_row_and_rerunning_changes_nothing(tmp_path, customer):
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    out, err, failure = run(path, "--progress-every", "3")
    assert "3 created, 0 given new usage points, 0 unchanged, 4 refused" in out
    assert "3 rows processed" in out and "6 rows processed" in out
    assert failure == "4 row(s) refused; the other rows were applied."
    lines = err.strip().splitlines()
    assert len(lines) == 4
    assert lines[0] == "line 4 (fay): refused: email: 'not-an-email' is not a valid e-mail address."
    assert lines[1].startswith("line 5 (gus): refused: usage_points")
    assert lines[2].startswith("line 6 (hal): refused: service_kind: unknown service kind 'plasma'")
    assert lines[3].startswith("line 7 (alice): refused: username")
    dora = RetailCustomer.objects.get(user__username="dora")
    assert sorted(dora.usage_points.values_list("title", flat=True)) == ["Barn", "Home"]
    assert RetailCustomer.objects.get(user__username="ed").usage_points.get().service_kind == ServiceKind.GAS
    assert RetailCustomer.objects.get(user__username="ivy").usage_points.get().service_kind == ServiceKind.WATER
    assert sorted(m.to[0] for m in mail.outbox) == ["dora@example.org", "ed@example.org", "ivy@example.org"]

    before, sent = snapshot(), len(mail.outbox)
    out, _err, _failure = run(path)
    assert "0 created, 0 given new usage points, 3 unchanged, 4 refused" in out
    assert snapshot() == before and len(mail.outbox) == sent


def test_a_dry_run_checks_every_row_and_changes_nothing(tmp_path, customer):
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    before = snapshot()
    out, err, failure = run(path, "--dry-run")
    assert out.startswith("Dry run (nothing changed, nothing sent): 3 created")
    assert len(err.strip().splitlines()) == 4 and failure.endswith("the other rows were checked.")
    assert snapshot() == before and not mail.outbox


def test_a_later_file_adds_only_the_missing_usage_points(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("username,email,name,usage_points\njo,jo@example.org,Jo,Home\n", encoding="utf-8")
    run(path)
    path.write_text("username,email,name,usage_points\njo,JO@example.org,Jo,Home;Cabin\n", encoding="utf-8")
    out, _err, failure = run(path)
    assert failure is None and "0 created, 1 given new usage points" in out
    assert sorted(RetailCustomer.objects.get().usage_points.values_list("title", flat=True)) == ["Cabin", "Home"]
    assert len(mail.outbox) == 1


def test_a_file_without_the_needed_columns_is_refused(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("user,mail\nx,y\n", encoding="utf-8")
    _out, _err, failure = run(path)
    assert "the header lacks username, email, name, usage_points" in failure
    assert User.objects.count() == 0


def test_a_customer_onboarded_in_spanish_is_invited_in_spanish(admin_client, tmp_path):
    response = admin_client.post(reverse("admin:custodian_retailcustomer_add"), onboarding_data(language="es"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert RetailCustomer.objects.get(user__username="carmen").language == "es"
    (message,) = mail.outbox
    assert message.subject == "Su cuenta Green Button está lista: elija su contraseña"
    assert "Su nombre de usuario es: carmen" in message.body
    path = tmp_path / "customers.csv"
    path.write_text(
        "username,email,name,usage_points,language\n"
        "lupe,lupe@example.org,Lupe,Home,es\n"
        "max,max@example.org,Max,Home,\n"
        "zed,zed@example.org,Zed,Home,klingon\n",
        encoding="utf-8",
    )
    _out, err, _failure = run(path)
    assert "line 4 (zed): refused: language: Unknown language 'klingon'." in err
    by_address = {m.to[0]: m.subject for m in mail.outbox[1:]}
    assert by_address == {
        "lupe@example.org": "Su cuenta Green Button está lista: elija su contraseña",
        "max@example.org": "Your Green Button account is ready: set your password",  # the utility's LANGUAGE_CODE
    }
