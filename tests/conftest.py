"""Shared fixtures: plain ORM objects made through the services, a fast password hasher."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


requires_postgres = pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL: CI runs it with DATABASE_URL set")


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions that threads and subprocesses left open."""
    yield
    if not is_postgres():
        return
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def customer(db):
    return factories.make_customer(username="alice")


@pytest.fixture
def other_customer(db):
    return factories.make_customer(username="bob")


@pytest.fixture
def usage_point(customer):
    return factories.make_usage_point(customer=customer, title="Home")


@pytest.fixture
def third_party(db):
    third_party, _secret = factories.make_third_party(name="Solar Co")
    return third_party


@pytest.fixture
def bulk_user(third_party):
    return factories.make_bulk_user(third_party=third_party, bulk_id="1")


@pytest.fixture
def grant(customer, usage_point, third_party):
    return factories.make_grant(customer=customer, third_party=third_party, usage_points=[usage_point])


@pytest.fixture
def period_end():
    return timezone.now() + timedelta(days=365)
