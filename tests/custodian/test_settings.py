"""DATABASE_URL and the other environment settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from custodian.settings import database_from_url, env_bool, env_int

SQLITE = Path("/srv/portal/default.sqlite3")


def test_no_database_url_means_embedded_sqlite():
    config = database_from_url(None, sqlite_path=SQLITE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == SQLITE
    assert database_from_url("  ", sqlite_path=SQLITE)["NAME"] == SQLITE


def test_postgresql_url_is_parsed_into_its_parts():
    config = database_from_url(
        "postgresql://portal:s%40cret@db.internal:6543/green%20button?sslmode=require", sqlite_path=SQLITE
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "portal",
        "s@cret",
        "db.internal",
        "6543",
        "green button",
    )
    assert config["OPTIONS"] == {"sslmode": "require", "server_side_binding": True, "prepare_threshold": 2}


def test_prepared_statements_can_be_turned_off_for_a_pooler(monkeypatch):
    monkeypatch.setenv("DJANGO_DB_PREPARED_STATEMENTS", "0")
    config = database_from_url("postgresql://portal@db.internal/portal?sslmode=require", sqlite_path=SQLITE)
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_postgres_scheme_alias_and_trust_auth_without_password():
    config = database_from_url("postgres://postgres@127.0.0.1:5432/custodian", sqlite_path=SQLITE)
    assert (config["USER"], config["PASSWORD"], config["PORT"], config["NAME"]) == ("postgres", "", "5432", "custodian")


def test_sqlite_url_names_a_file():
    assert (
        database_from_url("sqlite:////var/lib/portal/db.sqlite3", sqlite_path=SQLITE)["NAME"]
        == "/var/lib/portal/db.sqlite3"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/portal", "scheme 'mysql' is not supported"),
        ("postgresql://postgres@127.0.0.1:5432/", "names no database"),
        ("postgresql://postgres@127.0.0.1:port/portal", "port that is not a number"),
        ("sqlite://relative.db", "sqlite:////absolute/path.db"),
        ("127.0.0.1:5432/portal", "is not supported"),
    ],
)
def test_bad_database_urls_are_refused_with_a_message(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_from_url(url, sqlite_path=SQLITE)


def test_env_bool_and_int_refuse_garbage(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_NUM", "12kb")
    with pytest.raises(ImproperlyConfigured, match="X_NUM"):
        env_int("X_NUM", 1)
