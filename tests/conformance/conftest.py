"""GBA CMD conformance tests drive a live server over real HTTP, with the headers the harness sends.

Each test is named by the CMD test id it shows (``docs/conformance.md`` lists them). The world is
the demo seed (``manage.py seed_demo``) served by pytest-django's ``live_server``, with
``PORTAL_BASE_URL`` pointing at it so every href, ``resourceURI`` and ``authorizationURI`` in a
response can be followed as the harness follows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

RESOURCE = "/espi/1_1/resource"
#: What the harness's shared resource-GET step sends (cmd-tests "How the harness talks").
HARNESS_HEADERS = {"Accept": "application/atom+xml", "Accept-Encoding": "gzip,deflate"}
#: What its older steps send on a GET: no Accept, a Content-Type.
OLD_HARNESS_HEADERS = {"Content-Type": "Application/atom+xml"}


@dataclass
class Portal:
    """A live portal seeded with the demo data; ``demo`` is what ``seed_demo --json`` writes."""

    url: str
    demo: dict[str, Any]

    def resource(self, path: str) -> str:
        """Return the absolute URL of ``path`` under the ESPI resource root."""
        return f"{self.url}{RESOURCE}/{path.lstrip('/')}"

    def grant(self, *, status: str = "active", bulk: bool | None = None) -> dict[str, Any]:
        """Return the first demo grant in ``status`` (with or without a bulk, if given)."""
        for grant in self.demo["grants"]:
            if grant["status"] == status and (bulk is None or (grant["bulk_id"] is not None) == bulk):
                return grant
        raise LookupError(status)

    def third_party(self, client_id: str) -> dict[str, Any]:
        return next(tp for tp in self.demo["third_parties"] if tp["client_id"] == client_id)

    def client_token(self, client_id: str, secret: str, *, scope: str | None = None) -> dict[str, Any]:
        """Return the token response of a client-credentials request (HTTP Basic, as the harness sends)."""
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = requests.post(
            f"{self.url}/oauth/token",
            data=data,
            auth=(client_id, secret),
            headers={"Accept": "application/json, application/*+json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


def harness_get(url: str, token: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any):
    """GET ``url`` as the harness's resource step does: Atom Accept, gzip, Bearer token."""
    sent = dict(HARNESS_HEADERS if headers is None else headers)
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return requests.get(url, headers=sent, timeout=60, **kwargs)


@pytest.fixture
def portal(live_server, settings, tmp_path) -> Portal:
    """Serve the demo seed (two days of readings) on a live server whose hrefs point at itself."""
    import json

    from django.core.management import call_command

    from grants.models import ThirdParty

    settings.PORTAL_BASE_URL = live_server.url
    # The issuer (metadata ``issuer``, the authorization response's ``iss``) is the portal's own URL too.
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    path = tmp_path / "demo.json"
    call_command("seed_demo", "--json", str(path), "--days", "2", verbosity=0)
    # The harness's bursts are not what these tests are about (rate limits have their own tests).
    ThirdParty.objects.update(rate_limit_per_second=10_000)
    return Portal(url=live_server.url, demo=json.loads(path.read_text()))


# ---- The OAuth side, as the harness (ESPI compatibility on) and modern clients (off) send it ----------

#: What the harness sends on every token call.
TOKEN_HEADERS = {"Accept": "application/json, application/*+json"}


@dataclass
class Party:
    """A demo Third Party as a test drives it: ``espi`` says whether its ESPI compatibility is on."""

    portal: Portal
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    espi: bool
    bulk_ids: list[str]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.client_secret)

    def token(self, params: dict[str, str], *, get: bool = False, auth: Any = True, **kwargs: Any):
        """Call the token endpoint the way this party's software does.

        ESPI compatibility on: as the old harness, every parameter in the URL query, a POST with an
        empty body (or a GET with ``get``). Off: RFC 6749's form POST. HTTP Basic either way unless
        ``auth`` says otherwise (False: none; a tuple: those credentials).
        """
        credentials = self.auth if auth is True else (auth or None)
        url = f"{self.portal.url}/oauth/token"
        if self.espi:
            method = requests.get if get else requests.post
            return method(url, params=params, auth=credentials, headers=TOKEN_HEADERS, timeout=30, **kwargs)
        return requests.post(url, data=params, auth=credentials, headers=TOKEN_HEADERS, timeout=30, **kwargs)

    def authorize_url(self, *, scope: str | None = None, state: str = "harness-state-1", **extra: str):
        """Return the authorization URL and the PKCE verifier (None for an ESPI-compatible party: no PKCE)."""
        from urllib.parse import urlencode

        from tests.grants.oauth_helpers import pkce_pair

        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope or self.scope,
        }
        verifier = None
        if not self.espi:
            verifier, challenge = pkce_pair()
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra)
        params["state"] = state  # last, as the harness reads it
        return f"{self.portal.url}/oauth/authorize?{urlencode(params)}", verifier

    def code(self, *, customer: str = "alice", allow: bool = True, **consent: Any) -> tuple[str, str | None, str]:
        """Have a demo customer approve over HTTP; return (code, verifier, redirect Location)."""
        from tests.customer_http import CustomerSession, query_of

        url, verifier = self.authorize_url()
        person = next(c for c in self.portal.demo["customers"] if c["username"] == customer)
        location = CustomerSession(self.portal.url, person["username"], person["password"]).consent(
            url, allow=allow, **consent
        )
        return query_of(location).get("code", ""), verifier, location

    def exchange(self, code: str, verifier: str | None, **overrides: Any):
        params = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if verifier is not None:
            params["code_verifier"] = verifier
        params.update(overrides)
        return self.token({k: v for k, v in params.items() if v is not None})

    def access_token(self) -> dict[str, Any]:
        """Run the whole code flow for Alice; return the token response."""
        code, verifier, _location = self.code()
        response = self.exchange(code, verifier)
        assert response.status_code == 200, response.text
        return response.json()

    def client_token(self, scope: str | None = None) -> dict[str, Any]:
        response = self.token({"grant_type": "client_credentials", **({"scope": scope} if scope else {})})
        assert response.status_code == 200, response.text
        return response.json()

    def registration_token(self) -> dict[str, Any]:
        return self.client_token("FB=36_40")


def _party(portal: Portal, name: str, *, espi: bool) -> Party:
    from grants.demo import EFFICIENCY_SCOPE, SOLAR_SCOPE
    from grants.models import ThirdParty

    demo = next(tp for tp in portal.demo["third_parties"] if tp["name"] == name)
    ThirdParty.objects.filter(client_id=demo["client_id"]).update(espi_compatibility=espi)
    return Party(
        portal=portal,
        client_id=demo["client_id"],
        client_secret=demo["client_secret"],
        redirect_uri=demo["redirect_uri"],
        scope=SOLAR_SCOPE if name == "Sunny Solar Analytics" else EFFICIENCY_SCOPE,
        espi=espi,
        bulk_ids=demo["bulk_ids"],
    )


@pytest.fixture
def espi_party(portal) -> Party:
    """Sunny Solar Analytics with ESPI compatibility on: the harness's forms (no PKCE, parameters in the query)."""
    return _party(portal, "Sunny Solar Analytics", espi=True)


@pytest.fixture
def modern_party(portal) -> Party:
    """Efficiency Coach, compatibility off: PKCE, HTTP Basic, form bodies."""
    return _party(portal, "Efficiency Coach", espi=False)


@pytest.fixture(params=["espi", "modern"])
def party(request, portal) -> Party:
    """Each test runs once as the harness sends it (compatibility on) and once in the modern forms."""
    if request.param == "espi":
        return _party(portal, "Sunny Solar Analytics", espi=True)
    return _party(portal, "Efficiency Coach", espi=False)
