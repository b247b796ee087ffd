"""Client-facing JSON endpoints of the authorization server beyond django-oauth-toolkit's own."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from grants import selectors
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsRegistrationToken,
    IsThirdPartyClientToken,
    request_third_party,
    request_token_kind,
)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class IntrospectApi(OAuthLibMixin, View):
    """RFC 7662 token introspection for the client a token was issued to.

    The caller authenticates with its client credentials (RFC 7662 section 2.1, HTTP Basic); it
    learns about its own tokens only, and never who the customer is. POST only: a token in a
    query string would leak into logs.
    """

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
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
        return JsonResponse(selectors.token_introspect(token_value=token_value, client=oauthlib_request.client))


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
        body.update(selectors.token_response_extras(third_party=third_party, grant=grant, scope=token.scope))
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
