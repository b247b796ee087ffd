"""The checklist a Third Party passes before the utility approves it to Production.

Three checks, each decided in one function: every redirect URI is https (plain http only with
DEBUG), the notify URI answers a test BatchList with 2xx, and every registered scope is within one
the utility offers (its function blocks, setting ``ESPI_FUNCTION_BLOCKS``: the one list of what it
offers, which also narrows requests at the authorization and token endpoints). The notify check POSTs over the network, so the
checklist runs outside any transaction; ``services.third_party_approve`` records its outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from grants.models import ThirdParty
from grants.notifications import PostResult, batch_list_document, post_batch_list
from grants.resource_uris import application_information_uri
from grants.scopes import ScopeError, parse_scope, scope_within_any, utility_offered_scopes


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """One line of the approval checklist: what was checked, whether it passed, and why not."""

    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def redirect_uri_problem(uri: str) -> str:
    """Return why ``uri`` cannot be a redirect URI (not https with a host, or a fragment), or "" (http only with DEBUG).

    The one rule for staff approval and RFC 7591 dynamic registration alike.
    """
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return f"{uri} is not a valid URL"
    if not host:
        return f"{uri} has no host"
    if parts.fragment:
        return f"{uri} has a fragment"
    if parts.scheme == "https" or (parts.scheme == "http" and settings.DEBUG):
        return ""
    return f"{uri} is not https"


def check_redirect_uris(third_party: ThirdParty) -> ApprovalCheck:
    """Pass when the Third Party has redirect URIs and each is https with a host (http only with DEBUG)."""
    name = "Redirect URIs are https"
    uris = third_party.redirect_uris.split()
    if not uris:
        return ApprovalCheck(name, False, "No redirect URI is registered.")
    bad = [problem for uri in uris if (problem := redirect_uri_problem(uri))]
    if bad:
        return ApprovalCheck(name, False, "; ".join(bad) + ".")
    return ApprovalCheck(name, True, f"{len(uris)} redirect URI(s), all accepted.")


def check_notify_uri_answers(
    third_party: ThirdParty, *, post: Callable[..., PostResult] = post_batch_list
) -> ApprovalCheck:
    """Pass when a test BatchList (naming the ApplicationInformation) POSTed to the notify URI gets a 2xx."""
    name = "Notify URI answers a test notification"
    if not third_party.notify_uri:
        return ApprovalCheck(name, False, "No notify URI (thirdPartyNotifyUri) is registered.")
    body = batch_list_document(resources=[application_information_uri(third_party=third_party)])
    result = post(uri=third_party.notify_uri, body=body)
    if result.ok:
        return ApprovalCheck(name, True, f"{third_party.notify_uri} answered HTTP {result.status}.")
    return ApprovalCheck(name, False, f"{third_party.notify_uri}: {result.error or f'HTTP {result.status}'}.")


def check_scopes_offered(third_party: ThirdParty) -> ApprovalCheck:
    """Pass when the Third Party registered scopes and each is within a scope the utility offers."""
    name = "Scopes are within what the utility offers"
    texts = third_party.registered_scope_list
    if not texts:
        return ApprovalCheck(name, False, "No scope is registered.")
    offered = utility_offered_scopes()
    bad = []
    for text in texts:
        try:
            scope = parse_scope(text)
        except ScopeError as exc:
            bad.append(f"{text!r}: {exc}")
            continue
        if not scope_within_any(scope.without_bulk(), offered):
            bad.append(f"{text!r} asks for more than the utility offers")
    if bad:
        return ApprovalCheck(name, False, "; ".join(bad) + ".")
    return ApprovalCheck(name, True, f"{len(texts)} scope(s), all offered.")


def third_party_approval_checklist(
    *, third_party: ThirdParty, post: Callable[..., PostResult] = post_batch_list
) -> list[ApprovalCheck]:
    """Run the approval checklist; a back-office client has no redirect or notify URI, so only its scopes count."""
    if third_party.role == ThirdParty.Role.CUSTODIAN:
        return [check_scopes_offered(third_party)] if third_party.registered_scope_list else []
    return [
        check_redirect_uris(third_party),
        check_notify_uri_answers(third_party, post=post),
        check_scopes_offered(third_party),
    ]
