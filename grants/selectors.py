"""Reads about Third Parties, bulk users and grants."""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Case, Q, QuerySet, When
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from custodian.exceptions import NotFound
from custodian.models import RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, GrantToken, ThirdParty
from grants.scopes import EspiScope, ScopeError, parse_scope, scope_narrow, scope_with


def active_grant_q(*, at: datetime | None = None, prefix: str = "") -> Q:
    """Return the condition for a grant that reaches data at ``at``.

    Active status, inside its authorized period, and its Third Party in Production.
    ``prefix`` is the lookup path to the grant (``"grant__"`` from GrantUsagePoint).
    """
    moment = at or timezone.now()
    return Q(
        **{
            f"{prefix}status": Grant.Status.ACTIVE,
            f"{prefix}authorized_start__lte": moment,
            f"{prefix}authorized_end__gt": moment,
            f"{prefix}third_party__lifecycle": ThirdParty.Lifecycle.PRODUCTION,
        }
    )


def grant_active_list(*, at: datetime | None = None) -> QuerySet[Grant]:
    return Grant.objects.filter(active_grant_q(at=at))


def bulk_user_get(*, third_party: ThirdParty, bulk_id: str) -> BulkUser:
    """Return the Third Party's bulk user named exactly ``bulk_id``; anything else is NotFound."""
    try:
        return BulkUser.objects.get(third_party=third_party, bulk_id__exact=bulk_id)
    except BulkUser.DoesNotExist:
        raise NotFound("No such bulk.") from None


def grant_usage_points(*, grant: Grant) -> QuerySet[UsagePoint]:
    """Return the usage points a grant still names (not taken back)."""
    return UsagePoint.objects.filter(grant_usage_points__grant=grant, grant_usage_points__revoked_at__isnull=True)


def grant_list_for_customer(*, customer: RetailCustomer) -> QuerySet[Grant]:
    """Return the customer's grants: active ones first, then the rest (history), newest first in each."""
    return (
        Grant.objects.filter(customer=customer)
        .select_related("third_party", "bulk_user", "replaced_by")
        .prefetch_related("grant_usage_points__usage_point")
        .order_by(Case(When(status=Grant.Status.ACTIVE, then=0), default=1), "-created_at", "-pk")
    )


def grant_get_for_customer(*, customer: RetailCustomer, public_id: str) -> Grant:
    """Return one of the customer's grants; another's or an unknown id raise the same NotFound."""
    try:
        return grant_list_for_customer(customer=customer).get(public_id=public_id)
    except Grant.DoesNotExist:
        raise NotFound("No such grant.") from None


def grant_for_access_token(*, access_token) -> Grant | None:
    """Return the grant an access token is bound to, or None for a client-credentials token."""
    binding = (
        GrantToken.objects.select_related("grant__third_party", "grant__bulk_user")
        .filter(access_token=access_token)
        .first()
    )
    return binding.grant if binding else None


def third_party_list_in_production() -> QuerySet[ThirdParty]:
    return ThirdParty.objects.filter(
        role=ThirdParty.Role.THIRD_PARTY, lifecycle=ThirdParty.Lifecycle.PRODUCTION
    ).prefetch_related("bulk_users")


# Token kinds of PRODUCT "Tokens and what each reaches".
TOKEN_KIND_ACCESS = "access_token"  # noqa: S105 (a kind name, not a secret)
TOKEN_KIND_CLIENT = "client_access_token"  # noqa: S105
TOKEN_KIND_CUSTODIAN = "custodian"  # noqa: S105
TOKEN_KIND_REGISTRATION = "registration_access_token"  # noqa: S105

# The scope of a registration_access_token (ESPI: dynamic registration FB 36 and offline authorization FB 40).
REGISTRATION_SCOPE = "FB=36_40"

# The scope of a back-office client that registered none: upload of meter data (OpenESPI "FB=45").
CUSTODIAN_FALLBACK_SCOPE = "FB=45"


def espi_resource_base() -> str:
    """Return the ESPI dataCustodianResourceEndpoint (``{PORTAL_BASE_URL}/espi/1_1/resource``)."""
    return f"{settings.PORTAL_BASE_URL}/espi/1_1/resource"


def grant_resource_uri(*, grant: Grant) -> str:
    """Return the ESPI resourceURI of a grant: its ``Batch/Subscription/{subscriptionId}``."""
    return f"{espi_resource_base()}/Batch/Subscription/{grant.subscription_id}"


def grant_authorization_uri(*, grant: Grant) -> str:
    """Return the ESPI authorizationURI of a grant: its ``Authorization/{id}``."""
    return f"{espi_resource_base()}/Authorization/{grant.public_id}"


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


def scope_is_registration(*, scope_text: str) -> bool:
    """Return whether a scope is exactly the registration scope ``FB=36_40`` (no other term)."""
    try:
        parsed = parse_scope(scope_text)
    except ScopeError:
        return False
    return parsed == parse_scope(REGISTRATION_SCOPE)


def utility_function_blocks() -> frozenset[int]:
    """Return the function blocks this Data Custodian offers (setting ``ESPI_FUNCTION_BLOCKS``)."""
    return parse_scope("FB=" + settings.ESPI_FUNCTION_BLOCKS).function_blocks


def scopes_supported() -> list[str]:
    """Return the scope strings the server metadata advertises (RFC 8414 ``scopes_supported``)."""
    return [EspiScope(function_blocks=utility_function_blocks()).format(), REGISTRATION_SCOPE]


def scope_validate_for_client(*, third_party: ThirdParty, scope_text: str, client_token: bool = False) -> EspiScope:
    """Parse a requested scope and narrow it to what the utility and the client offer; raise ScopeError.

    PRODUCT "Conformance": function blocks the utility does not offer, or the client did not
    register, are narrowed away (term by term, never as substrings; see ``scopes.scope_narrow``), and
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
            raise ScopeError("Only Third Parties have bulk users.")
        if not BulkUser.objects.filter(third_party=third_party, bulk_id__exact=requested.bulk_id).exists():
            raise ScopeError(f"BR={requested.bulk_id} names no bulk user of this Third Party.")
    candidates = [
        narrowed
        for offered in offered_scopes
        if (narrowed := scope_narrow(requested, offered)) is not None and narrowed.is_within(offered)
    ]
    if not candidates:
        raise ScopeError("None of the requested function blocks is offered to this client.")
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


def token_kind(*, access_token, grant: Grant | None) -> str | None:
    """Classify a valid access token: bound to a grant, a Third Party client token, or a back-office token."""
    application = access_token.application
    if application is None:
        return None
    if grant is not None:
        return TOKEN_KIND_ACCESS if application.role == ThirdParty.Role.THIRD_PARTY else None
    if access_token.user_id is not None:
        # A token issued for a customer but bound to no grant reaches nothing (fail closed).
        return None
    if application.role == ThirdParty.Role.CUSTODIAN:
        return TOKEN_KIND_CUSTODIAN
    if scope_is_registration(scope_text=access_token.scope):
        return TOKEN_KIND_REGISTRATION
    return TOKEN_KIND_CLIENT


def token_response_extras(*, third_party: ThirdParty, grant: Grant | None, scope: str) -> dict[str, str]:
    """Return the ESPI members of a token response: ``resourceURI`` and ``authorizationURI``, for every kind.

    ESPI (REQ.21 Authorization): the access token's resourceURI is its ``Batch/Subscription/{id}`` and its
    authorizationURI its ``Authorization/{id}``; a client token whose scope names a bulk (``BR=``) gets
    ``Batch/Bulk/{bulkId}``, other client tokens the Authorization collection they may read, a registration
    token its ``ApplicationInformation/{id}``, back-office tokens the resource root. Tokens without a grant
    name the Authorization collection as their authorizationURI.
    """
    base = espi_resource_base()
    if grant is not None:
        return {
            "resourceURI": grant_resource_uri(grant=grant),
            "authorizationURI": grant_authorization_uri(grant=grant),
        }
    collection = f"{base}/Authorization"
    if third_party.role == ThirdParty.Role.CUSTODIAN:
        return {"resourceURI": f"{base}/", "authorizationURI": collection}
    if scope_is_registration(scope_text=scope):
        return {"resourceURI": application_information_uri(third_party=third_party), "authorizationURI": collection}
    try:
        bulk_id = parse_scope(scope).bulk_id
    except ScopeError:
        bulk_id = None
    if bulk_id is not None:
        return {"resourceURI": f"{base}/Batch/Bulk/{bulk_id}", "authorizationURI": collection}
    return {"resourceURI": collection, "authorizationURI": collection}


def application_information_uri(*, third_party: ThirdParty) -> str:
    """Return the ESPI URI of a Third Party's ApplicationInformation (its RFC 7592 registration_client_uri)."""
    return f"{espi_resource_base()}/ApplicationInformation/{third_party.public_id}"


def grant_token_scope_bulk_id(*, access_token) -> str | None:
    """Return the bulk a client token's scope is limited to (its ``BR=`` term), or None."""
    try:
        return parse_scope(access_token.scope).bulk_id
    except ScopeError:
        return None


def token_introspect(*, token_value: str, client: ThirdParty) -> dict[str, object]:
    """Describe a token for RFC 7662 introspection by the client it was issued to.

    Another client's token, an unknown, expired or revoked one, or one whose grant no longer
    reaches data is exactly ``{"active": false}`` (RFC 7662 section 2.2): introspection is no
    token-scanning oracle. The customer's identity is never disclosed.
    """
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model()
        .objects.select_related("application")
        .filter(token_checksum=checksum, application=client)
        .first()
    )
    if token is None or not token.is_valid() or not client.is_in_production:
        return {"active": False}
    grant = grant_for_access_token(access_token=token)
    if grant is not None and not grant.is_active:
        return {"active": False}
    kind = token_kind(access_token=token, grant=grant)
    if kind is None:
        return {"active": False}
    data: dict[str, object] = {
        "active": True,
        "scope": token.scope,
        "client_id": client.client_id,
        "token_type": "Bearer",
        "exp": int(token.expires.timestamp()),
        "espi_token_kind": kind,
    }
    data.update(token_response_extras(third_party=client, grant=grant, scope=token.scope))
    return data


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


def third_party_get_in_production(*, public_id: str) -> ThirdParty:
    """Return a Third Party in Production by its public id; anything else is NotFound."""
    try:
        return third_party_list_in_production().get(public_id=public_id)
    except ThirdParty.DoesNotExist:
        raise NotFound("No such Third Party.") from None


def grant_get_by_subscription(*, subscription_id: str) -> Grant | None:
    """Return the active grant whose Subscription id is exactly ``subscription_id``, or None."""
    return (
        grant_active_list()
        .select_related("third_party", "bulk_user", "customer")
        .filter(subscription_id__exact=subscription_id)
        .first()
    )


def third_party_pkce_required(*, third_party: ThirdParty | None) -> bool:
    """Return whether the authorization code flow needs PKCE: always, but for a confidential ESPI-compatible client.

    RFC 9700 section 2.1.1 lets a confidential client go without PKCE; staff allow it per Third Party.
    """
    if third_party is None:
        return True
    return not (third_party.espi_compatibility and third_party.client_type == ThirdParty.CLIENT_CONFIDENTIAL)


def token_params_in_url_allowed(*, client_id: str) -> bool:
    """Return whether a token request may carry its parameters in the URL query or come by GET (ESPI compatibility)."""
    if not client_id or "\x00" in client_id:
        return False
    return ThirdParty.objects.filter(
        client_id=client_id, role=ThirdParty.Role.THIRD_PARTY, espi_compatibility=True
    ).exists()


def third_party_get_by_client_id(*, client_id: str) -> ThirdParty | None:
    """Return the Third Party (never a back-office client) with this OAuth client id, or None."""
    return ThirdParty.objects.filter(client_id=client_id, role=ThirdParty.Role.THIRD_PARTY).first()


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
