"""Client-facing JSON endpoints of the authorization server beyond django-oauth-toolkit's own."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from django.http import JsonResponse, QueryDict
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import TokenView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from grants import selectors, tokens
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsRegistrationToken,
    IsThirdPartyClientToken,
    request_third_party,
    request_token_kind,
)


def _json_error(status: int, error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _token_request_client_id(request) -> str:
    """Return the client id a token request names (HTTP Basic first, else a ``client_id`` parameter)."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return ""
        return unquote_plus(decoded.partition(":")[0])
    return request.GET.get("client_id", "") or request.POST.get("client_id", "")


def _has_body(request) -> bool:
    try:
        return bool(request.POST) or int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return True


def _query_as_form_body(request) -> None:
    """Read a compatible client's URL query as the form body of a POST (the URL keeps no parameter)."""
    request.POST = request.GET.copy()
    request.GET = QueryDict()
    request.META["QUERY_STRING"] = ""
    request.method = "POST"


class EspiTokenView(TokenView):
    """``/oauth/token``: django-oauth-toolkit's token endpoint plus ESPI compatibility's request forms.

    A Third Party whose ESPI compatibility staff turned on may send its parameters in the URL query,
    as a POST with an empty body or as a GET (GBA's harness and reference Third Party do); they are
    read as the form body. Everyone else has RFC 6749's form POST only: parameters in the URL are
    ``invalid_request`` (400) and GET is 405. Credentials in a URL are never logged (grants.log_redaction).
    """

    def get(self, request, *args, **kwargs):
        if not tokens.token_params_in_url_allowed(client_id=_token_request_client_id(request)):
            response = _json_error(405, "invalid_request", "Send token requests as a form POST.")
            response["Allow"] = "POST"
            return response
        _query_as_form_body(request)
        return super().post(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if request.GET:
            if _has_body(request) or not tokens.token_params_in_url_allowed(
                client_id=_token_request_client_id(request)
            ):
                return _json_error(400, "invalid_request", "Send token parameters in the form body, not in the URL.")
            _query_as_form_body(request)
        return super().post(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class IntrospectApi(OAuthLibMixin, View):
    """RFC 7662 token introspection for the client a token was issued to.

    The caller authenticates with its client credentials (RFC 7662 section 2.1, HTTP Basic); it
    learns about its own tokens only, and never who the customer is. POST only, and nothing in the
    URL query: a secret or token there would leak into logs.
    """

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        if request.GET:
            # A client secret or token in the URL lands in access logs: refuse it before reading any.
            return _json_error(400, "invalid_request", "Send introspection parameters in the form body, not the URL.")
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OauthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="oauth"'
            return response
        token_value = request.POST.get("token")
        if not token_value:
            return JsonResponse({"error": "invalid_request", "error_description": "token is missing."}, status=400)
        return JsonResponse(tokens.token_introspect(token_value=token_value, client=oauthlib_request.client))


class TokenGrantApi(APIView):
    """Report what the presented bearer token reaches: its kind, scope, resourceURI and, for a grant, its usage points.

    A small protected endpoint any ESPI client can call to check a token; it uses the same
    authentication and permissions as the ESPI API.
    """

    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [HasGrantAccessToken | IsThirdPartyClientToken | IsRegistrationToken | IsCustodianClientToken]

    def get(self, request):
        token = request.auth
        grant = getattr(request, "espi_grant", None)
        third_party = request_third_party(request)
        body: dict[str, object] = {
            "token_kind": request_token_kind(request),
            "client_id": third_party.client_id,
            "scope": token.scope,
        }
        body.update(tokens.token_response_extras(third_party=third_party, grant=grant, scope=token.scope))
        if grant is not None:
            body.update(
                {
                    "authorization_id": grant.public_id,
                    "subscription_id": grant.subscription_id,
                    "bulk_id": grant.bulk_user.bulk_id if grant.bulk_user_id else None,
                    "usage_points": sorted(
                        selectors.grant_usage_points(grant=grant).values_list("public_id", flat=True)
                    ),
                }
            )
        return Response(body)
