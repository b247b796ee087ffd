"""The DRF building blocks of grants.permissions: which token reaches which kind of endpoint."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from grants.models import Grant
from tests.grants.conftest import BULK_SCOPE
from tests.grants.oauth_helpers import approve, client_credentials, exchange_code

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.grants.urls_kinds")]


@pytest.fixture
def tokens(customer_client, customer, tp, custodian_client, two_points):
    query, verifier = approve(
        customer_client, third_party=tp.third_party, usage_points=two_points[:1], scope=BULK_SCOPE
    )
    http = HttpClient()
    access = exchange_code(http, client_id=tp.client_id, secret=tp.secret, code=query["code"], verifier=verifier).json()
    client = client_credentials(http, client_id=tp.client_id, secret=tp.secret).json()
    bulk_client = client_credentials(http, client_id=tp.client_id, secret=tp.secret, scope="FB=35;BR=1").json()
    custodian = client_credentials(http, client_id=custodian_client.client_id, secret=custodian_client.secret).json()
    return {
        "grant": Grant.objects.get(customer=customer),
        "access": access["access_token"],
        "client": client["access_token"],
        "bulk_client": bulk_client["access_token"],
        "custodian": custodian["access_token"],
    }


def get(path: str, token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return HttpClient().get(path, **headers)


def test_each_kind_of_token_reaches_only_its_kind_of_endpoint(tokens):
    """PRODUCT "Tokens and what each reaches": any other combination is 403."""
    subscription = f"/probe/subscription/{tokens['grant'].subscription_id}"
    matrix = {
        (subscription, "access"): 200,
        (subscription, "client"): 403,
        (subscription, "custodian"): 403,
        ("/probe/bulk/1", "access"): 403,
        ("/probe/bulk/1", "client"): 200,
        ("/probe/bulk/1", "custodian"): 403,
        ("/probe/custodian", "access"): 403,
        ("/probe/custodian", "client"): 403,
        ("/probe/custodian", "custodian"): 200,
    }
    for (path, kind), status in matrix.items():
        assert get(path, tokens[kind]).status_code == status, (path, kind)


def test_missing_token_is_401_on_every_kind_of_endpoint(tokens):
    for path in (f"/probe/subscription/{tokens['grant'].subscription_id}", "/probe/bulk/1", "/probe/custodian"):
        response = get(path, None)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith('Bearer realm="espi"')


def test_subscription_ids_match_as_whole_strings(tokens):
    subscription_id = tokens["grant"].subscription_id
    for other in (subscription_id[:-1], subscription_id + "0", "0" + subscription_id, "nope"):
        assert get(f"/probe/subscription/{other}", tokens["access"]).status_code == 404


def test_bulk_one_client_token_never_reaches_bulk_ten(tokens):
    assert get("/probe/bulk/1", tokens["bulk_client"]).json() == {"bulk": "1"}
    assert get("/probe/bulk/10", tokens["bulk_client"]).status_code == 404
    # A client token not limited to one bulk reaches each of its own bulks, matched exactly.
    assert get("/probe/bulk/10", tokens["client"]).status_code == 200
    assert get("/probe/bulk/100", tokens["client"]).status_code == 404
    assert get("/probe/bulk/1 ", tokens["client"]).status_code == 404


def test_other_third_partys_bulk_is_not_found(tokens, other_tp):
    other = client_credentials(HttpClient(), client_id=other_tp.client_id, secret=other_tp.secret).json()
    assert get("/probe/bulk/1", other["access_token"]).status_code == 404
