"""Client-facing JSON endpoints of the authorization server beyond django-oauth-toolkit's own."""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse, QueryDict
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import OAuthServerMetadataView, TokenView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from custodian.throttle import client_ip, rate_limit_hit
from grants import selectors, services, tokens
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsRegistrationToken,
    IsThirdPartyClientToken,
    request_third_party,
    request_token_kind,
)
from grants.registration import RegistrationError, registration_metadata_read
from grants.resource_uris import application_information_uri


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
        client_id = _token_request_client_id(request)
        if not tokens.token_params_in_url_allowed(client_id=client_id):
            if _unknown_client(client_id):
                return _invalid_client()
            response = _json_error(405, "invalid_request", "Send token requests as a form POST.")
            response["Allow"] = "POST"
            return response
        _query_as_form_body(request)
        return super().post(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if request.GET:
            client_id = _token_request_client_id(request)
            if not _has_body(request) and _unknown_client(client_id):
                return _invalid_client()
            if _has_body(request) or not tokens.token_params_in_url_allowed(client_id=client_id):
                return _json_error(400, "invalid_request", "Send token parameters in the form body, not in the URL.")
            _query_as_form_body(request)
        return super().post(request, *args, **kwargs)


def _unknown_client(client_id: str) -> bool:
    """Return whether a token request names no client, or one that does not exist (then it is 401, RFC 6749 5.2)."""
    return not client_id or "\x00" in client_id or selectors.third_party_get_by_client_id(client_id=client_id) is None


def _invalid_client():
    """RFC 6749 section 5.2: client authentication failed (none, or an unknown client): 401 with a Basic challenge."""
    response = _json_error(401, "invalid_client", "Client authentication failed: send HTTP Basic credentials.")
    response["WWW-Authenticate"] = 'Basic realm="oauth"'
    return response


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


#: The largest registration request read (RFC 7591 metadata is a few hundred bytes).
_REGISTRATION_MAX_BYTES = 64 * 1024


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class DynamicRegistrationApi(View):
    """``POST /oauth/register``: RFC 7591 dynamic client registration (ESPI FB 36), when staff turn it on.

    Off (``OAUTH_DYNAMIC_REGISTRATION``, the default) it is 404. On, a JSON registration request
    creates a Third Party in Review and answers 201 with its client id, client secret and
    registration_access_token, shown this once, and its ``registration_client_uri`` (its
    ApplicationInformation). Bad metadata is 400 with RFC 7591's error codes. At most
    ``OAUTH_REGISTRATIONS_PER_HOUR`` requests per client address.
    """

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if not settings.OAUTH_DYNAMIC_REGISTRATION:
            raise Http404("Dynamic registration is not offered.")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        wait = rate_limit_hit(
            scope="oauth-register",
            ident=client_ip(request),
            limit=settings.OAUTH_REGISTRATIONS_PER_HOUR,
            window_seconds=3600,
        )
        if wait is not None:
            response = _json_error(429, "too_many_requests", f"Too many registrations; retry in {wait} seconds.")
            response["Retry-After"] = str(wait)
            return response
        if request.content_type != "application/json":
            return _json_error(400, "invalid_client_metadata", "Send the client metadata as application/json.")
        try:
            if int(request.META.get("CONTENT_LENGTH") or 0) > _REGISTRATION_MAX_BYTES:
                return _json_error(413, "invalid_client_metadata", "The registration request is too large.")
            body = json.loads(request.body)
            metadata = registration_metadata_read(body)
            credentials = services.third_party_register_dynamic(metadata=metadata, source_address=client_ip(request))
        except (ValueError, UnicodeDecodeError):
            return _json_error(400, "invalid_client_metadata", "The body is not valid JSON.")
        except RegistrationError as exc:
            return _json_error(400, exc.error, exc.description)
        except ValidationError as exc:
            return _json_error(400, "invalid_client_metadata", "; ".join(exc.messages))
        third_party = credentials.third_party
        answer = {
            "client_id": third_party.client_id,
            "client_secret": credentials.client_secret,
            "client_id_issued_at": int(third_party.created.timestamp()),
            "client_secret_expires_at": 0,
            "registration_access_token": credentials.registration_token,
            "registration_client_uri": application_information_uri(third_party=third_party),
            "client_name": third_party.name,
            "redirect_uris": third_party.redirect_uris.split(),
            "scope": " ".join(third_party.registered_scope_list),
            "grant_types": list(metadata.grant_types),
            "response_types": list(metadata.response_types),
            "token_endpoint_auth_method": metadata.token_endpoint_auth_method,
            "dataCustodianApplicationStatus": third_party.lifecycle,
        }
        for name, field in (
            ("client_uri", "client_uri"),
            ("logo_uri", "logo_uri"),
            ("tos_uri", "tos_uri"),
            ("policy_uri", "policy_uri"),
            ("software_id", "software_id"),
            ("software_version", "software_version"),
            ("thirdPartyNotifyUri", "notify_uri"),
            ("thirdPartyScopeSelectionScreenURI", "scope_selection_uri"),
        ):
            if getattr(third_party, field):
                answer[name] = getattr(third_party, field)
        if third_party.contacts:
            answer["contacts"] = third_party.contacts.split()
        response = JsonResponse(answer, status=201)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class EspiServerMetadataView(OAuthServerMetadataView):
    """RFC 8414 server metadata; with dynamic registration on, it names ``/oauth/register`` too (section 2)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if not settings.OAUTH_DYNAMIC_REGISTRATION:
            return response
        data = json.loads(response.content)
        data["registration_endpoint"] = self._get_endpoint_url(request, "register", required=True)
        answer = JsonResponse(data)
        for header in ("Access-Control-Allow-Origin", "Cache-Control"):
            if header in response:
                answer[header] = response[header]
        return answer
