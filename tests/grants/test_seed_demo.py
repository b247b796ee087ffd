"""``manage.py seed_demo`` is idempotent and describes exactly what it made."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from oauth2_provider.models import get_access_token_model

from grants.models import Grant, GrantUsagePoint
from grants.selectors import grant_for_access_token

pytestmark = pytest.mark.django_db


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_seed_demo_twice_gives_the_same_json_and_no_duplicates(tmp_path, capsys):
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    call_command("seed_demo", "--json", str(first), "--days", "3")
    counts = row_counts()
    output = capsys.readouterr().out
    assert "Meter data" in output and "readings" in output  # progress is shown
    call_command("seed_demo", "--json", str(second), "--days", "3")
    assert first.read_text() == second.read_text()
    assert row_counts() == counts


def test_seed_demo_json_has_the_contract_shape(tmp_path):
    path = tmp_path / "demo.json"
    call_command("seed_demo", "--json", str(path), "--days", "2", verbosity=0)
    demo = json.loads(path.read_text())
    assert set(demo) >= {"base_url", "staff", "customers", "third_parties", "custodian", "grants"}
    assert len(demo["customers"]) >= 2
    assert {"username", "password", "retail_customer_id", "usage_points"} <= set(demo["customers"][0])
    solar = next(tp for tp in demo["third_parties"] if len(tp["bulk_ids"]) >= 2)
    assert {"name", "client_id", "client_secret", "redirect_uri", "bulk_ids"} <= set(solar)
    assert {"client_id", "client_secret"} <= set(demo["custodian"])
    statuses = {g["status"] for g in demo["grants"]}
    assert statuses == {"active", "revoked", "expired"}
    for g in demo["grants"]:
        assert {
            "id",
            "subscription_id",
            "customer",
            "client_id",
            "bulk_id",
            "usage_points",
            "scope",
            "status",
            "access_token",
        } <= set(g)
    covered = {up for g in demo["grants"] if g["status"] == "active" for up in g["usage_points"]}
    all_points = {up for c in demo["customers"] for up in c["usage_points"]}
    assert all_points - covered, "at least one usage point must be covered by no grant"


def test_seed_demo_tokens_work_only_for_active_grants(tmp_path):
    path = tmp_path / "demo.json"
    call_command("seed_demo", "--json", str(path), "--days", "1", verbosity=0)
    demo = json.loads(path.read_text())
    access_token_model = get_access_token_model()
    for g in demo["grants"]:
        token = access_token_model.objects.filter(
            token_checksum=hashlib.sha256(g["access_token"].encode()).hexdigest()
        ).first()
        if g["status"] == "active":
            assert token is not None and token.is_valid()
            grant = grant_for_access_token(access_token=token)
            assert grant.public_id == g["id"] and grant.is_active
            assert token.token == ""  # hashed storage: the raw token is never stored
        else:
            assert token is None
            assert Grant.objects.get(public_id=g["id"]).status == g["status"]
    assert GrantUsagePoint.objects.count() == sum(len(g["usage_points"]) for g in demo["grants"])
