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
from django.utils import translation
from django.utils.translation import gettext as _

from grants.models import ThirdParty
from grants.notifications import PostResult, batch_list_document, post_batch_list
from grants.resource_uris import application_information_uri
from grants.scopes import ScopeError, parse_scope, scope_within_any, utility_offered_scopes


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """One line of the approval checklist: what was checked, whether it passed, and why not.

    ``name`` and ``detail`` are in the language of the request (shown to staff); ``as_dict`` (stored
    in the audit row) gives them in English.
    """

    name: str
    ok: bool
    detail: str
    english_name: str = ""
    english_detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.english_name or self.name, "ok": self.ok, "detail": self.english_detail or self.detail}


def _check(describe: Callable[[], tuple[str, bool, str]]) -> ApprovalCheck:
    """Build a check from ``describe`` (no network, no writes): once in English for the audit row, once to show."""
    with translation.override("en"):
        english_name, _ok, english_detail = describe()
    name, ok, detail = describe()
    return ApprovalCheck(name, ok, detail, english_name=english_name, english_detail=english_detail)


def redirect_uri_problem(uri: str) -> str:
    """Return why ``uri`` cannot be a redirect URI (not https with a host, or a fragment), or "" (http only with DEBUG).

    The one rule for staff approval and RFC 7591 dynamic registration alike.
    """
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return _("%(uri)s is not a valid URL") % {"uri": uri}
    if not host:
        return _("%(uri)s has no host") % {"uri": uri}
    if parts.fragment:
        return _("%(uri)s has a fragment") % {"uri": uri}
    if parts.scheme == "https" or (parts.scheme == "http" and settings.DEBUG):
        return ""
    return _("%(uri)s is not https") % {"uri": uri}


def check_redirect_uris(third_party: ThirdParty) -> ApprovalCheck:
    """Pass when the Third Party has redirect URIs and each is https with a host (http only with DEBUG)."""
    uris = third_party.redirect_uris.split()

    def describe() -> tuple[str, bool, str]:
        name = _("Redirect URIs are https")
        if not uris:
            return name, False, _("No redirect URI is registered.")
        bad = [problem for uri in uris if (problem := redirect_uri_problem(uri))]
        if bad:
            return name, False, "; ".join(bad) + "."
        return name, True, _("%(count)d redirect URI(s), all accepted.") % {"count": len(uris)}

    return _check(describe)


def check_notify_uri_answers(
    third_party: ThirdParty, *, post: Callable[..., PostResult] = post_batch_list
) -> ApprovalCheck:
    """Pass when a test BatchList (naming the ApplicationInformation) POSTed to the notify URI gets a 2xx."""
    result = None
    if third_party.notify_uri:  # POSTed once; only its outcome is described twice
        body = batch_list_document(resources=[application_information_uri(third_party=third_party)])
        result = post(uri=third_party.notify_uri, body=body)

    def describe() -> tuple[str, bool, str]:
        name = _("Notify URI answers a test notification")
        if result is None:
            return name, False, _("No notify URI (thirdPartyNotifyUri) is registered.")
        if result.ok:
            return (
                name,
                True,
                _("%(uri)s answered HTTP %(status)s.") % {"uri": third_party.notify_uri, "status": result.status},
            )
        return name, False, f"{third_party.notify_uri}: {result.error or f'HTTP {result.status}'}."

    return _check(describe)


def check_scopes_offered(third_party: ThirdParty) -> ApprovalCheck:
    """Pass when the Third Party registered scopes and each is within a scope the utility offers."""
    texts = third_party.registered_scope_list
    offered = utility_offered_scopes()

    def describe() -> tuple[str, bool, str]:
        name = _("Scopes are within what the utility offers")
        if not texts:
            return name, False, _("No scope is registered.")
        bad = []
        for text in texts:
            try:
                scope = parse_scope(text)
            except ScopeError as exc:
                bad.append(f"{text!r}: {exc}")
                continue
            if not scope_within_any(scope.without_bulk(), offered):
                bad.append(_("%(scope)r asks for more than the utility offers") % {"scope": text})
        if bad:
            return name, False, "; ".join(bad) + "."
        return name, True, _("%(count)d scope(s), all offered.") % {"count": len(texts)}

    return _check(describe)


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
