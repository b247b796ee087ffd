"""Staff groups: a Third Party manager registers and approves; an auditor reads every page and changes nothing."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from batch.staff_groups import AUDITOR, THIRD_PARTY_MANAGER
from custodian.models import AuditEvent, RetailCustomer
from grants.demo import DemoOptions, seed_demo
from grants.models import Grant, ThirdParty
from tests.admin.test_third_party_registration import registration_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    return seed_demo(options=DemoOptions(days=1))


def member_of(django_user_model, client, group_name: str):
    user = django_user_model.objects.create_user(
        group_name.lower().replace(" ", "-"), password="pw-x-12345", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_migrate_creates_both_groups_and_the_command_is_idempotent():
    assert Group.objects.filter(name__in=[AUDITOR, THIRD_PARTY_MANAGER]).count() == 2
    before = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    call_command("staff_groups", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert before == after
    assert all(code.startswith("view_") for code in after[AUDITOR])


def test_an_auditor_reads_every_page_and_every_secret_stays_hidden(demo, client, django_user_model):
    member_of(django_user_model, client, AUDITOR)
    secrets_ = [tp["client_secret"] for tp in demo["third_parties"]] + [demo["custodian"]["client_secret"]]
    tokens = [g["access_token"] for g in demo["grants"]]
    for model in admin.site._registry:
        if model._meta.label_lower == "auth.permission":
            continue
        listing = client.get(url(model, "changelist"))
        assert listing.status_code == 200, model
        pages = [listing]
        for obj in model._default_manager.all()[:3]:
            page = client.get(url(model, "change", obj.pk))
            assert page.status_code == 200, model
            assert b'type="submit"' not in page.content or b'name="_save"' not in page.content, model
            pages.append(page)
        for page in pages:
            body = page.content.decode()
            assert not any(value in body for value in secrets_ + tokens), model
    assert client.get(reverse("admin_regulator_report")).status_code == 200
    assert client.get(reverse("admin:custodian_auditevent_export")).status_code == 200


def test_an_auditor_changes_nothing(demo, client, django_user_model):
    member_of(django_user_model, client, AUDITOR)
    solar = ThirdParty.objects.get(name="Sunny Solar Analytics")
    grant = Grant.objects.filter(status=Grant.Status.ACTIVE).first()
    customer = RetailCustomer.objects.first()
    audit_rows = AuditEvent.objects.count()
    attempts = [
        client.post(url(ThirdParty, "add"), registration_data()),
        client.post(url(ThirdParty, "rotate", solar.pk)),
        client.get(url(ThirdParty, "rotate", solar.pk)),
        client.post(url(ThirdParty, "approve", solar.pk)),
        client.post(url(ThirdParty, "register_again", solar.pk)),
        client.post(url(ThirdParty, "change", solar.pk), {"name": "Renamed"}),
        client.post(url(RetailCustomer, "add"), {"name": "X", "username": "x", "email": "x@example.org"}),
        client.post(url(RetailCustomer, "change", customer.pk), {"name": "Renamed"}),
        client.get(url(RetailCustomer, "import", customer.pk)),
    ]
    for response in attempts:
        assert response.status_code in (403, 404), response.request["PATH_INFO"]
    for model, action, pk in ((ThirdParty, "revoke", solar.pk), (Grant, "revoke_grants", grant.pk)):
        response = client.post(url(model, "changelist"), {"action": action, "_selected_action": [pk]})
        assert response.status_code in (200, 302, 403)
    solar.refresh_from_db()
    grant.refresh_from_db()
    assert solar.lifecycle == ThirdParty.Lifecycle.PRODUCTION and solar.name == "Sunny Solar Analytics"
    assert grant.status == Grant.Status.ACTIVE
    assert AuditEvent.objects.count() == audit_rows


def test_a_third_party_manager_registers_and_revokes_but_does_not_onboard_customers(demo, client, django_user_model):
    member_of(django_user_model, client, THIRD_PARTY_MANAGER)
    response = client.post(url(ThirdParty, "add"), registration_data())
    assert response.status_code == 200 and b'id="client-secret"' in response.content
    solar = ThirdParty.objects.get(name="Sunny Solar Analytics")
    client.post(url(ThirdParty, "changelist"), {"action": "revoke", "_selected_action": [solar.pk]})
    solar.refresh_from_db()
    assert solar.lifecycle == ThirdParty.Lifecycle.REVOKED
    assert client.get(url(RetailCustomer, "add")).status_code == 403
