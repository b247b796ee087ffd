"""Fixtures for the customer portal pages: a logged-in customer."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture(autouse=True)
def _default_language_after():
    """Leave the default language active: a Spanish request activates Spanish for the rest of the thread."""
    yield
    translation.activate(settings.LANGUAGE_CODE)
