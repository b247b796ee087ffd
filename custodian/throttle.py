"""Brute-force limits: login lockouts (django-axes) and a fixed-window rate limit on the shared cache.

Logins (customers on ``/accounts/login/``, staff on ``/admin/login/``) are counted by django-axes in
the database, per account and per client address separately: ``LOGIN_FAILURE_LIMIT`` failures lock
that account (from anywhere) and that address (for every account) for ``LOGIN_COOLOFF_MINUTES``.
The OAuth token endpoint is limited per client on the cache (Redis in production, so every gunicorn
worker counts into the same window); ESPI API calls per Third Party in several windows at once
(:func:`rate_limit_windows_hit`, used by ``grants.throttling``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

LOCKOUT_MESSAGE = (
    "Too many failed log-in attempts. For your security, logging in is paused for {minutes} minutes. "
    "Try again later, or reset your password."
)


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check before every login over HTTP; a login with no request (shell, test client) is not counted.

    Every HTTP login (the customer and admin login views) passes its request; only code running
    inside the server calls ``authenticate`` without one, and no client can reach that path.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def client_ip(request: HttpRequest) -> str:
    """Return the client address: the header the trusted proxy sets (``CLIENT_IP_HEADER``), else the peer."""
    header = settings.CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "")
        # X-Forwarded-For style: the proxy appends the peer it saw last.
        candidate = forwarded.split(",")[-1].strip()
        if candidate:
            return candidate[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def _cooloff_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def login_lockout_response(
    request: HttpRequest, response: Any = None, credentials: Any = None, **_: Any
) -> HttpResponse:
    """Answer a locked-out login with its own login page, a plain message and ``Retry-After`` (429)."""
    message = LOCKOUT_MESSAGE.format(minutes=_cooloff_minutes())
    username = ""
    if isinstance(credentials, dict):
        username = str(credentials.get("username") or "")[:150]
    if request.path.startswith("/admin/"):
        from django.contrib import admin

        form: AuthenticationForm = AdminAuthenticationForm(request, initial={"username": username})
        template = "admin/login.html"
        context = {**admin.site.each_context(request), "title": "Log in", "app_path": request.get_full_path()}
    else:
        form = AuthenticationForm(request, initial={"username": username})
        template = "registration/login.html"
        context = {"next": request.POST.get("next", "") if request.method == "POST" else ""}
    # The form is shown, not validated: validating it would try the password once more.
    form._errors = ErrorDict({"__all__": form.error_class([message])})
    context.update(form=form, lockout_message=message)
    page = render(request, template, context, status=429)
    page["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return page


def rate_limit_hit(*, scope: str, ident: str, limit: int, window_seconds: int) -> int | None:
    """Count one request of ``ident`` in the current window; return seconds to wait when over ``limit``, else None.

    ``cache.add`` then ``cache.incr`` are atomic on Redis and on the local-memory cache, so concurrent
    requests never both slip under the limit.
    """
    now = timezone.now().timestamp()
    window = int(now // window_seconds)
    # Hashed: a client id may hold any character, and cache keys must be short and plain.
    key = f"ratelimit:{scope}:{window}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"
    if cache.add(key, 1, timeout=window_seconds + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window_seconds + 1)
            count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * window_seconds - now))


def _window_count(key: str, timeout: int) -> int:
    """Add one to the counter ``key`` (created with ``timeout``) and return it; atomic on Redis and locmem."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def _redis_client() -> Any | None:
    """Return the redis-py client behind Django's ``RedisCache`` (writes go to its primary), else None."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None


def _windows_count(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each ``(key, timeout)`` counter and return the counts: one round trip on Redis."""
    client = _redis_client()
    if client is None:
        return [_window_count(key, timeout) for key, timeout in keys]
    pipe = client.pipeline(transaction=False)
    for key, timeout in keys:
        full = cache.make_and_validate_key(key)
        pipe.set(full, 0, ex=timeout, nx=True)  # a new window's counter, with its expiry; never reset
        pipe.incr(full)
    return [int(count) for count in pipe.execute()[1::2]]


def _windows_take_back(keys: list[tuple[str, int]]) -> None:
    client = _redis_client()
    if client is None:
        for key, _timeout in keys:
            with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing left to take back
                cache.decr(key)
        return
    pipe = client.pipeline(transaction=False)
    for key, _timeout in keys:
        pipe.decr(cache.make_and_validate_key(key))
    pipe.execute()


def rate_limit_windows_hit(*, scope: str, ident: str, limits: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """Count one request of ``ident`` in each fixed window ``(window_seconds, limit)`` on the shared cache.

    Return None when every window is within its limit. Otherwise the request is taken back out of
    every window (a refused request uses up no allowance) and the answer is ``(window_seconds, wait)``
    of the refusing window that frees last. Windows are aligned on the epoch (a day is a UTC day), so
    every worker and host agrees on them; a counter lives one window plus a second, never longer.
    Two requests racing for the last unit may both be refused, never both admitted. On Redis the
    windows are counted in one pipelined round trip (and taken back in one more).
    """
    now = timezone.now().timestamp()
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    keys = [
        (f"ratelimit:{scope}:{window_seconds}:{int(now // window_seconds)}:{digest}", window_seconds + 1)
        for window_seconds, _limit in limits
    ]
    refused: tuple[int, int] | None = None
    for (window_seconds, limit), count in zip(limits, _windows_count(keys), strict=True):
        if count > limit:
            window = int(now // window_seconds)
            wait = max(1, math.ceil((window + 1) * window_seconds - now))
            if refused is None or wait > refused[1]:
                refused = (window_seconds, wait)
    if refused is not None:
        _windows_take_back(keys)
    return refused


def _token_client(request: HttpRequest) -> str:
    """Return the client id a token request names (HTTP Basic user or ``client_id``), else its address."""
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() == "basic ":
        try:
            user = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return "client:" + unquote(user)[:100]
    client_id = request.POST.get("client_id", "") if request.method == "POST" else ""
    if client_id:
        return "client:" + client_id[:100]
    return "address:" + client_ip(request)


def token_endpoint_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap the OAuth token endpoint: at most ``OAUTH_TOKEN_REQUESTS_PER_MINUTE`` requests per client."""

    @functools.wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = rate_limit_hit(
            scope="oauth-token",
            ident=_token_client(request),
            limit=settings.OAUTH_TOKEN_REQUESTS_PER_MINUTE,
            window_seconds=60,
        )
        if wait is not None:
            response = JsonResponse(
                {
                    "error": "too_many_requests",
                    "error_description": f"Too many token requests for this client; retry in {wait} seconds.",
                },
                status=429,
            )
            response["Retry-After"] = str(wait)
            response["Cache-Control"] = "no-store"
            return response
        return view(request, *args, **kwargs)

    return throttled
