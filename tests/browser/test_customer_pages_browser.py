"""Every customer page in chromium, in English and Spanish, at 1280 and 375 px: axe-core, layout, keyboard.

axe-core (npm, pinned in package.json, installed by ``make install``) is injected into each page
and any serious or critical violation fails the test. At 375 px nothing may overflow sideways,
checkboxes are big enough to tap and the header keeps its phrases whole. The README screenshots
are taken here.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from custodian.services_access_log import data_read_record
from grants import services
from grants.models import Grant
from tests import factories
from tests.browser.test_consent_browser import PASSWORD, SCREENSHOTS, _seed
from tests.grants.oauth_helpers import REDIRECT_URI, authorize_url, pkce_pair

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]

LAYOUT = """() => {
  const doc = document.documentElement;
  const boxes = [...document.querySelectorAll('input[type=checkbox], input[type=radio]')]
    .map((box) => box.getBoundingClientRect()).filter((r) => r.width > 0);
  const brand = document.querySelector('header .brand');
  const line = parseFloat(getComputedStyle(brand).lineHeight) || 20;
  return {
    overflow: doc.scrollWidth - window.innerWidth,
    smallestBox: boxes.length ? Math.min(...boxes.map((r) => Math.min(r.width, r.height))) : null,
    brandLines: Math.round(brand.getBoundingClientRect().height / line),
    navLinksWrapped: [...document.querySelectorAll('header nav a, header nav button')]
      .filter((el) => el.getBoundingClientRect().height > line * 1.6).map((el) => el.textContent.trim()),
  };
}"""


@pytest.fixture
def chromium():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


def _world():
    customer = factories.make_customer(username="alice", password=PASSWORD, name="Alice Example")
    home = factories.make_usage_point(customer=customer, title="Home")
    cabin = factories.make_usage_point(customer=customer, title="Cabin")
    _seed(customer, [home, cabin])
    sunny, _ = factories.make_third_party(name="Sunny Solar")
    sunny.client_uri = "https://sunny.example/"
    sunny.policy_uri = "https://sunny.example/privacy"
    sunny.tos_uri = "https://sunny.example/terms"
    sunny.save()
    factories.make_bulk_user(third_party=sunny, bulk_id="7", name="Rooftop study")
    grant = factories.make_grant(customer=customer, third_party=sunny, usage_points=[home, cabin])
    old, _ = factories.make_third_party(name="Old Meter Co")
    services.grant_revoke(grant=factories.make_grant(customer=customer, third_party=old, usage_points=[home]))
    for day in range(3):
        data_read_record(
            grants=[grant],
            client=sunny,
            path=f"/espi/1_1/resource/Subscription/{grant.subscription_id}/UsagePoint/{home.public_id}/MeterReading/"
            f"x/IntervalBlock?published-min={1_767_225_600 + day * 86400}&published-max={1_767_225_600 + (day + 1) * 86400}",
        )
    return customer, home, sunny, grant


def _log_in_by_keyboard(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.focus("#id_username")
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")


def _axe_serious(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.django_db(transaction=True)
def test_every_customer_page_passes_axe_and_fits_a_phone_in_both_languages(live_server, chromium):
    customer, home, sunny, grant = _world()
    base = live_server.url
    pages = {
        "dashboard": "/",
        "dashboard-year": "/?period=year",
        "download": "/download/",
        "share": "/share/",
        "my-grants": "/grants/",
        "revoke-confirm": f"/grants/{grant.public_id}/revoke/",
        "history": "/history/",
        "consent": authorize_url(client_id=sunny.client_id, scope=factories.DEFAULT_SCOPE, challenge=pkce_pair()[1]),
        "share-bulk": f"/share/{sunny.public_id}/bulk/7/",
        "password-change": "/accounts/password/change/",
    }
    problems = {}
    for locale in ("en-US", "es-ES"):
        for width in (1280, 375):
            context = chromium.new_context(viewport={"width": width, "height": 900}, locale=locale, bypass_csp=True)
            page = context.new_page()
            for name, path in {"login": "/accounts/login/", "password-reset": "/accounts/password/reset/"}.items():
                page.goto(base + path)
                violations = _axe_serious(page)
                if violations:
                    problems[f"{name} {locale} {width}"] = violations
            _log_in_by_keyboard(page, base)
            for name, path in pages.items():
                page.goto(base + path)
                key = f"{name} {locale} {width}"
                violations = _axe_serious(page)
                layout = page.evaluate(LAYOUT)
                if violations:
                    problems[key] = violations
                if layout["overflow"] > 0:
                    problems[key + " overflow"] = layout["overflow"]
                if width == 375 and layout["smallestBox"] is not None and layout["smallestBox"] < 24:
                    problems[key + " checkbox"] = layout["smallestBox"]
                if layout["brandLines"] > 1 or layout["navLinksWrapped"]:
                    problems[key + " header"] = layout
                if locale == "en-US" and width == 1280 and name in {"dashboard", "my-grants", "history", "download"}:
                    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
                if locale == "en-US" and width == 375 and name in {"consent", "history", "my-grants"}:
                    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
                if locale == "es-ES" and width == 1280 and name in {"dashboard", "consent"}:
                    page.screenshot(path=str(SCREENSHOTS / f"{name}-es.png"), full_page=True)
            assert page.evaluate("document.documentElement.lang") == locale[:2]
            context.close()
    assert problems == {}, json.dumps(problems, indent=1)


@pytest.mark.django_db(transaction=True)
def test_consent_and_revoke_work_by_keyboard_alone(live_server, chromium):
    customer, home, sunny, grant = _world()
    base = live_server.url
    context = chromium.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.route(REDIRECT_URI + "**", lambda route: route.fulfill(status=200, body="callback reached"))
    _log_in_by_keyboard(page, base)
    page.goto(base + authorize_url(client_id=sunny.client_id, scope=factories.DEFAULT_SCOPE, challenge=pkce_pair()[1]))
    # Tick Home, untick the power-quality choice, set the end date, approve: keys only.
    page.focus(f"input[name=usage_points][value='{home.public_id}']")
    page.keyboard.press("Space")
    page.focus("input[name=data][value='quality']")
    page.keyboard.press("Space")
    until = timezone.localdate() + timedelta(days=30)
    page.focus("#id_until")
    page.keyboard.type(until.strftime("%m%d%Y"))
    page.focus("#approve")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=callback reached")
    new = Grant.objects.get(customer=customer, status=Grant.Status.ACTIVE)
    assert new.pk != grant.pk and 17 not in new.function_blocks
    assert [p.public_id for p in new.usage_points.all()] == [home.public_id]
    grant.refresh_from_db()
    assert grant.replaced_by == new

    page.goto(base + "/grants/")
    page.focus(f"#revoke-{new.public_id}")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-revoke")
    page.focus("#confirm-revoke")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=was revoked")
    new.refresh_from_db()
    assert new.status == Grant.Status.REVOKED

    page.goto(base + "/download/")
    page.focus("#download")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    assert download_info.value.suggested_filename.endswith(".csv")
    context.close()
