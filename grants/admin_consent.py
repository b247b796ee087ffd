"""Consent evidence as staff read it: who consented, when, what they were shown, what they chose, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from custodian.models import UsagePoint
from grants.models import Grant
from grants.scopes import describe_function_blocks

_FLOWS = {
    "oauth": _("the consent screen the Third Party sent the customer to (OAuth authorization)"),
    "portal": _("the customer's own “Share my data” page in the portal"),
    "offline": _("a signed paper authorization recorded by utility staff (offline authorization, FB 40)"),
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
            "<p>{}</p>",
            gettext(
                "No consent screen was recorded for this grant (created %(when)s without the customer's consent form)."
            )
            % {"when": _when(grant.created_at.isoformat())},
        )
    shown = evidence.get("shown") or {}
    chosen = evidence.get("chosen") or {}
    user = grant.customer.user
    if evidence.get("flow") == "offline":
        return _offline_record_html(grant, evidence, chosen)
    who = _rows(
        [
            (gettext("Customer"), f"{grant.customer.name} (RetailCustomer {grant.customer.public_id})"),
            (gettext("Login"), user.username),
            (gettext("When"), _when(evidence.get("at"))),
            (gettext("Through"), _FLOWS.get(evidence.get("flow"), evidence.get("flow") or "—")),
            (gettext("From IP address"), evidence.get("client_ip") or "—"),
            (gettext("Browser"), evidence.get("user_agent") or "—"),
        ]
    )
    bulk = shown.get("bulk") or {}
    was_shown = _rows(
        [
            (gettext("Third Party"), shown.get("third_party_name") or grant.third_party.name),
            (gettext("Purpose stated"), shown.get("purpose") or "—"),
            (gettext("Third Party's site"), shown.get("third_party_uri") or "—"),
            (gettext("Data asked for"), _items(shown.get("data"))),
            (gettext("Always included"), _items(shown.get("data_always"))),
            (gettext("Detail of readings"), shown.get("interval") or "—"),
            (gettext("History"), shown.get("history") or "—"),
            (gettext("Latest end offered"), _when(shown.get("until_offered")) if shown.get("until_offered") else "—"),
            (gettext("As a member of"), f"{bulk.get('name')} (BR={bulk.get('bulk_id')})" if bulk else "—"),
            (gettext("Scope requested"), shown.get("scope_requested") or "—"),
        ]
    )
    was_chosen = _chosen_rows(grant, chosen)
    return format_html(
        '<div class="consent-record"><h3>{}</h3><table>{}</table><h3>{}</h3><table>{}</table>'
        "<h3>{}</h3><table>{}</table></div>",
        gettext("Who, when, from where"),
        who,
        gettext("What the customer was shown"),
        was_shown,
        gettext("What the customer chose"),
        was_chosen,
    )


def _chosen_rows(grant: Grant, chosen: dict[str, Any]) -> str:
    chosen_ids = [str(value) for value in chosen.get("usage_points") or []]
    titles = dict(UsagePoint.objects.filter(public_id__in=chosen_ids).values_list("public_id", "title"))
    return _rows(
        [
            (
                gettext("Usage points"),
                _items(f"{titles.get(pid) or gettext('usage point')} ({pid})" for pid in chosen_ids),
            ),
            (gettext("Data"), _items(describe_function_blocks(chosen.get("function_blocks") or []))),
            (gettext("Until"), _when(chosen.get("until")) if chosen.get("until") else "—"),
            (gettext("Scope granted"), chosen.get("scope") or grant.scope),
        ]
    )


def _offline_record_html(grant: Grant, evidence: dict[str, Any], chosen: dict[str, Any]) -> str:
    """An offline authorization: the paper's reference, when it was signed, who recorded it, what it grants."""
    who = _rows(
        [
            (gettext("Customer"), f"{grant.customer.name} (RetailCustomer {grant.customer.public_id})"),
            (gettext("Through"), _FLOWS["offline"]),
            (gettext("Evidence reference"), evidence.get("evidence_reference") or "—"),
            (gettext("Signed on"), evidence.get("signed_on") or "—"),
            (gettext("Recorded by"), evidence.get("recorded_by") or "—"),
            (gettext("Recorded at"), _when(evidence.get("at"))),
        ]
    )
    return format_html(
        '<div class="consent-record"><h3>{}</h3><table>{}</table><h3>{}</h3><table>{}</table></div>',
        gettext("Offline authorization: who, when, which paper"),
        who,
        gettext("What the signed authorization grants"),
        _chosen_rows(grant, chosen),
    )
