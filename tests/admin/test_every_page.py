"""Every admin changelist and change form answers staff, refuses non-staff, and shows no secret."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from custodian.models import IntervalBlock
from grants.demo import DemoOptions, derive_secret, grant_token, seed_demo
from grants.models import Grant, ThirdParty

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    return seed_demo(options=DemoOptions(days=1))


def registered_models():
    return sorted(admin.site._registry, key=lambda m: (m._meta.app_label, m._meta.model_name))


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_changelist_and_change_form_answers_staff(demo, admin_client):
    assert len(registered_models()) >= 15
    for model in registered_models():
        response = admin_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        obj = model._default_manager.first()
        if obj is not None:
            response = admin_client.get(admin_url(model, "change", obj.pk))
            assert response.status_code == 200, model


def test_changelist_search_and_filters_work(demo, admin_client):
    response = admin_client.get(admin_url(Grant, "changelist"), {"status__exact": "revoked", "q": "bob"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_non_staff_is_sent_to_login_for_every_admin_page(demo, client, django_user_model):
    user = django_user_model.objects.get(username="alice")
    client.force_login(user)
    for model in registered_models():
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 302, model
        assert response["Location"].startswith(reverse("admin:login")), model


def test_admin_pages_never_show_secrets_or_tokens(demo, admin_client):
    secrets_ = [tp["client_secret"] for tp in demo["third_parties"]] + [demo["custodian"]["client_secret"]]
    tokens = [g["access_token"] for g in demo["grants"]]
    for model in registered_models():
        pages = [admin_client.get(admin_url(model, "changelist"))]
        pages += [admin_client.get(admin_url(model, "change", obj.pk)) for obj in model._default_manager.all()[:5]]
        for page in pages:
            body = page.content.decode()
            for secret in secrets_ + tokens:
                assert secret not in body, model
            assert "client_secret" not in body, model


def test_lifecycle_action_calls_the_service_and_revokes_grants(demo, admin_client, django_capture_on_commit_callbacks):
    solar = ThirdParty.objects.get(name="Sunny Solar Analytics")
    with django_capture_on_commit_callbacks(execute=True):  # the sweep it queues (eager without a broker)
        response = admin_client.post(
            admin_url(ThirdParty, "changelist"), {"action": "revoke", "_selected_action": [solar.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "follow in the background" in response.content.decode()
    solar.refresh_from_db()
    assert solar.lifecycle == ThirdParty.Lifecycle.REVOKED
    assert not Grant.objects.filter(third_party=solar, status=Grant.Status.ACTIVE).exists()


def test_grant_revoke_action(demo, admin_client):
    grant = Grant.objects.get(consent__demo_key="alice-coach")
    admin_client.post(admin_url(Grant, "changelist"), {"action": "revoke_grants", "_selected_action": [grant.pk]})
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED


def test_demo_secrets_are_derived_not_stored(demo):
    grant = Grant.objects.get(consent__demo_key="alice-coach")
    assert grant_token(grant) == derive_secret(f"access-token:{grant.public_id}")
    for tp in ThirdParty.objects.all():
        assert tp.client_secret.startswith("pbkdf2_sha256$") or tp.client_secret.startswith("md5$")


def test_an_interval_block_change_form_shows_its_readings_as_a_table(demo, admin_client):
    block = IntervalBlock.objects.exclude(reading_count=0).first()
    readings = block.reading_list()
    page = admin_client.get(admin_url(IntervalBlock, "change", block.pk)).content.decode()
    assert "<th>start (UTC)</th>" in page
    assert page.count("<tr><td>") == len(readings) == block.reading_count == 96
    first_start, _duration, first_value, *_rest = readings[0]
    assert f"<td>{first_value}</td>" in page
    assert f">{block.reading_count}<" in page
