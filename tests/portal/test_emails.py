"""E-mail to customers (in each customer's language, after commit) and password change and reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from custodian import services as custodian_services
from custodian.models import AuditEvent
from grants import services
from grants.models import ThirdParty
from tests import factories
from tests.grants.oauth_helpers import approve

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    customer = factories.make_customer(username="alice", name="Alice Example")
    customer.user.email = "alice@example.org"
    customer.user.save()
    return customer


@pytest.fixture
def home(alice):
    return factories.make_usage_point(customer=alice, title="Home")


@pytest.fixture
def sunny(db):
    return factories.make_third_party(name="Sunny Solar")[0]


def _grant(alice, sunny, home, days=365):
    return factories.make_grant(customer=alice, third_party=sunny, usage_points=[home], days=days)


def test_grant_created_in_the_utilitys_language_with_the_data_in_words(
    client, alice, sunny, home, django_capture_on_commit_callbacks
):
    assert alice.language == ""  # never chose: the utility's LANGUAGE_CODE (en)
    client.force_login(alice.user)
    with django_capture_on_commit_callbacks(execute=True):
        approve(client, third_party=sunny, usage_points=[home], scope=factories.DEFAULT_SCOPE)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "You are sharing your energy data with Sunny Solar"
    assert "Sunny Solar: your electricity use every 15 minutes" in message.body
    assert "(through the end of that day)" in message.body
    assert "Usted" not in message.body and "hasta el final de ese día" not in message.body
    assert "&#x27;" not in message.body and "&quot;" not in message.body


def test_grant_created_in_spanish_for_a_customer_who_chose_it(
    client, alice, sunny, home, django_capture_on_commit_callbacks
):
    custodian_services.retail_customer_language_set(customer=alice, language="es")
    client.force_login(alice.user)
    with django_capture_on_commit_callbacks(execute=True):
        # The page is read in English: the e-mail still follows the customer's choice.
        approve(client, third_party=sunny, usage_points=[home], scope=factories.DEFAULT_SCOPE)
    message = mail.outbox[0]
    assert message.subject == "Usted comparte sus datos de energía con Sunny Solar"
    assert "Sunny Solar: su consumo de electricidad cada 15 minutos" in message.body
    assert "(hasta el final de ese día)" in message.body
    assert "your electricity use" not in message.body


@pytest.mark.parametrize(
    ("language", "subjects"),
    [
        (
            "en",
            [
                "Sharing with Sunny Solar ends within 30 days",
                "Sharing with Sunny Solar has ended",
                "Meter Mates is on hold",
                "Meter Mates can no longer receive your energy data",
                "Watt Watch no longer receives your energy data",
            ],
        ),
        (
            "es",
            [
                "El intercambio de datos con Sunny Solar termina dentro de 30 días",
                "Terminó el intercambio de datos con Sunny Solar",
                "Meter Mates está suspendido",
                "Meter Mates ya no puede recibir sus datos de energía",
                "Watt Watch ya no recibe sus datos de energía",
            ],
        ),
    ],
)
def test_every_grant_email_in_the_customers_language(
    alice, sunny, home, language, subjects, django_capture_on_commit_callbacks
):
    alice = custodian_services.retail_customer_language_set(customer=alice, language=language)
    other = factories.make_third_party(name="Meter Mates")[0]
    with django_capture_on_commit_callbacks(execute=True):
        expiring = _grant(alice, sunny, home, days=40)
        kept = factories.make_grant(customer=alice, third_party=other, usage_points=[home])
        revoked = factories.make_grant(
            customer=alice, third_party=factories.make_third_party(name="Watt Watch")[0], usage_points=[home]
        )
    mail.outbox.clear()
    steps = [
        lambda: services.grant_expiry_notices_send(now=timezone.now() + timedelta(days=11)),
        lambda: services.grant_expire_due(now=expiring.authorized_end),
        lambda: services.third_party_set_lifecycle(
            third_party=kept.third_party, lifecycle=ThirdParty.Lifecycle.ON_HOLD
        ),
        lambda: services.third_party_set_lifecycle(
            third_party=kept.third_party, lifecycle=ThirdParty.Lifecycle.REVOKED
        ),
        lambda: services.grant_revoke(grant=revoked, reason="Revoked by the Third Party"),
    ]
    for step in steps:  # each committed (and its e-mail sent) before the next
        with django_capture_on_commit_callbacks(execute=True):
            step()
    assert [m.subject for m in mail.outbox] == subjects
    greeting = {"en": "Hello Alice Example,", "es": "Hola, Alice Example:"}[language]
    assert all(message.body.startswith(greeting) for message in mail.outbox), [m.body for m in mail.outbox]
    assert all(("su consumo" in message.body) is (language == "es") for message in mail.outbox)


def test_revoked_by_anyone_is_told_but_a_replacement_is_not_a_revocation(
    client, alice, sunny, home, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        grant = _grant(alice, sunny, home)
        services.grant_revoke(grant=grant, reason="Revoked by the Third Party")
    assert [m.subject.split(" / ")[0] for m in mail.outbox] == [
        "You are sharing your energy data with Sunny Solar",
        "Sunny Solar no longer receives your energy data",
    ]
    mail.outbox.clear()
    client.force_login(alice.user)
    with django_capture_on_commit_callbacks(execute=True):
        approve(client, third_party=sunny, usage_points=[home], scope=factories.DEFAULT_SCOPE)
        approve(client, third_party=sunny, usage_points=[home], scope=factories.DEFAULT_SCOPE)
    assert [m.subject.split(" / ")[0] for m in mail.outbox] == ["You are sharing your energy data with Sunny Solar"] * 2


def test_expiring_in_30_days_once_then_expired(alice, sunny, home, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        grant = _grant(alice, sunny, home, days=40)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grant_expiry_notices_send(now=timezone.now()) == 0
        assert services.grant_expiry_notices_send(now=timezone.now() + timedelta(days=11)) == 1
        assert services.grant_expiry_notices_send(now=timezone.now() + timedelta(days=12)) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("Sharing with Sunny Solar ends within 30 days")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grant_expire_due(now=grant.authorized_end) == 1
    assert mail.outbox[-1].subject.startswith("Sharing with Sunny Solar has ended")


def test_third_party_on_hold_or_revoked_is_told_once_per_grant(alice, sunny, home, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _grant(alice, sunny, home)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.third_party_set_lifecycle(third_party=sunny, lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    assert [m.subject.split(" / ")[0] for m in mail.outbox] == ["Sunny Solar is on hold"]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.third_party_set_lifecycle(third_party=sunny, lifecycle=ThirdParty.Lifecycle.REVOKED)
    assert [m.subject.split(" / ")[0] for m in mail.outbox] == ["Sunny Solar can no longer receive your energy data"]


def test_nothing_is_sent_when_the_change_rolls_back(alice, sunny, home, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                _grant(alice, sunny, home)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert mail.outbox == []


def test_password_reset_by_email_then_log_in(client, alice):
    page = client.get("/accounts/login/")
    assert b"/accounts/password/reset/" in page.content
    response = client.post("/accounts/password/reset/", {"email": "alice@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"set-password" in form.content
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": "a-new-long-passphrase-9", "new_password2": "a-new-long-passphrase-9"},
    )
    assert done.status_code == 302
    assert client.login(username="alice", password="a-new-long-passphrase-9")
    assert client.post("/accounts/password/reset/", {"email": "nobody@example.org"}).status_code == 302
    assert len(mail.outbox) == 1  # no mail, and the same answer, for an unknown address


def test_password_change_needs_the_old_password(client, alice):
    client.force_login(alice.user)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200
    wrong = client.post(
        "/accounts/password/change/",
        {"old_password": "nope", "new_password1": "another-long-pass-77", "new_password2": "another-long-pass-77"},
    )
    assert wrong.status_code == 200 and b"errorlist" in wrong.content
    right = client.post(
        "/accounts/password/change/",
        {
            "old_password": "correct-horse-battery",
            "new_password1": "another-long-pass-77",
            "new_password2": "another-long-pass-77",
        },
    )
    assert right.status_code == 302 and right["Location"] == "/accounts/password/change/done/"


def test_password_reset_in_the_customers_language_else_the_pages(client, alice):
    client.post("/accounts/password/reset/", {"email": "alice@example.org"}, HTTP_ACCEPT_LANGUAGE="es")
    assert mail.outbox[-1].subject == "Elija una contraseña nueva para su cuenta Green Button"
    client.post("/accounts/password/reset/", {"email": "alice@example.org"}, HTTP_ACCEPT_LANGUAGE="en")
    assert mail.outbox[-1].subject == "Choose a new password for your Green Button account"
    custodian_services.retail_customer_language_set(customer=alice, language="es")
    client.post("/accounts/password/reset/", {"email": "alice@example.org"}, HTTP_ACCEPT_LANGUAGE="en")
    assert mail.outbox[-1].subject == "Elija una contraseña nueva para su cuenta Green Button"
    assert "Alguien pidió elegir una contraseña nueva" in mail.outbox[-1].body


def test_the_switch_stores_the_language_and_audits_a_change(client, alice):
    client.force_login(alice.user)
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/grants/"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.language == "es"
    client.post("/i18n/setlang/", {"language": "es", "next": "/grants/"})
    client.post("/i18n/setlang/", {"language": "xx", "next": "/grants/"})  # not a portal language: ignored
    alice.refresh_from_db()
    assert alice.language == "es"
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_UPDATED, customer=alice)
    assert [event.detail for event in changes] == [{"language_from": "", "language_to": "es"}]


def test_the_switch_needs_csrf(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    assert strict.post("/i18n/setlang/", {"language": "es"}).status_code == 403
    alice.refresh_from_db()
    assert alice.language == ""


def test_login_stores_the_browsers_language_only_when_none_is_stored(client, alice):
    login = {"username": "alice", "password": "correct-horse-battery"}
    client.post("/accounts/login/", login)  # no Accept-Language, no cookie: nothing chosen
    alice.refresh_from_db()
    assert alice.language == ""
    client.logout()
    client.post("/accounts/login/", login, HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9,en;q=0.5")
    alice.refresh_from_db()
    assert alice.language == "es"
    client.logout()
    client.post("/accounts/login/", login, HTTP_ACCEPT_LANGUAGE="en-US")
    alice.refresh_from_db()
    assert alice.language == "es"  # stored once; after that only the switch changes it
    # Pages still follow the browser (and the switch); the stored language is for e-mail.
    assert "My grants" in client.get("/grants/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()


def test_invitation_in_the_customers_language(django_capture_on_commit_callbacks):
    customer = factories.make_customer(username="nuevo", name="Nuevo Cliente")
    customer.user.email = "nuevo@example.org"
    customer.user.save()
    with django_capture_on_commit_callbacks(execute=True):
        custodian_services.retail_customer_invite(customer=customer)
    assert mail.outbox[-1].subject == "Your Green Button account is ready: set your password"
    custodian_services.retail_customer_language_set(customer=customer, language="es")
    customer.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        custodian_services.retail_customer_invite(customer=customer)
    message = mail.outbox[-1]
    assert message.subject == "Su cuenta Green Button está lista: elija su contraseña"
    assert "Su nombre de usuario es: nuevo" in message.body and "/accounts/invitation/" in message.body
