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

    settings.PORTAL_BASE_URL = live_server.url
    path = tmp_path / "demo.json"
    call_command("seed_demo", "--json", str(path), "--days", "2", verbosity=0)
    return Portal(url=live_server.url, demo=json.loads(path.read_text()))
