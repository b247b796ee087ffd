"""The consent flow in a real browser: Debian's chromium driven by Playwright against live_server."""

from __future__ import annotations

import math
import os
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as HttpClient

from custodian.models import IntervalBlock, MeterReading, ReadingType
from grants.models import Grant
from tests import factories
from tests.browser.helpers import save_screenshot
from tests.grants.oauth_helpers import REDIRECT_URI, authorize_url, exchange_code, pkce_pair

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain test setup.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
PASSWORD = "correct-horse-battery"
SECRET = "browser-test-third-party-secret"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        try:
            yield page
        finally:
            browser.close()


def _seed(customer, points):
    """Give the first usage point two days of realistic quarter-hour readings (Wh) for the dashboard chart."""
    reading_type = ReadingType.objects.create(title="Energy delivered, Wh", uom=72, power_of_ten_multiplier=0)
    reading = MeterReading.objects.create(usage_point=points[0], title="Energy delivered", reading_type=reading_type)
    for day in range(2):
        start = 1_767_225_600 + day * 86400
        block = IntervalBlock(meter_reading=reading, start=start, duration=96 * 900)
        block.set_readings((start + i * 900, 900, _watt_hours(i, day), None, None, None) for i in range(96))
        block.save()


def _watt_hours(slot: int, day: int) -> int:
    """A household day: a low night, a morning bump and an evening peak."""
    hour = slot / 4
    shape = 0.45 + 0.9 * math.exp(-((hour - 7.5) ** 2) / 2) + 1.6 * math.exp(-((hour - 19) ** 2) / 4)
    return int(140 * shape * (1 + 0.08 * day) + 9 * ((slot * 7) % 5))


@pytest.mark.django_db(transaction=True)
def test_consent_in_the_browser_then_revoke(live_server, browser_page):
    customer = factories.make_customer(username="alice", password=PASSWORD, name="Alice Example")
    home = factories.make_usage_point(customer=customer, title="Home")
    cabin = factories.make_usage_point(customer=customer, title="Cabin")
    _seed(customer, [home, cabin])
    third_party, _ = factories.make_third_party(name="Solar Co", client_secret=SECRET)
    factories.make_bulk_user(third_party=third_party, bulk_id="1", name="Neighbourhood solar study")
    page = browser_page
    page.route(REDIRECT_URI + "**", lambda route: route.fulfill(status=200, body="callback reached"))

    verifier, challenge = pkce_pair()
    page.goto(
        live_server.url
        + authorize_url(client_id=third_party.client_id, scope=factories.DEFAULT_SCOPE + ";BR=1", challenge=challenge)
    )
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#consent-form")
    assert "together with other customers" in page.content()
    page.check(f"input[name=usage_points][value='{home.public_id}']")
    page.uncheck("input[name=data][value='quality']")
    save_screenshot(page, "consent")

    page.click("#approve")
    page.wait_for_url(REDIRECT_URI + "**")
    page.wait_for_selector("text=callback reached")
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query["state"] == "st-1"

    token = exchange_code(
        HttpClient(), client_id=third_party.client_id, secret=SECRET, code=query["code"], verifier=verifier
    )
    assert token.status_code == 200
    access_token = token.json()["access_token"]
    grant = Grant.objects.get(customer=customer)
    assert [p.public_id for p in grant.usage_points.all()] == [home.public_id]
    assert 17 not in grant.function_blocks
    reach = HttpClient().get("/oauth/token_grant", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert reach.status_code == 200
    assert reach.json()["usage_points"] == [home.public_id]

    page.goto(live_server.url + "/")
    page.wait_for_selector("svg.chart")

    page.goto(live_server.url + "/grants/")
    page.wait_for_selector(f"#grant-{grant.public_id}")
    page.click(f"#revoke-{grant.public_id}")
    page.wait_for_selector("#confirm-revoke")
    page.click("#confirm-revoke")
    page.wait_for_selector("text=was revoked")

    after = HttpClient().get("/oauth/token_grant", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert after.status_code == 401
    assert after["WWW-Authenticate"].startswith("Bearer")
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
