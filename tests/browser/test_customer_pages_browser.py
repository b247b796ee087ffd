"""Every customer page in chromium, in English and Spanish, at 1280 and 375 px: axe-core, layout, keyboard.

axe-core (npm, pinned in package.json, installed by ``make install``) is injected into each page
and any serious or critical violation fails the test (a planted violation proves the check
catches one). At 375 px nothing may overflow sideways, checkboxes are big enough to tap and the
header keeps its phrases whole. Every form is used by keyboard alone. The README screenshots are
taken here (written with ``UPDATE_SCREENSHOTS=1``: ``tests/browser/helpers.save_screenshot``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from custodian.espi.customer import NAME_AND_ADDRESS
from custodian.models import RetailCustomer
from custodian.services import invitation_link
from custodian.services_access_log import data_read_record
from grants import services
from grants.models import Grant, GrantUsagePoint
from tests import factories
from tests.browser.helpers import axe_serious, save_screenshot
from tests.browser.test_consent_browser import PASSWORD, _seed
from tests.grants.oauth_helpers import REDIRECT_URI, authorize_url, pkce_pair

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
RECORDS_SCOPE = (
    "FB=1_3_4_5_13_14_15_17_35_37_39_46_47_50;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]

LAYOUT = """() => {
  const doc = document.documentElement;
  const boxes = [...document.querySelectorAll('input[type=checkbox], input[type=radio]')]
    .map((box) => box.getBoundingClientRect()).filter((r) => r.width > 0);
  const brand = document.querySelector('header .brand');
  if (!brand) return {overflow: doc.scrollWidth - window.innerWidth, noHeader: true, smallestBox: null, brandLines: 0, navLinksWrapped: []};
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
    records, _ = factories.make_third_party(name="Home Records Co", scopes=(RECORDS_SCOPE,))
    services.grant_create(
        customer=customer,
        third_party=records,
        usage_points=[cabin],
        scope=RECORDS_SCOPE,
        authorized_end=timezone.now() + timedelta(days=90),
        customer_records=[NAME_AND_ADDRESS],
    )
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


def _logged_out_pages(user_pk: int) -> dict[str, str]:
    """The pages before login, with fresh single-use links (a login changes what the tokens sign)."""
    user = get_user_model().objects.get(pk=user_pk)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return {
        "login": "/accounts/login/",
        "password-reset": "/accounts/password/reset/",
        "password-reset-sent": "/accounts/password/reset/sent/",
        "password-reset-confirm": f"/accounts/password/reset/{uid}/{token}/",
        "password-reset-complete": "/accounts/password/reset/done/",
        "set-password": urlsplit(invitation_link(user=user)).path,
        "set-password-expired": f"/accounts/invitation/{uid}/expired-token/",
    }


@pytest.mark.django_db(transaction=True)
def test_every_customer_page_passes_axe_and_fits_a_phone_in_both_languages(live_server, chromium):
    customer, home, sunny, grant = _world()
    records_grant = Grant.objects.get(customer=customer, third_party__name="Home Records Co")
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
        "revoke-meter-confirm": f"/grants/{grant.public_id}/usage-points/{home.public_id}/revoke/",
        "revoke-records-confirm": f"/grants/{records_grant.public_id}/records/{NAME_AND_ADDRESS}/revoke/",
        "history-filtered": f"/history/?third_party={sunny.public_id}",
        "password-change": "/accounts/password/change/",
        "password-change-done": "/accounts/password/change/done/",
        "not-found": "/no-such-page/",
    }
    problems = {}
    for locale in ("en-US", "es-ES"):
        for width in (1280, 375):
            context = chromium.new_context(viewport={"width": width, "height": 900}, locale=locale, bypass_csp=True)
            page = context.new_page()
            for name, path in _logged_out_pages(customer.user_id).items():
                page.goto(base + path)
                key = f"{name} {locale} {width}"
                violations = axe_serious(page)
                layout = page.evaluate(LAYOUT)
                if violations:
                    problems[key] = violations
                if layout["overflow"] > 0:
                    problems[key + " overflow"] = layout["overflow"]
                if layout.get("noHeader"):
                    problems[key + " header"] = page.url
                if page.evaluate("document.documentElement.lang") != locale[:2]:
                    problems[key + " lang"] = page.evaluate("document.documentElement.lang")
            _log_in_by_keyboard(page, base)
            for name, path in pages.items():
                page.goto(base + path)
                key = f"{name} {locale} {width}"
                violations = axe_serious(page)
                layout = page.evaluate(LAYOUT)
                if violations:
                    problems[key] = violations
                if layout["overflow"] > 0:
                    problems[key + " overflow"] = layout["overflow"]
                if layout.get("noHeader"):
                    problems[key + " header"] = page.url
                if page.evaluate("document.documentElement.lang") != locale[:2]:
                    problems[key + " lang"] = page.evaluate("document.documentElement.lang")
                if width == 375 and layout["smallestBox"] is not None and layout["smallestBox"] < 24:
                    problems[key + " checkbox"] = layout["smallestBox"]
                if layout.get("noHeader") or layout["brandLines"] > 1 or layout["navLinksWrapped"]:
                    problems[key + " header"] = layout
                if locale == "en-US" and width == 1280 and name in {"dashboard", "my-grants", "history", "download"}:
                    save_screenshot(page, name)
                if locale == "en-US" and width == 375 and name in {"consent", "history", "my-grants"}:
                    save_screenshot(page, f"{name}-phone")
                if locale == "es-ES" and width == 1280 and name in {"dashboard", "consent"}:
                    save_screenshot(page, f"{name}-es")
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
    new = Grant.objects.get(customer=customer, third_party=sunny, status=Grant.Status.ACTIVE)
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


@pytest.mark.django_db(transaction=True)
def test_the_axe_check_catches_a_planted_violation(live_server, chromium):
    """The check is known to work: a clean page passes; an image without alt and an unlabelled input fail it."""
    _world()
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    _log_in_by_keyboard(page, live_server.url)
    page.goto(live_server.url + "/grants/")
    assert axe_serious(page) == []
    page.evaluate(
        """() => {
          const main = document.querySelector('main');
          const img = document.createElement('img');
          img.id = 'planted-image';
          img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
          img.width = 40; img.height = 40;
          const input = document.createElement('input');
          input.type = 'text'; input.id = 'planted-input';
          main.prepend(img, input);
        }"""
    )
    found = {violation["id"]: violation for violation in axe_serious(page)}
    assert {"image-alt", "label"} <= set(found), found
    assert found["image-alt"]["impact"] == "critical" and found["image-alt"]["nodes"] == [["#planted-image"]]
    assert found["label"]["impact"] == "critical" and found["label"]["nodes"] == [["#planted-input"]]
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_other_forms_work_by_keyboard_alone(live_server, chromium):
    """Language switch, history filter, stop sharing one meter, password change, log out, password reset."""
    customer, home, sunny, grant = _world()
    customer.user.email = "alice@example.org"
    customer.user.save()
    base = live_server.url
    context = chromium.new_context(viewport={"width": 375, "height": 800}, locale="en-US")
    page = context.new_page()
    _log_in_by_keyboard(page, base)

    page.goto(base + "/history/")
    page.focus("#third-party-filter")
    page.keyboard.type("Sunny")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/history/?third_party={sunny.public_id}")

    page.focus("#language-choice")
    page.keyboard.type("Esp")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("document.documentElement.lang === 'es'")
    assert page.url.endswith(f"/history/?third_party={sunny.public_id}")
    assert RetailCustomer.objects.get(pk=customer.pk).language == "es"

    page.goto(base + "/grants/")
    page.focus(f"a[href='/grants/{grant.public_id}/usage-points/{home.public_id}/revoke/']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-revoke")
    page.focus("#confirm-revoke")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/grants/")
    link = GrantUsagePoint.objects.get(grant=grant, usage_point=home)
    assert link.revoked_at is not None

    page.goto(base + "/accounts/password/change/")
    page.focus("#id_old_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type("a-new-long-passphrase-9")
    page.keyboard.press("Tab")
    page.keyboard.type("a-new-long-passphrase-9")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/accounts/password/change/done/")

    page.focus("header form[action='/accounts/logout/'] button")
    page.keyboard.press("Enter")
    page.wait_for_selector("header a[href='/accounts/login/']")

    mail.outbox.clear()
    page.goto(base + "/accounts/password/reset/")
    page.focus("#id_email")
    page.keyboard.type("alice@example.org")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/accounts/password/reset/sent/")
    assert mail.outbox[-1].subject == "Elija una contraseña nueva para su cuenta Green Button"  # her language
    reset = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(base + reset)
    page.focus("#id_new_password1")
    page.keyboard.type("yet-another-passphrase-42")
    page.keyboard.press("Tab")
    page.keyboard.type("yet-another-passphrase-42")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/accounts/password/reset/done/")
    assert get_user_model().objects.get(pk=customer.user_id).check_password("yet-another-passphrase-42")
    context.close()
