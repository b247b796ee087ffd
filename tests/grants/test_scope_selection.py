"""The ESPI scope-selection flow, both ways: through the portal's screen and from "share my data"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as HttpClient

from grants.models import ThirdParty
from tests import factories
from tests.grants.oauth_helpers import authorize_url, pkce_pair

pytestmark = pytest.mark.django_db

SCREEN = "https://thirdparty.example/scopes"


@pytest.fixture
def selecting_tp(tp):
    ThirdParty.objects.filter(pk=tp.third_party.pk).update(scope_selection_uri=SCREEN)
    tp.third_party.refresh_from_db()
    return tp


def _offered(location: str) -> dict[str, list[str]]:
    assert location.startswith(SCREEN + "?")
    return parse_qs(urlsplit(location).query)


def test_a_third_party_sends_the_customer_through_the_portals_screen(selecting_tp):
    response = HttpClient().get(f"/oauth/scope-selection?ThirdPartyID={selecting_tp.client_id}")
    assert response.status_code == 302
    query = _offered(response["Location"])
    assert query["scope"] == [factories.DEFAULT_SCOPE]
    assert query["DataCustodianID"] == ["greenbutton-portal"]


def test_share_my_data_leads_to_the_third_partys_screen_then_authorize(customer_client, selecting_tp):
    page = customer_client.get("/share/")
    assert f"/share/{selecting_tp.third_party.public_id}/".encode() in page.content
    response = customer_client.get(f"/share/{selecting_tp.third_party.public_id}/")
    assert response.status_code == 302
    [scope] = _offered(response["Location"])["scope"]
    # The Third Party picks a scope and starts the OAuth flow with it: the consent screen follows.
    _verifier, challenge = pkce_pair()
    consent = customer_client.get(authorize_url(client_id=selecting_tp.client_id, scope=scope, challenge=challenge))
    assert consent.status_code == 200


def test_unknown_or_not_in_production_third_parties_are_404(customer_client, selecting_tp, other_tp):
    assert HttpClient().get("/oauth/scope-selection?ThirdPartyID=nope").status_code == 404
    # A Third Party without a scope-selection screen is not offered the individual flow.
    assert customer_client.get(f"/share/{other_tp.third_party.public_id}/").status_code == 404
    ThirdParty.objects.filter(pk=selecting_tp.third_party.pk).update(lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    assert HttpClient().get(f"/oauth/scope-selection?ThirdPartyID={selecting_tp.client_id}").status_code == 404
    assert customer_client.get(f"/share/{selecting_tp.third_party.public_id}/").status_code == 404
