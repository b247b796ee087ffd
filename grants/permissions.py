"""DRF authentication and permissions for the ESPI API: the contract every ESPI endpoint uses.

Use them on an ``APIView``::

    class BatchSubscriptionApi(APIView):
        authentication_classes = [EspiBearerAuthentication]
        permission_classes = [HasGrantAccessToken]

        def get(self, request, subscription_id):
            grant = grant_for_subscription(request, subscription_id)  # 404 unless the token's grant
            ...

:class:`EspiBearerAuthentication` answers 401 with ``WWW-Authenticate: Bearer ...`` for a missing,
unknown, expired or revoked token, a token in the query string, a token whose grant is revoked,
expired, denied or out of its period, and a token of a Third Party that is not in Production
(PRODUCT "Tokens and what each reaches"; RFC 6750 section 3). The permission classes then answer
403 for the wrong kind of token. Access-token, client-token and back-office-token views each name
exactly one of them (or compose them with ``|``).

After authentication ``request.auth`` is the django-oauth-toolkit AccessToken, and
:func:`request_grant` / :func:`request_third_party` return the grant and client behind it.
"""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_backends import get_oauthlib_core
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from custodian.exceptions import NotFound
from grants import selectors, tokens
from grants.models import BulkUser, Grant, ThirdParty


class EspiBearerAuthentication(OAuth2Authentication):
    """Authenticate an OAuth 2.0 bearer token sent in the ``Authorization`` header only.

    RFC 6750 section 2.3 and RFC 9700 section 4.3.2: a token in the URL leaks into logs and
    Referer headers, so ``?access_token=`` is refused outright (401), even next to a valid header.
    Sets ``request.espi_grant`` (the bound grant, or None for client tokens) and, on the Django
    request, ``espi_client_id`` (the token's client).
    """

    www_authenticate_realm = "espi"

    def authenticate(self, request):
        request.espi_grant = None
        if "access_token" in request.query_params:
            request.oauth2_error = {
                "error": "invalid_request",
                "error_description": "Send the access token in the Authorization header, never in the URL.",
            }
            raise exceptions.AuthenticationFailed("Send the access token in the Authorization header.")
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        valid, oauthlib_request = get_oauthlib_core().verify_request(request, scopes=[])
        if not valid:
            request.oauth2_error = getattr(oauthlib_request, "oauth2_error", None) or {
                "error": "invalid_token",
                "error_description": "The access token is invalid, expired or revoked.",
            }
            raise exceptions.AuthenticationFailed("The access token is invalid, expired or revoked.")
        request.espi_grant = getattr(oauthlib_request, "espi_grant", None)
        # The client the request is counted for (batch.middleware): set on Django's request, which outlives DRF's.
        request._request.espi_client_id = oauthlib_request.access_token.application_id
        return oauthlib_request.user, oauthlib_request.access_token


def request_token_kind(request) -> str | None:
    """Return the kind of the request's token: access, client, registration, custodian, or None."""
    token = getattr(request, "auth", None)
    if token is None:
        return None
    return tokens.token_kind(access_token=token, grant=getattr(request, "espi_grant", None))


def request_bearer_value(request) -> str:
    """Return the raw bearer token the request presented (to echo to its owner, never to log)."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def request_grant(request) -> Grant:
    """Return the active grant behind the request's access token (use after :class:`HasGrantAccessToken`)."""
    grant = getattr(request, "espi_grant", None)
    if grant is None:
        raise exceptions.PermissionDenied("This resource needs an access token bound to a grant.")
    return grant


def request_third_party(request) -> ThirdParty:
    """Return the client (Third Party or back-office client) the request's token was issued to."""
    token = getattr(request, "auth", None)
    if token is None or token.application is None:
        raise exceptions.NotAuthenticated()
    return token.application


def grant_for_subscription(request, subscription_id: str) -> Grant:
    """Return the token's grant if it is Subscription ``subscription_id`` (whole-string match), else 404.

    The back-office (custodian) token reads any active grant's subscription.

    "Not yours" and "does not exist" are the same 404 (PRODUCT "Bad input").
    """
    if request_token_kind(request) == tokens.TOKEN_KIND_CUSTODIAN:
        # The utility's back-office token reads everything, read-only (PRODUCT "Tokens").
        grant = selectors.grant_get_by_subscription(subscription_id=subscription_id)
        if grant is None:
            raise NotFound("No such subscription.")
        return grant
    grant = request_grant(request)
    if grant.subscription_id != subscription_id:
        raise NotFound("No such subscription.")
    return grant


def bulk_user_for_request(request, bulk_id: str) -> BulkUser:
    """Return the client token's own bulk user named exactly ``bulk_id``, else 404.

    A client token whose scope names a bulk (``BR=1``) reaches that bulk only; ``BR=1`` never
    reaches bulk ``10``.
    """
    third_party = request_third_party(request)
    scoped = tokens.token_scope_bulk_id(access_token=request.auth)
    if scoped is not None and scoped != bulk_id:
        raise NotFound("No such bulk.")
    return selectors.bulk_user_get(third_party=third_party, bulk_id=bulk_id)


class _TokenKindPermission(BasePermission):
    kind = ""
    message = ""

    def has_permission(self, request, view) -> bool:
        if getattr(request, "auth", None) is None:
            return False  # DRF answers 401 with the authenticator's WWW-Authenticate challenge.
        return request_token_kind(request) == self.kind


class HasGrantAccessToken(_TokenKindPermission):
    """Allow an access_token bound to an active grant; ``request_grant(request)`` returns that grant."""

    kind = tokens.TOKEN_KIND_ACCESS
    message = "This resource needs an access token of a customer's grant."


class IsThirdPartyClientToken(_TokenKindPermission):
    """Allow a client_access_token (client credentials) of a Third Party in Production."""

    kind = tokens.TOKEN_KIND_CLIENT
    message = "This resource needs the Third Party's client access token."


class IsCustodianClientToken(_TokenKindPermission):
    """Allow the utility's back-office token (client credentials of a custodian client)."""

    kind = tokens.TOKEN_KIND_CUSTODIAN
    message = "This resource needs the Data Custodian back-office token."


class IsRegistrationToken(_TokenKindPermission):
    """Allow a Third Party's registration_access_token (scope ``FB=36_40``): its own ApplicationInformation."""

    kind = tokens.TOKEN_KIND_REGISTRATION
    message = "This resource needs the Third Party's registration access token."
