"""English and Spanish: every catalogue entry translated, pages in the browser's language or the switch's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests import factories

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"


def _entries(text: str):
    """Yield (flags, msgid, msgstrs) for each entry of a .po file (the header excluded)."""
    for block in text.split("\n\n"):
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            yield flags, fields["msgid"], [value for key, value in fields.items() if key.startswith("msgstr")]


def test_every_spanish_string_is_translated_and_none_is_fuzzy():
    entries = list(_entries(CATALOGUE.read_text(encoding="utf-8")))
    assert len(entries) > 150
    untranslated = [msgid for _flags, msgid, msgstrs in entries if not msgstrs or any(not s for s in msgstrs)]
    fuzzy = [msgid for flags, msgid, _msgstrs in entries if "fuzzy" in flags]
    assert untranslated == [], untranslated
    assert fuzzy == [], fuzzy
    assert "#, fuzzy" not in CATALOGUE.read_text(encoding="utf-8").split("\n\n")[0]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext), as makemessages does")
def test_every_string_marked_for_translation_is_in_the_catalogue(tmp_path):
    """Extract the marked strings again (makemessages on a copy of the code): none may lack its Spanish."""
    base = Path(settings.BASE_DIR)
    for name in ("custodian", "grants", "batch", "templates"):
        shutil.copytree(base / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "xsd", "migrations"))
    shutil.copy(base / "manage.py", tmp_path / "manage.py")
    (tmp_path / "locale" / "es" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(CATALOGUE, tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po")
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-location", "--no-obsolete", "-v", "0"],
        cwd=tmp_path,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "custodian.settings"},
        check=True,
        capture_output=True,
    )
    extracted = list(_entries((tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")))
    assert len(extracted) > 150
    missing = [msgid for flags, msgid, msgstrs in extracted if "fuzzy" in flags or not all(msgstrs)]
    assert missing == [], missing


def test_the_compiled_catalogue_is_built():
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists(), "run make (manage.py compilemessages)"
    assert compiled.stat().st_mtime >= CATALOGUE.stat().st_mtime - 1


@pytest.mark.django_db
def test_pages_follow_the_browsers_language(client, customer):
    client.force_login(customer.user)
    spanish = client.get("/grants/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
    assert spanish.status_code == 200
    assert '<html lang="es">' in spanish.content.decode()
    assert "Mis autorizaciones" in spanish.content.decode()
    assert "Saltar al contenido principal" in spanish.content.decode()
    english = client.get("/grants/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert "My grants" in english.content.decode()


@pytest.mark.django_db
def test_the_switch_sets_the_language(client, customer):
    client.force_login(customer.user)
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/history/"})
    assert response.status_code == 302 and response["Location"] == "/history/"
    page = client.get("/history/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Quién accedió a mis datos" in page.content.decode()


@pytest.mark.django_db
def test_consent_words_in_spanish(client, customer):
    from tests.grants.oauth_helpers import authorize_url, pkce_pair

    third_party, _ = factories.make_third_party(name="Solar Co")
    factories.make_usage_point(customer=customer, title="Casa")
    client.force_login(customer.user)
    page = client.get(
        authorize_url(client_id=third_party.client_id, scope=factories.DEFAULT_SCOPE, challenge=pkce_pair()[1]),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    html = page.content.decode()
    assert "Solar Co pide ver sus datos de energía" in html
    assert "Su consumo de electricidad cada 15 minutos" in html
    assert "hasta 3 años atrás" in html
    # A date input holds an ISO date whatever the language (a localized "15/06/2027" would show empty).
    until = page.context["form"].fields["until"].initial
    assert f'value="{until.isoformat()}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", [False, True])
def test_machine_clients_get_english_whatever_their_language(client, cookie):
    """A program's Accept-Language (or a leftover language cookie) does not turn API errors Spanish."""
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    espi = client.get(
        "/espi/1_1/resource/ReadServiceStatus", HTTP_ACCEPT="application/atom+xml", HTTP_ACCEPT_LANGUAGE="es-MX,es"
    )
    token = client.post(
        "/oauth/token", {"grant_type": "client_credentials", "client_id": "nobody"}, HTTP_ACCEPT_LANGUAGE="es"
    )

    assert espi.status_code == 401
    assert espi.json()["detail"] == "Authentication credentials were not provided."
    assert espi["Content-Language"] == "en"
    assert "accept-language" not in espi.get("Vary", "").lower()
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    assert token["Content-Language"] == "en"
    # The consent screen is a page a person reads: still in their language (test_consent_words_in_spanish).
    assert client.get("/grants/", HTTP_ACCEPT_LANGUAGE="es")["Content-Language"] == "es"
