"""Shared fixtures: plain ORM objects made through the services, a fast password hasher."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests import factories


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


requires_postgres = pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL: CI runs it with DATABASE_URL set")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Keep the SQLite test database in a file, so real worker processes can open the same database."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def celery_workers(transactional_db, tmp_path):
    """Real ``celery -A custodian worker`` processes on Redis and the test database (see tests/workers.py).

    This test's tasks go to a queue of its own on the real broker; ``start()`` starts workers.
    """
    from tests import workers

    queue = workers.new_queue()
    visibility_timeout = 6
    saved = workers.use_real_broker(queue=queue, visibility_timeout=visibility_timeout)
    pool = workers.Workers(
        queue=queue, workdir=tmp_path, env=workers.worker_env(queue=queue, visibility_timeout=visibility_timeout)
    )
    try:
        yield pool
    finally:
        pool.stop_all()
        workers.restore_broker(saved, queue=queue)


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


#: The instant every test starts at. Tests never read the wall clock: expectations computed from "now"
#: would depend on the hour CI runs at. ``TEST_CLOCK=2028-02-29T23:30:00+00:00 make test`` runs the
#: whole suite at another instant (late evening UTC, a leap day, a DST change...).
TEST_NOW = datetime.fromisoformat(os.environ.get("TEST_CLOCK") or "2026-06-15T14:00:00+00:00").astimezone(UTC)


@pytest.fixture(autouse=True)
def _clock():
    """Every test runs on an injected clock that starts at ``TEST_NOW`` and ticks from there."""
    with time_machine.travel(TEST_NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache (rate-limit windows do not carry over between tests)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_join_allowed():
    """Every test starts with Celery's process-wide "a join would block" flag down.

    An eager ``delay()`` raises the flag while its task runs and puts back what it found; two run at
    once (a live server's thread and the test's) can put it back the wrong way round and leave it up,
    so a later test's ``result.get()`` would be refused as if it ran inside a task.
    """
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield


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
