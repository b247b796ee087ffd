"""Fixtures for the customer portal pages: a logged-in customer."""

from __future__ import annotations

import pytest


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client
