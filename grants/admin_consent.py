"""Consent evidence as staff read it: who consented, when, what they were shown, what they chose, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join

from custodian.models import UsagePoint
from grants.models import Grant
from grants.scopes import describe_function_blocks

_FLOWS = {
    "oauth": "the consent screen the Third Party sent the customer to (OAuth authorization)",
    "portal": "the customer's own “Share my data” page in the portal",
    "offline": "a signed paper authorization recorded by utility staff (offline authorization, FB 40)",
}


def _when(text: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text or "")
    if timezone.is_naive(moment):
        return moment.isoformat()
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z} ({moment.isoformat()})"


def _items(values: Any) -> str:
    values = [str(value) for value in (values or [])]
    if not values:
        return "—"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((value,) for value in values)))


def _rows(rows: list[tuple[str, Any]]) -> str:
    return format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows)


def consent_record_html(grant: Grant) -> str:
    """Return the grant's consent evidence as tables of plain words; the raw record stays in the database."""
    evidence = grant.consent or {}
    if not evidence.get("shown") and not evidence.get("chosen"):
        return format_html(
            "<p>No consent screen was recorded for this grant (created {} without the customer's consent form).</p>",
            _when(grant.created_at.isoformat()),
        )
    shown = evidence.get("shown") or {}
    chosen = evidence.get("chosen") or {}
    user = grant.customer.user
    if evidence.get("flow") == "offline":
        return _offline_record_html(grant, evidence, chosen)
    who = _rows(
        [
            ("Customer", f"{grant.customer.name} (RetailCustomer {grant.customer.public_id})"),
            ("Login", user.username),
            ("When", _when(evidence.get("at"))),
            ("Through", _FLOWS.get(evidence.get("flow"), evidence.get("flow") or "—")),
            ("From IP address", evidence.get("client_ip") or "—"),
            ("Browser", evidence.get("user_agent") or "—"),
        ]
    )
    bulk = shown.get("bulk") or {}
    was_shown = _rows(
        [
            ("Third Party", shown.get("third_party_name") or grant.third_party.name),
            ("Purpose stated", shown.get("purpose") or "—"),
            ("Third Party's site", shown.get("third_party_uri") or "—"),
            ("Data asked for", _items(shown.get("data"))),
            ("Always included", _items(shown.get("data_always"))),
            ("Detail of readings", shown.get("interval") or "—"),
            ("History", shown.get("history") or "—"),
            ("Latest end offered", _when(shown.get("until_offered")) if shown.get("until_offered") else "—"),
            ("As a member of", f"{bulk.get('name')} (BR={bulk.get('bulk_id')})" if bulk else "—"),
            ("Scope requested", shown.get("scope_requested") or "—"),
        ]
    )
    was_chosen = _chosen_rows(grant, chosen)
    return format_html(
        '<div class="consent-record"><h3>Who, when, from where</h3><table>{}</table>'
        "<h3>What the customer was shown</h3><table>{}</table>"
        "<h3>What the customer chose</h3><table>{}</table></div>",
        who,
        was_shown,
        was_chosen,
    )


def _chosen_rows(grant: Grant, chosen: dict[str, Any]) -> str:
    chosen_ids = [str(value) for value in chosen.get("usage_points") or []]
    titles = dict(UsagePoint.objects.filter(public_id__in=chosen_ids).values_list("public_id", "title"))
    return _rows(
        [
            ("Usage points", _items(f"{titles.get(pid) or 'usage point'} ({pid})" for pid in chosen_ids)),
            ("Data", _items(describe_function_blocks(chosen.get("function_blocks") or []))),
            ("Until", _when(chosen.get("until")) if chosen.get("until") else "—"),
            ("Scope granted", chosen.get("scope") or grant.scope),
        ]
    )


def _offline_record_html(grant: Grant, evidence: dict[str, Any], chosen: dict[str, Any]) -> str:
    """An offline authorization: the paper's reference, when it was signed, who recorded it, what it grants."""
    who = _rows(
        [
            ("Customer", f"{grant.customer.name} (RetailCustomer {grant.customer.public_id})"),
            ("Through", _FLOWS["offline"]),
            ("Evidence reference", evidence.get("evidence_reference") or "—"),
            ("Signed on", evidence.get("signed_on") or "—"),
            ("Recorded by", evidence.get("recorded_by") or "—"),
            ("Recorded at", _when(evidence.get("at"))),
        ]
    )
    return format_html(
        '<div class="consent-record"><h3>Offline authorization: who, when, which paper</h3><table>{}</table>'
        "<h3>What the signed authorization grants</h3><table>{}</table></div>",
        who,
        _chosen_rows(grant, chosen),
    )
