"""ESPI scope strings: parse, validate, compare term by term, format canonically.

Grammar (GBA ``espi/scope.md``, REQ.21 authorization section 2.6; see
``shared/reference/espi-standard.md`` section 5)::

    Scope          = [FBTerms], [ValueTerms], [ResourceTerms] ;
    FBTerms        = "FB=", { [FBTerm], "_" }, FBTerm, ";" ;
    ValueTerms     = { IntervalDuration=n{_n} | BlockDuration=n{_n} | HistoryLength=n | SubscriptionFrequency=n } ;
    ResourceTerms  = { AccountCollection=n | BR=brID } ;

Real scope strings omit the final ``;`` and sometimes carry spaces: parsing is lenient about those,
formatting is canonical. Scopes are compared as parsed terms, never as substrings, so ``BR=1`` is
not ``BR=10`` and ``FB=1_3`` does not contain ``FB=13``.

The second half of this module is the scope POLICY, one function a rule: what the utility offers
(``utility_function_blocks``, setting ``ESPI_FUNCTION_BLOCKS``; ``utility_offered_scopes`` for approval), what a client registered
(``third_party_offered_scopes``), whether a scope is within what was registered
(``scope_within_registered``), what a client is granted when it asks (``scope_validate_for_client``),
the registration token's scope (``REGISTRATION_SCOPE``, ``scope_is_registration``), and the scopes
offered for a bulk share and on the scope-selection screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import gettext, ngettext

from custodian.exceptions import NotFound
from grants.models import BulkUser, ThirdParty

if TYPE_CHECKING:
    from collections.abc import Iterable

NAMED_FREQUENCIES = ("billingPeriod", "daily", "monthly", "seasonal", "weekly")
_NAMED_LOOKUP = {name.lower(): name for name in NAMED_FREQUENCIES}
_NUMBER = re.compile(r"^[0-9]{1,12}\Z")
_BR_ID = re.compile(r"^[0-9A-Za-z-]{1,64}\Z")
MAX_SCOPE_LENGTH = 256

FUNCTION_BLOCK_NAMES: dict[int, str] = {
    1: "Common Data Custodian functions",
    2: "Green Button Download My Data",
    3: "Core Green Button Connect My Data",
    4: "Interval metering (your meter's interval readings)",
    5: "Interval electricity metering",
    6: "Demand electricity metering",
    7: "Net metering",
    8: "Forward and reverse metering",
    9: "Register values",
    10: "Gas",
    11: "Water",
    12: "Cost of interval data",
    13: "Security and privacy classes",
    14: "Authorization and authentication",
    15: "Usage summaries (billing-period totals)",
    16: "Usage summaries with cost",
    17: "Power quality summaries",
    18: "Multiple usage points",
    19: "Partial updates",
    27: "Usage summary with demands and previous-day attributes",
    28: "Usage summary costs for the current billing period",
    29: "Temperature",
    31: "Core REST services",
    32: "Resource-level REST",
    33: "Management REST interfaces",
    34: "Bulk transfer by SFTP",
    35: "Bulk transfer by REST",
    36: "Third Party dynamic registration",
    37: "Query parameters",
    38: "On-demand requests",
    39: "Notifications of new data (push)",
    40: "Offline authorization",
    41: "Manage authorization or application information",
    42: "Third Party notification endpoint",
    43: "Third Party management REST",
    44: "Manage authorization or application information",
    45: "Upload of meter data",
    46: "Your customer information",
    47: "Customer information in bulk",
    48: "Customer information in bulk by SFTP",
    49: "Customer information management",
    50: "Customer information, resource level",
}

# Protocol function blocks a grant keeps whatever the customer chooses: they carry no data.
# Every other requested function block is data the customer may withhold on the consent screen.
REQUIRED_FUNCTION_BLOCKS = frozenset({1, 3, 13, 14, 19, 31, 32, 34, 35, 37, 38, 39})


class ScopeError(ValueError):
    """A scope string that does not follow the ESPI grammar."""


@dataclass(frozen=True)
class EspiScope:
    """One parsed ESPI scope string."""

    function_blocks: frozenset[int] = field(default_factory=frozenset)
    interval_durations: tuple[str, ...] = ()
    block_durations: tuple[str, ...] = ()
    history_length: int | None = None
    subscription_frequency: str | None = None
    account_collection: int | None = None
    bulk_id: str | None = None

    def format(self) -> str:
        """Return the canonical scope string (terms in grammar order, no trailing ';')."""
        terms: list[str] = []
        if self.function_blocks:
            terms.append("FB=" + "_".join(str(fb) for fb in sorted(self.function_blocks)))
        if self.interval_durations:
            terms.append("IntervalDuration=" + "_".join(self.interval_durations))
        if self.block_durations:
            terms.append("BlockDuration=" + "_".join(self.block_durations))
        if self.history_length is not None:
            terms.append(f"HistoryLength={self.history_length}")
        if self.subscription_frequency is not None:
            terms.append(f"SubscriptionFrequency={self.subscription_frequency}")
        if self.account_collection is not None:
            terms.append(f"AccountCollection={self.account_collection}")
        if self.bulk_id is not None:
            terms.append(f"BR={self.bulk_id}")
        return ";".join(terms)

    def __str__(self) -> str:
        return self.format()

    @property
    def min_interval_seconds(self) -> int | None:
        numbers = [int(value) for value in self.interval_durations if value.isdigit()]
        return min(numbers) if numbers else None

    def without_bulk(self) -> EspiScope:
        return EspiScope(
            function_blocks=self.function_blocks,
            interval_durations=self.interval_durations,
            block_durations=self.block_durations,
            history_length=self.history_length,
            subscription_frequency=self.subscription_frequency,
            account_collection=self.account_collection,
        )

    def is_within(self, offered: EspiScope) -> bool:
        """Return whether this (requested) scope asks for no more than ``offered``, term by term."""
        if not self.function_blocks <= offered.function_blocks:
            return False
        if offered.interval_durations and not set(self.interval_durations) <= set(offered.interval_durations):
            return False
        if offered.block_durations and not set(self.block_durations) <= set(offered.block_durations):
            return False
        if offered.history_length is not None and (
            self.history_length is None or self.history_length > offered.history_length
        ):
            return False
        if offered.account_collection is not None and (
            self.account_collection is None or self.account_collection > offered.account_collection
        ):
            return False
        if offered.subscription_frequency is not None and self.subscription_frequency not in (
            None,
            offered.subscription_frequency,
        ):
            return False
        return offered.bulk_id is None or self.bulk_id == offered.bulk_id


def _named_or_number(term: str, value: str) -> str:
    if _NUMBER.match(value):
        return str(int(value))
    named = _NAMED_LOOKUP.get(value.lower())
    if named is None:
        raise ScopeError(
            gettext("%(term)s value %(value)r is neither a number nor one of %(names)s.")
            % {"term": term, "value": value, "names": ", ".join(NAMED_FREQUENCIES)}
        )
    return named


def _number(term: str, value: str) -> int:
    if not _NUMBER.match(value):
        raise ScopeError(
            gettext("%(term)s must be a non-negative whole number, not %(value)r.") % {"term": term, "value": value}
        )
    return int(value)


def parse_scope(text: str) -> EspiScope:
    """Parse one ESPI scope string; raise :class:`ScopeError` saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ScopeError(gettext("The scope is empty."))
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeError(gettext("The scope is longer than %(limit)d characters.") % {"limit": MAX_SCOPE_LENGTH})
    seen: set[str] = set()
    values: dict[str, object] = {}
    # Spaces around terms and around "=" are tolerated (real scope strings carry them); a space
    # inside a value is not, so "BR=a b" is refused rather than read as bulk "ab".
    for raw_term in (term.strip() for term in text.split(";")):
        if raw_term == "":
            continue
        name, sep, value = (part.strip() for part in raw_term.partition("="))
        if not sep or not value:
            raise ScopeError(gettext("Scope term %(term)r is not NAME=VALUE.") % {"term": raw_term})
        if name in seen:
            raise ScopeError(gettext("Scope term %(term)s appears twice.") % {"term": name})
        seen.add(name)
        if name == "FB":
            parts = value.split("_")
            if any(not _NUMBER.match(part) for part in parts):
                raise ScopeError(
                    gettext("FB=%(value)s must be function block numbers joined by '_'.") % {"value": value}
                )
            blocks = frozenset(int(part) for part in parts)
            if any(block < 1 or block > 99 for block in blocks):
                raise ScopeError(gettext("Function block numbers run from 1 to 99."))
            values["function_blocks"] = blocks
        elif name == "IntervalDuration":
            values["interval_durations"] = tuple(_named_or_number(name, part) for part in value.split("_"))
        elif name == "BlockDuration":
            values["block_durations"] = tuple(_named_or_number(name, part) for part in value.split("_"))
        elif name == "HistoryLength":
            values["history_length"] = _number(name, value)
        elif name == "SubscriptionFrequency":
            values["subscription_frequency"] = _named_or_number(name, value)
        elif name in {"AccountCollection", "BulkAccountCollection"}:
            values["account_collection"] = _number(name, value)
        elif name == "BR":
            if not _BR_ID.match(value):
                raise ScopeError(gettext("BR=%(value)s is not a Bulk ID (letters, digits and '-').") % {"value": value})
            values["bulk_id"] = value
        else:
            raise ScopeError(gettext("Unknown scope term %(term)r.") % {"term": name})
    if "function_blocks" not in values:
        raise ScopeError(gettext("The scope names no function blocks (FB=...)."))
    return EspiScope(**values)  # type: ignore[arg-type]


def describe_function_blocks(function_blocks: frozenset[int] | list[int]) -> list[str]:
    """Return plain-language names for function blocks, for consent screens."""
    return [FUNCTION_BLOCK_NAMES.get(fb, f"Function block {fb}") for fb in sorted(function_blocks)]


def describe_interval(scope: EspiScope) -> str:
    """Return the interval lengths of a scope in plain words ("15-minute, hourly readings")."""
    words = []
    for value in scope.interval_durations:
        if value.isdigit():
            seconds = int(value)
            if seconds % 3600 == 0:
                hours = seconds // 3600
                words.append(gettext("hourly") if hours == 1 else gettext("%(n)s-hour") % {"n": hours})
            elif seconds % 60 == 0:
                words.append(gettext("%(n)s-minute") % {"n": seconds // 60})
            else:
                words.append(gettext("%(n)s-second") % {"n": seconds})
        else:
            words.append(value)
    return gettext("%(lengths)s readings") % {"lengths": ", ".join(words)} if words else gettext("any interval")


def describe_duration(seconds: int | None) -> str:
    """Return a history length in plain words ("3 years", "90 days")."""
    if seconds is None:
        return gettext("no limit stated")
    days = seconds // 86400
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return ngettext("%(n)s year", "%(n)s years", years) % {"n": years}
    if days >= 1:
        return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
    return ngettext("%(n)s second", "%(n)s seconds", seconds) % {"n": seconds}


def scope_with(
    scope: EspiScope, *, function_blocks: frozenset[int] | None = None, history_length: int | None = None
) -> EspiScope:
    """Return ``scope`` narrowed to other function blocks or a shorter history."""
    values = dict(scope.__dict__)
    if function_blocks is not None:
        values["function_blocks"] = frozenset(function_blocks)
    if history_length is not None:
        values["history_length"] = history_length
    return EspiScope(**values)


def _narrow_values(requested: tuple[str, ...], offered: tuple[str, ...]) -> tuple[str, ...]:
    if not offered:
        return requested
    kept = tuple(value for value in requested if value in offered)
    return kept or offered


def _narrow_limit(requested: int | None, offered: int | None) -> int | None:
    if offered is None:
        return requested
    return offered if requested is None else min(requested, offered)


def scope_narrow(requested: EspiScope, offered: EspiScope) -> EspiScope | None:
    """Return ``requested`` narrowed, term by term, to what ``offered`` allows; None if nothing of it remains.

    Function blocks not offered are dropped; interval and block durations keep those offered (or take
    the offered ones); history length and account collection are capped; a frequency not offered
    becomes the offered one. A bulk is never narrowed: a ``BR=`` term must match, else None.
    """
    function_blocks = requested.function_blocks & offered.function_blocks
    if not function_blocks:
        return None
    if offered.bulk_id is not None and requested.bulk_id != offered.bulk_id:
        return None
    frequency = requested.subscription_frequency
    if offered.subscription_frequency is not None and frequency not in (None, offered.subscription_frequency):
        frequency = offered.subscription_frequency
    return EspiScope(
        function_blocks=frozenset(function_blocks),
        interval_durations=_narrow_values(requested.interval_durations, offered.interval_durations),
        block_durations=_narrow_values(requested.block_durations, offered.block_durations),
        history_length=_narrow_limit(requested.history_length, offered.history_length),
        subscription_frequency=frequency,
        account_collection=_narrow_limit(requested.account_collection, offered.account_collection),
        bulk_id=requested.bulk_id,
    )


def scope_narrow_to_original(requested_text: str, original_text: str) -> EspiScope:
    """Return the scope a refresh asking for ``requested_text`` gets, the token's ``original_text`` at most.

    RFC 6749 section 6: a refresh may ask for the original scope or less. Clients that resend the scope
    they first asked for (requests-oauthlib does) get it narrowed to what was granted, term by term, as
    an authorization request is (PRODUCT "Conformance"). A malformed scope (``Read/Write``, OAD011), one
    naming another bulk, or one with nothing left of the original raises ScopeError.
    """
    requested = parse_scope(requested_text)
    original = parse_scope(original_text)
    narrowed = scope_narrow(requested, original)
    if narrowed is None or not narrowed.is_within(original):
        raise ScopeError(gettext("The refresh asks for nothing the original authorization granted."))
    return narrowed


# ---- Policy: what is offered, registered and granted ---------------------------------------------

# The scope of a registration_access_token (ESPI: dynamic registration FB 36 and offline authorization FB 40).
REGISTRATION_SCOPE = "FB=36_40"

# The scope of a back-office client that registered none: upload of meter data (OpenESPI "FB=45").
CUSTODIAN_FALLBACK_SCOPE = "FB=45"


def scope_within_any(scope: EspiScope, offers: Iterable[EspiScope]) -> bool:
    """Return whether ``scope`` asks for no more than one of ``offers`` (term by term, ``EspiScope.is_within``)."""
    return any(scope.is_within(offer) for offer in offers)


def utility_function_blocks() -> frozenset[int]:
    """Return the function blocks this Data Custodian offers (setting ``ESPI_FUNCTION_BLOCKS``)."""
    return parse_scope("FB=" + settings.ESPI_FUNCTION_BLOCKS).function_blocks


def utility_offered_scopes() -> list[EspiScope]:
    """Return the scopes the utility offers: its function blocks (``utility_function_blocks``), as one scope."""
    return [EspiScope(function_blocks=utility_function_blocks())]


def scopes_supported() -> list[str]:
    """Return the scope strings the server metadata advertises (RFC 8414 ``scopes_supported``)."""
    return [EspiScope(function_blocks=utility_function_blocks()).format(), REGISTRATION_SCOPE]


def scope_is_registration(*, scope_text: str) -> bool:
    """Return whether a scope is exactly the registration scope ``FB=36_40`` (no other term)."""
    try:
        parsed = parse_scope(scope_text)
    except ScopeError:
        return False
    return parsed == parse_scope(REGISTRATION_SCOPE)


def third_party_offered_scopes(*, third_party: ThirdParty) -> list[EspiScope]:
    """Return the parsed scope strings a client registered (a back-office client with none: upload)."""
    offered: list[EspiScope] = []
    for text in third_party.registered_scope_list:
        try:
            offered.append(parse_scope(text))
        except ScopeError:
            continue
    if not offered and third_party.role == ThirdParty.Role.CUSTODIAN:
        offered.append(parse_scope(CUSTODIAN_FALLBACK_SCOPE))
    return offered


def scope_within_registered(scope: EspiScope, *, third_party: ThirdParty) -> bool:
    """Return whether ``scope`` is within a scope the client registered: the rule every grant's scope keeps."""
    return scope_within_any(scope, third_party_offered_scopes(third_party=third_party))


def scope_validate_for_client(*, third_party: ThirdParty, scope_text: str, client_token: bool = False) -> EspiScope:
    """Parse a requested scope and narrow it to what the utility and the client offer; raise ScopeError.

    PRODUCT "Conformance": function blocks the utility does not offer, or the client did not
    register, are narrowed away (term by term, never as substrings; see ``scope_narrow``), and
    the widest narrowed scope is granted. Only a malformed scope, one with nothing left, or a ``BR=``
    term naming no bulk user of this Third Party (``BR=1`` is not bulk ``10``) is refused. A
    client-credentials token (``client_token``) reaches no customer's data by itself, so only its
    function blocks and bulk are compared.
    """
    requested = parse_scope(scope_text)
    if (
        client_token
        and third_party.role == ThirdParty.Role.THIRD_PARTY
        and scope_is_registration(scope_text=scope_text)
    ):
        # Every Third Party may ask for its registration_access_token, whatever scopes it registered.
        return requested
    offered_scopes = third_party_offered_scopes(third_party=third_party)
    if client_token:
        requested = EspiScope(function_blocks=requested.function_blocks, bulk_id=requested.bulk_id)
        offered_scopes = [EspiScope(function_blocks=o.function_blocks, bulk_id=o.bulk_id) for o in offered_scopes]
    if third_party.role == ThirdParty.Role.THIRD_PARTY:
        requested = scope_with(requested, function_blocks=requested.function_blocks & utility_function_blocks())
    if requested.bulk_id is not None:
        if third_party.role != ThirdParty.Role.THIRD_PARTY:
            raise ScopeError(gettext("Only Third Parties have bulk users."))
        if not BulkUser.objects.filter(third_party=third_party, bulk_id__exact=requested.bulk_id).exists():
            raise ScopeError(
                gettext("BR=%(bulk_id)s names no bulk user of this Third Party.") % {"bulk_id": requested.bulk_id}
            )
    candidates = [
        narrowed
        for offered in offered_scopes
        if (narrowed := scope_narrow(requested, offered)) is not None and narrowed.is_within(offered)
    ]
    if not candidates:
        raise ScopeError(gettext("None of the requested function blocks is offered to this client."))
    return max(candidates, key=lambda candidate: len(candidate.function_blocks))


def scope_default_for_client(*, third_party: ThirdParty | None, grant_type: str | None) -> list[str]:
    """Return the explicit default scope: none for the code flow, the first registered one for client credentials.

    A Third Party sending a customer to consent must say what it asks for (RFC 9700 section 2.3,
    least privilege); a client-credentials request without a scope gets the first scope it registered.
    """
    if third_party is None or grant_type != "client_credentials":
        return []
    offered = third_party_offered_scopes(third_party=third_party)
    return [offered[0].format()] if offered else []


def bulk_share_scope(*, third_party: ThirdParty, bulk_user: BulkUser) -> EspiScope:
    """Return the scope a customer-initiated grant to a bulk user asks for: a registered scope with its ``BR=``.

    The first registered scope that allows that bulk; NotFound if none does.
    """
    for offered in third_party_offered_scopes(third_party=third_party):
        if offered.bulk_id not in (None, bulk_user.bulk_id):
            continue
        candidate = EspiScope(**{**offered.__dict__, "bulk_id": bulk_user.bulk_id})
        try:
            return scope_validate_for_client(third_party=third_party, scope_text=candidate.format())
        except ScopeError:
            continue
    raise NotFound("This bulk user accepts no grants.")


def third_party_scope_selection_redirect(*, third_party: ThirdParty) -> str:
    """Return the Third Party's scope-selection screen URI with the scopes offered to it (ESPI scope selection).

    The Data Custodian sends the customer there with one ``scope`` per scope it offers the Third Party
    for an individual grant (narrowed to the utility's function blocks, no ``BR=``) and its
    ``DataCustodianID``; the Third Party picks one and starts ``/oauth/authorize`` with it.
    Raises NotFound if the Third Party has no scope-selection screen or nothing to offer.
    """
    if not third_party.scope_selection_uri:
        raise NotFound("This Third Party has no scope-selection screen.")
    offered = []
    for scope in third_party_offered_scopes(third_party=third_party):
        if scope.bulk_id is not None:
            continue
        narrowed = scope_with(scope, function_blocks=scope.function_blocks & utility_function_blocks())
        if narrowed.function_blocks and narrowed.format() not in offered:
            offered.append(narrowed.format())
    if not offered:
        raise NotFound("This Third Party has no scope for an individual grant.")
    query = urlencode([*(("scope", scope) for scope in offered), ("DataCustodianID", settings.DATA_CUSTODIAN_ID)])
    separator = "&" if "?" in third_party.scope_selection_uri else "?"
    return f"{third_party.scope_selection_uri}{separator}{query}"
