"""The retail customer's side of an OAuth flow over real HTTP: log in, read the consent page, approve or deny.

What a browser does, with ``requests`` and the page's own form: the hidden OAuth fields, the CSRF
token and the customer's choices are read from the HTML the portal served, never built by hand.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from lxml import html


class CustomerSession:
    """A logged-in customer on a live portal."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        page = self.http.get(f"{base_url}/accounts/login/", timeout=30)
        assert page.status_code == 200, page.status_code
        form = _form(page.text, "login-form")
        fields = {**form, "username": username, "password": password}
        response = self.http.post(
            f"{base_url}/accounts/login/",
            data=fields,
            headers={"Referer": f"{base_url}/accounts/login/"},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:500]

    def consent_page(self, authorize_url: str) -> requests.Response:
        """GET the authorization URL as the customer's browser (relative or absolute)."""
        return self.http.get(urljoin(self.base_url, authorize_url), allow_redirects=False, timeout=30)

    def consent(
        self,
        authorize_url: str,
        *,
        allow: bool = True,
        usage_points: list[str] | None = None,
        data: list[str] | None = None,
    ) -> str:
        """Answer the consent screen of ``authorize_url``; return the ``Location`` the portal redirects to.

        By default every offered usage point and kind of data is kept (the form's own choices).
        """
        page = self.consent_page(authorize_url)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        tree = html.fromstring(page.text)
        [form] = tree.xpath("//form[@id='consent-form']")
        fields: list[tuple[str, str]] = []
        for element in form.xpath(".//input"):
            name, kind = element.get("name"), element.get("type", "text")
            if not name:
                continue
            if kind == "checkbox":
                chosen = usage_points if name == "usage_points" else data if name == "data" else None
                value = element.get("value", "")
                if (chosen is None and element.get("checked") is not None) or (chosen is not None and value in chosen):
                    fields.append((name, value))
                elif chosen is None and name == "usage_points":
                    fields.append((name, value))  # no meter is ticked in advance: the customer ticks them all
            else:
                fields.append((name, element.get("value", "")))
        if allow:
            fields.append(("allow", "Authorize"))
        response = self.http.post(
            urljoin(self.base_url, "/oauth/authorize"),
            data=fields,
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response.headers["Location"]


def _form(text: str, form_id: str) -> dict[str, str]:
    tree = html.fromstring(text)
    [form] = tree.xpath(f"//form[@id='{form_id}']")
    return {el.get("name"): el.get("value", "") for el in form.xpath(".//input") if el.get("name")}


def query_of(location: str) -> dict[str, str]:
    """Return the query parameters of a redirect, one value each."""
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
