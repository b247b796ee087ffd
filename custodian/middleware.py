"""Request checks and security headers Django does not do by itself."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from custodian.espi.hrefs import RESOURCE_ROOT

# Form bodies are checked everywhere except under the ESPI resource root, where batch uploads are
# streams the views read themselves (and never parse as forms).
_STREAMED_PREFIX = "/espi/"
_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# URLs whose clients are programs (ESPI REST API, OAuth endpoints, metadata): their errors are JSON,
# in English. The consent screen (/oauth/authorize) is a page a person sees: HTML, in their language.
_API_PREFIXES = ("/espi/", "/oauth/", "/.well-known/")
_PAGE_PATHS = ("/oauth/authorize",)


def is_api_path(path: str) -> bool:
    """Return whether ``path`` belongs to a machine client (ESPI, OAuth) and so gets JSON errors."""
    return path.startswith(_API_PREFIXES) and not path.startswith(_PAGE_PATHS)


class PortalLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware for pages; machine clients' URLs (``is_api_path``) always answer in English.

    A program's ``Accept-Language`` (often the machine's locale) must not turn half of an API's error
    texts into another language (DRF ships Spanish for its own, the portal's are English): the error
    codes are the contract and every ``detail`` is English, as the developer docs show them.
    """

    def process_request(self, request: HttpRequest) -> None:
        if is_api_path(request.path_info):
            translation.activate("en")
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_api_path(request.path_info):
            # Not ``Vary: Accept-Language``: the answer no longer depends on it (caches keep one copy).
            response.headers.setdefault("Content-Language", "en")
            return response
        return super().process_response(request, response)


def csp_form_action_source(uri: str) -> str | None:
    """Return a CSP source expression matching exactly ``uri`` (without its query), or None if it cannot be one."""
    parts = urlsplit(uri)
    if not parts.scheme or any(ch in uri for ch in " \t\r\n;,'\""):
        return None
    if parts.scheme in ("http", "https"):
        if not parts.netloc or "@" in parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    return f"{parts.scheme}:"  # a native app's private-use scheme (RFC 8252 section 7.1)


def content_security_policy(*, form_targets: tuple[str, ...] = ()) -> str:
    """Return the portal's policy, with ``form_targets`` (exact URIs) allowed as form-action beside 'self'."""
    policy = settings.CONTENT_SECURITY_POLICY
    sources = [source for source in map(csp_form_action_source, form_targets) if source]
    if not sources:
        return policy
    return policy.replace("form-action 'self'", "form-action 'self' " + " ".join(dict.fromkeys(sources)), 1)


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


ESPI_RESOURCE_ROOT = RESOURCE_ROOT + "/"


def espi_path_without_trailing_slash(path_info: str) -> str:
    """Return an ESPI resource path with one trailing slash dropped: ``Authorization/`` is ``Authorization``.

    Clients cut URLs out of ``resourceURI`` and ``authorizationURI`` and some append a slash (GBA's
    harness does); every ESPI URL answers both ways (PRODUCT "Conformance").
    """
    if path_info.startswith(ESPI_RESOURCE_ROOT) and len(path_info) > len(ESPI_RESOURCE_ROOT) and path_info[-1] == "/":
        return path_info[:-1]
    return path_info


class EspiTrailingSlashMiddleware:
    """Resolve ESPI resource URLs with and without a trailing slash to the same view (no redirect)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.path_info = espi_path_without_trailing_slash(request.path_info)
        return self.get_response(request)
