"""Fixtures for the OAuth and consent tests: a Third Party with a known secret, two bulks, two usage points."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from grants.models import ThirdParty
from tests import factories

SECRET = "third-party-secret-for-tests-only"


@dataclass
class OAuthClient:
    third_party: ThirdParty
    secret: str

    @property
    def client_id(self) -> str:
        return self.third_party.client_id


@pytest.fixture
def tp(db) -> OAuthClient:
    third_party, secret = factories.make_third_party(name="Solar Co", client_secret=SECRET)
    factories.make_bulk_user(third_party=third_party, bulk_id="1", name="Solar Co neighbourhood study")
    factories.make_bulk_user(third_party=third_party, bulk_id="10", name="Solar Co city study")
    return OAuthClient(third_party, secret)


@pytest.fixture
def other_tp(db) -> OAuthClient:
    third_party, secret = factories.make_third_party(name="Other Co", client_secret=SECRET + "-other")
    return OAuthClient(third_party, secret)


@pytest.fixture
def custodian_client(db) -> OAuthClient:
    third_party, secret = factories.make_third_party(
        name="Back office", role=ThirdParty.Role.CUSTODIAN, client_secret=SECRET + "-custodian"
    )
    return OAuthClient(third_party, secret)


@pytest.fixture
def two_points(customer):
    return [
        factories.make_usage_point(customer=customer, title="Home"),
        factories.make_usage_point(customer=customer, title="Cabin"),
    ]


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


BULK_SCOPE = factories.DEFAULT_SCOPE + ";BR=1"
