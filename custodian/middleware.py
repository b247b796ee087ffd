"""Request checks and security headers Django does not do by itself."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

# Form bodies are checked everywhere except under the ESPI resource root, where batch uploads are
# streams the views read themselves (and never parse as forms).
_STREAMED_PREFIX = "/espi/"
_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ContentSecurityPolicyMiddleware:
    """Send ``Content-Security-Policy`` (with ``frame-ancestors 'none'``) on every HTML response.

    X-Frame-Options alone is legacy; RFC 9700 section 4.16 recommends CSP frame-ancestors for the
    authorization and login pages. API responses keep their own headers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


class RejectNulCharactersMiddleware:
    """Answer 400 to a request with a NUL character in its path, query string or form fields.

    No identifier, scope, date or credential of the portal contains one, and PostgreSQL refuses
    NUL in text parameters: without this check ``/grants/%00/revoke/``, ``client_id=%00`` and
    the like reached the database and ended in a 500 instead of a clear 4xx.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._has_nul(request):
            return JsonResponse(
                {"error": "invalid_request", "detail": "The request contains a NUL character."}, status=400
            )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        if "\x00" in request.path_info or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
            return True
        if (
            request.method == "POST"
            and request.content_type in _FORM_CONTENT_TYPES
            and not request.path_info.startswith(_STREAMED_PREFIX)
        ):
            return any("\x00" in key or "\x00" in value for key, values in request.POST.lists() for value in values)
        return False
