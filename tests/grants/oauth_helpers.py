"""Helpers that play the Third Party's side of the OAuth flow over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

REDIRECT_URI = "https://thirdparty.example/callback"


def pkce_pair() -> tuple[str, str]:
    """Return (verifier, S256 challenge) as RFC 7636 section 4.1-4.2 define them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(*, client_id: str, scope: str, challenge: str | None, method: str | None = "S256", **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st-1",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    params.update(extra)
    return "/oauth/authorize?" + urlencode(params)


def _categories_for(function_blocks) -> list[str]:
    """Return the consent choices (data category keys) that carry these function blocks; unknown ones as numbers."""
    from grants.data_categories import DATA_CATEGORIES

    keys: list[str] = []
    for fb in function_blocks:
        key = next((c.key for c in DATA_CATEGORIES if fb in c.function_blocks), str(fb))
        if key not in keys:
            keys.append(key)
    return keys


def consent_post_data(
    page_response, *, usage_points, allow: bool = True, data=None, function_blocks=None, until=None
) -> dict:
    """Build the consent POST from the rendered form's hidden fields plus the customer's choices.

    ``data`` names the data categories kept (all offered by default); ``function_blocks`` names them
    through a function block each carries.
    """
    form = page_response.context["form"]
    posted = {name: form[name].value() or "" for name in form.fields if form.fields[name].widget.is_hidden}
    posted["usage_points"] = [point.public_id for point in usage_points]
    if data is None and function_blocks is not None:
        data = _categories_for(function_blocks)
    posted["data"] = list(data) if data is not None else [str(value) for value, _label in form.fields["data"].choices]
    posted["until"] = (until or form.fields["until"].initial).isoformat()
    if allow:
        posted["allow"] = "Authorize"
    return posted


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def exchange_code(client, *, client_id: str, secret: str, code: str, verifier: str | None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth/token", data, HTTP_AUTHORIZATION=basic_auth(client_id, secret))


def client_credentials(client, *, client_id: str, secret: str, scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return client.post("/oauth/token", data, HTTP_AUTHORIZATION=basic_auth(client_id, secret))


def approve(client, *, third_party, usage_points, scope: str, **choices) -> tuple[dict, str]:
    """Drive a logged-in customer through consent; return the callback query and the PKCE verifier."""
    verifier, challenge = pkce_pair()
    page = client.get(authorize_url(client_id=third_party.client_id, scope=scope, challenge=challenge))
    assert page.status_code == 200, page.content[:500]
    response = client.post("/oauth/authorize", consent_post_data(page, usage_points=usage_points, **choices))
    assert response.status_code == 302, response.content[:500]
    assert response["Location"].startswith(REDIRECT_URI)
    return query_of(response["Location"]), verifier
