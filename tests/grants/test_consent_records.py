"""The customer's own records on the consent screen: two choices of their own, unticked, recorded apart."""

from __future__ import annotations

import pytest

from grants.models import Grant
from tests.grants.oauth_helpers import approve, authorize_url, pkce_pair

pytestmark = pytest.mark.django_db

RC_SCOPE = "FB=1_3_4_5_13_14_15_35_37_39_46_50;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"


@pytest.fixture
def rc_tp(tp):
    tp.third_party.registered_scopes += "\n" + RC_SCOPE
    tp.third_party.save()
    return tp


def _page(client, tp):
    return client.get(authorize_url(client_id=tp.client_id, scope=RC_SCOPE, challenge=pkce_pair()[1]))


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_records_are_two_choices_of_their_own_never_ticked_for_the_customer(customer_client, rc_tp, language):
    page = customer_client.get(
        authorize_url(client_id=rc_tp.client_id, scope=RC_SCOPE, challenge=pkce_pair()[1]),
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert page.status_code == 200
    field = page.context["form"].fields["data"]
    keys = [key for key, _words in field.choices]
    assert keys == ["usage", "totals", "name_address", "account_billing"]
    assert "name_address" not in field.initial and "account_billing" not in field.initial
    html = page.content.decode()
    if language == "en":
        assert "Your name and service address" in html and "Your account and billing details" in html
    else:
        assert "Su nombre y la dirección del servicio" in html
        assert "Los datos de su cuenta y de facturación" in html


def test_usage_alone_leaves_the_retail_customer_blocks_out(customer_client, rc_tp, two_points):
    approve(customer_client, third_party=rc_tp.third_party, usage_points=two_points, scope=RC_SCOPE, data=["usage"])
    grant = Grant.objects.get()
    assert grant.customer_records == []
    assert not {46, 47, 50} & set(grant.function_blocks)


def test_each_choice_is_recorded_apart_on_the_grant_and_in_the_evidence(customer_client, rc_tp, two_points):
    approve(
        customer_client,
        third_party=rc_tp.third_party,
        usage_points=two_points,
        scope=RC_SCOPE,
        data=["usage", "account_billing"],
    )
    grant = Grant.objects.get()
    assert grant.customer_records == ["account_billing"]
    assert {46, 50} <= set(grant.function_blocks)
    assert grant.consent["chosen"]["customer_records"] == ["account_billing"]
    page = customer_client.get("/grants/")
    assert b"Your account and billing details" in page.content
    assert b"name and service address" not in page.content


def test_revoking_the_records_alone_from_my_grants_confirms_first(customer_client, rc_tp, two_points):
    approve(
        customer_client,
        third_party=rc_tp.third_party,
        usage_points=two_points,
        scope=RC_SCOPE,
        data=["usage", "name_address", "account_billing"],
    )
    grant = Grant.objects.get()
    url = f"/grants/{grant.public_id}/records/name_address/revoke/"
    confirm = customer_client.get(url)
    assert confirm.status_code == 200 and b"Your usage data stays shared" in confirm.content
    assert customer_client.post(url).status_code == 302
    grant.refresh_from_db()
    assert grant.customer_records == ["account_billing"] and grant.status == Grant.Status.ACTIVE
    assert customer_client.post(url).status_code == 404  # already taken back: the same answer as unknown
    assert customer_client.get(f"/grants/{grant.public_id}/records/bogus/revoke/").status_code == 404
