"""Tokens (PRODUCT "Tokens and what each reaches"): their checksum, their kind, and how each is described.

One home for what a token is: ``token_checksum`` (how a presented token or code is looked up),
``token_kind`` (one of the four kinds; ``grants.permissions`` has one permission class per kind),
``token_response_extras`` (the ESPI members of a token response) and ``token_introspect`` (RFC 7662).
Which URIs they name is ``grants.resource_uris``; what scope a token may carry is ``grants.scopes``.
"""

from __future__ import annotations

import hashlib

from oauth2_provider.models import get_access_token_model

from grants.models import Grant, ThirdParty
from grants.resource_uris import (
    application_information_uri,
    authorization_collection_uri,
    bulk_uri,
    grant_authorization_uri,
    grant_resource_uri,
    resource_uri,
)
from grants.scopes import ScopeError, parse_scope, scope_is_registration
from grants.selectors import grant_for_access_token

# Token kinds of PRODUCT "Tokens and what each reaches".
TOKEN_KIND_ACCESS = "access_token"  # noqa: S105 (a kind name, not a secret)
TOKEN_KIND_CLIENT = "client_access_token"  # noqa: S105
TOKEN_KIND_CUSTODIAN = "custodian"  # noqa: S105
TOKEN_KIND_REGISTRATION = "registration_access_token"  # noqa: S105


def token_checksum(value: str) -> str:
    """Return the checksum a token or an authorization code is stored and looked up by (SHA-256, hex).

    The same digest django-oauth-toolkit keeps in ``token_checksum`` for access and refresh tokens;
    ``GrantCode.code_checksum`` uses it too. A presented value is never compared in the clear.
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


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


def token_scope_bulk_id(*, access_token) -> str | None:
    """Return the bulk a client token's scope is limited to (its ``BR=`` term), or None."""
    try:
        return parse_scope(access_token.scope).bulk_id
    except ScopeError:
        return None


def token_response_extras(*, third_party: ThirdParty, grant: Grant | None, scope: str) -> dict[str, str]:
    """Return the ESPI members of a token response: ``resourceURI`` and ``authorizationURI``, for every kind.

    ESPI (REQ.21 Authorization): the access token's resourceURI is its ``Batch/Subscription/{id}`` and its
    authorizationURI its ``Authorization/{id}``; a client token whose scope names a bulk (``BR=``) gets
    ``Batch/Bulk/{bulkId}``, other client tokens the Authorization collection they may read, a registration
    token its ``ApplicationInformation/{id}``, back-office tokens the resource root. Tokens without a grant
    name the Authorization collection as their authorizationURI.
    """
    if grant is not None:
        return {
            "resourceURI": grant_resource_uri(grant=grant),
            "authorizationURI": grant_authorization_uri(grant=grant),
        }
    collection = authorization_collection_uri()
    if third_party.role == ThirdParty.Role.CUSTODIAN:
        return {"resourceURI": resource_uri(), "authorizationURI": collection}
    if scope_is_registration(scope_text=scope):
        return {"resourceURI": application_information_uri(third_party=third_party), "authorizationURI": collection}
    try:
        bulk_id = parse_scope(scope).bulk_id
    except ScopeError:
        bulk_id = None
    if bulk_id is not None:
        return {"resourceURI": bulk_uri(bulk_id=bulk_id), "authorizationURI": collection}
    return {"resourceURI": collection, "authorizationURI": collection}


def token_introspect(*, token_value: str, client: ThirdParty) -> dict[str, object]:
    """Describe a token for RFC 7662 introspection by the client it was issued to.

    Another client's token, an unknown, expired or revoked one, or one whose grant no longer
    reaches data is exactly ``{"active": false}`` (RFC 7662 section 2.2): introspection is no
    token-scanning oracle. The customer's identity is never disclosed.
    """
    token = (
        get_access_token_model()
        .objects.select_related("application")
        .filter(token_checksum=token_checksum(token_value), application=client)
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


def token_params_in_url_allowed(*, client_id: str) -> bool:
    """Return whether a token request may carry its parameters in the URL query or come by GET (ESPI compatibility)."""
    if not client_id or "\x00" in client_id:
        return False
    return ThirdParty.objects.filter(
        client_id=client_id, role=ThirdParty.Role.THIRD_PARTY, espi_compatibility=True
    ).exists()
