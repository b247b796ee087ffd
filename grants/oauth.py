"""The OAuth 2.0 authorization server's ESPI rules, plugged into django-oauth-toolkit.

* :class:`EspiScopes` (``SCOPES_BACKEND_CLASS``): ESPI scope strings are the scopes; no scope is
  listed in settings.
* :class:`EspiOAuth2Validator` (``OAUTH2_VALIDATOR_CLASS``): a requested scope is accepted only as
  a term-by-term subset of one the client registered; the authorization code carries the grant the
  customer created at consent; every access token of the code and refresh flows is bound to that
  grant (:class:`grants.models.GrantToken`); the token response carries ``resourceURI`` and
  ``authorizationURI``; a token whose grant no longer reaches data is invalid.
* :class:`EspiServer` (``OAUTH2_SERVER_CLASS``): PKCE with S256 only.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauthlib.oauth2 import Server
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256

from grants import selectors, services, tokens
from grants.models import GrantCode, ThirdParty
from grants.scopes import (
    ScopeError,
    parse_scope,
    scope_default_for_client,
    scope_narrow_to_original,
    scope_validate_for_client,
    scopes_supported,
    third_party_offered_scopes,
)

_CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def redirect_state_last(url: str) -> str:
    """Return ``url`` with its ``state`` parameter moved last, unchanged otherwise.

    GBA's certification harness reads ``state`` as everything after ``state=`` in the redirect, so
    ``iss`` (RFC 9207) and any other parameter go before it (PRODUCT "Conformance").
    """
    base, separator, query = url.partition("?")
    if not separator:
        return url
    query, hash_mark, fragment = query.partition("#")
    parts = query.split("&")
    ordered = [part for part in parts if part.partition("=")[0] != "state"] + [
        part for part in parts if part.partition("=")[0] == "state"
    ]
    return f"{base}?{'&'.join(ordered)}{hash_mark}{fragment}"


def third_party_pkce_required(*, third_party: ThirdParty | None) -> bool:
    """Return whether the authorization code flow needs PKCE: always, but for a confidential ESPI-compatible client.

    RFC 9700 section 2.1.1 lets a confidential client go without PKCE; staff allow it per Third Party.
    """
    if third_party is None:
        return True
    return not (third_party.espi_compatibility and third_party.client_type == ThirdParty.CLIENT_CONFIDENTIAL)


def authorization_error_status(error) -> int:
    """Return the status of an authorization error that is shown, never redirected (PRODUCT "Conformance").

    A missing or unknown client is 401; a missing, unregistered or mismatching redirect URI 403
    (never a redirect to it, RFC 6749 section 4.1.2.1); anything else its own status.
    """
    oauthlib_error = getattr(error, "oauthlib_error", error)
    if isinstance(oauthlib_error, errors.InvalidClientIdError | errors.MissingClientIdError):
        return 401
    if isinstance(
        oauthlib_error,
        errors.InvalidRedirectURIError | errors.MismatchingRedirectURIError | errors.MissingRedirectURIError,
    ):
        return 403
    return getattr(oauthlib_error, "status_code", 400)


_ERROR_DESCRIPTIONS = {
    "unsupported_response_type": "Only response_type=code is supported.",
    "unauthorized_client": "This client may not use this response type.",
    "access_denied": "The customer denied the request.",
}


def authorization_error_describe(error) -> None:
    """Give an authorization error redirected to the client an ``error_description`` if it has none."""
    oauthlib_error = getattr(error, "oauthlib_error", error)
    if not getattr(oauthlib_error, "description", ""):
        oauthlib_error.description = _ERROR_DESCRIPTIONS.get(
            oauthlib_error.error, "The authorization request is not valid."
        )


class _ScopeDescriptions(dict):
    """Describe any ESPI scope string on demand (django-oauth-toolkit indexes ``get_all_scopes()``)."""

    def __missing__(self, key: str) -> str:
        try:
            return str(parse_scope(key))
        except ScopeError:
            return key


class EspiScopes(BaseScopes):
    """ESPI scope strings as scopes: a client's available scopes are the ones it registered."""

    def get_all_scopes(self) -> dict[str, str]:
        return _ScopeDescriptions()

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        if application is None:
            # Server metadata: every function block the utility offers, and the registration scope.
            return scopes_supported()
        return [scope.format() for scope in third_party_offered_scopes(third_party=application)]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return scope_default_for_client(third_party=application, grant_type=getattr(request, "grant_type", None))


class EspiServer(Server):
    """oauthlib's server with PKCE restricted to S256.

    RFC 9700 section 2.1.1 and RFC 7636 section 4.2: ``plain`` is refused, and so is a challenge
    without a method, which RFC 7636 section 4.3 defaults to ``plain``. The check runs when the
    authorization request arrives, before the customer sees the consent screen.
    """

    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self.auth_grant._code_challenge_methods = {"S256": code_challenge_method_s256}


class EspiOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator with ESPI scopes and grant-bound tokens."""

    def _load_application(self, client_id, request):
        """Treat a client id with a NUL character as unknown (HTTP Basic credentials can carry one).

        PostgreSQL refuses NUL in a text parameter, so looking it up would end in a 500, not a 401.
        """
        if client_id and "\x00" in client_id:
            return None
        return super()._load_application(client_id, request)

    def _load_access_token(self, token):
        """Look the presented bearer token up by its checksum (``selectors.access_token_for_checksum``)."""
        return selectors.access_token_for_checksum(checksum=tokens.token_checksum(token))

    def is_pkce_required(self, client_id, request) -> bool:
        """Require PKCE of every client but a confidential one with ESPI compatibility."""
        return third_party_pkce_required(third_party=self._load_application(client_id, request))

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        """Accept one ESPI scope string, narrowed to what the client may have, in canonical form."""
        if client is None:
            return False
        if not scopes:
            raise errors.InvalidScopeError(description="The request names no scope (FB=...).", request=request)
        try:
            # oauthlib splits on spaces; ESPI scope strings are atomic, so rejoin them.
            parsed = scope_validate_for_client(
                third_party=client,
                scope_text="".join(scopes),
                client_token=request.grant_type == "client_credentials",
            )
        except ScopeError as exc:
            # invalid_scope always says why (PRODUCT "Conformance").
            raise errors.InvalidScopeError(description=str(exc), request=request) from exc
        request.scopes = [parsed.format()]
        return True

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Store the code bound to the grant created at consent; no consent, no code."""
        grant = getattr(request, "espi_grant", None)
        if grant is None:
            raise errors.AccessDeniedError(description="No consent was recorded for this request.", request=request)
        authorization_code = self._create_authorization_code(request, code)
        services.grant_code_bind(grant=grant, authorization_code=authorization_code)

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        """Accept a code only while the grant it was issued for is active, with a well-formed verifier if any.

        RFC 7636 section 4.1: a code_verifier is 43 to 128 unreserved characters; a shorter one is refused.
        """
        verifier = getattr(request, "code_verifier", None)
        if verifier is not None and not _CODE_VERIFIER.fullmatch(verifier):
            return False
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            if client is not None and code:
                services.grant_code_replay_revoke(client=client, code=code)
            return False
        binding = (
            GrantCode.objects.select_related("grant__third_party", "grant__customer")
            .filter(authorization_code__code=code, authorization_code__application=client)
            .first()
        )
        if binding is None or not binding.grant.is_active:
            return False
        request.espi_grant = binding.grant
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs) -> bool:
        """Require the authorization request's redirect_uri in the code exchange (RFC 6749 section 4.1.3).

        Every ESPI authorization request carries one, so an exchange without it is refused rather
        than matched against the client's default.
        """
        if getattr(request, "using_default_redirect_uri", False):
            return False
        return super().confirm_redirect_uri(client_id, code, redirect_uri, client, request, *args, **kwargs)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """Refresh only for an active grant; the new access token is bound to the same grant."""
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        previous = request.refresh_token_instance.access_token
        grant = selectors.grant_for_access_token(access_token=previous) if previous is not None else None
        if grant is None or not grant.is_active:
            return False
        request.espi_grant = grant
        return True

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs) -> bool:
        """Narrow a refresh's scope to the one originally granted (``scopes.scope_narrow_to_original``).

        oauthlib asks this only when the requested scope is not literally the original one; a client
        resending the scope it first asked for, wider than what the customer granted, gets the grant's.
        """
        original = self.get_original_scopes(refresh_token, request)
        try:
            narrowed = scope_narrow_to_original("".join(request_scopes), "".join(original))
        except ScopeError as exc:
            # invalid_scope always says why (PRODUCT "Conformance").
            raise errors.InvalidScopeError(description=str(exc), request=request) from exc
        request.scopes = [narrowed.format()]
        return True

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access_token = super()._create_access_token(expires, request, token, source_refresh_token=source_refresh_token)
        services.token_issue_record(
            access_token=access_token,
            grant=getattr(request, "espi_grant", None),
            grant_type=request.grant_type or "",
        )
        return access_token

    def _save_bearer_token(self, token, request, *args, **kwargs):
        grant = getattr(request, "espi_grant", None)
        # Before any token row is locked or written (the one lock order: Third Party, grant, tokens).
        if grant is not None and not services.grant_lock_for_token(grant=grant):
            raise errors.InvalidGrantError(
                description="The authorization behind this request has ended.", request=request
            )
        super()._save_bearer_token(token, request, *args, **kwargs)
        # ESPI token response members (REQ.21 Authorization: resourceURI, authorizationURI).
        token.update(
            tokens.token_response_extras(
                third_party=request.client, grant=getattr(request, "espi_grant", None), scope=token["scope"]
            )
        )

    def validate_bearer_token(self, token, scopes, request) -> bool:
        """Refuse a token whose grant no longer reaches data; expose the grant as ``request.espi_grant``."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        access_token = request.access_token
        grant = selectors.grant_for_access_token(access_token=access_token)
        if (grant is not None and not grant.is_active) or tokens.token_kind(
            access_token=access_token, grant=grant
        ) is None:
            request.oauth2_error = OrderedDict(
                [("error", "invalid_token"), ("error_description", "The authorization behind this token has ended.")]
            )
            return False
        request.espi_grant = grant
        return True

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs) -> None:
        """Revoke as RFC 7009 section 2.1 says (only the client's own tokens) and audit it."""
        client = request.client
        found = self._revocable(token=token, client=client)
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        if found is not None:
            token_type, grant = found
            services.token_revocation_record(client=client, grant=grant, token_type=token_type)

    def _revocable(self, *, token: str, client: ThirdParty | None) -> tuple[str, Any] | None:
        if getattr(client, "pk", None) is None:
            return None
        checksum = tokens.token_checksum(token)
        access = get_access_token_model().objects.filter(token_checksum=checksum, application=client).first()
        if access is not None:
            return "access_token", selectors.grant_for_access_token(access_token=access)
        refresh = (
            get_refresh_token_model()
            .objects.select_related("access_token")
            .filter(token_checksum=checksum, application=client, revoked__isnull=True)
            .first()
        )
        if refresh is not None:
            previous = refresh.access_token
            return "refresh_token", (
                selectors.grant_for_access_token(access_token=previous) if previous is not None else None
            )
        return None
