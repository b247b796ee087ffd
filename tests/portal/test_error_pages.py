"""The 500 page a customer sees: in their language, saying what to do, and rendered without the database."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.utils import translation

from custodian.views import server_error


@pytest.mark.parametrize(
    ("language", "heading", "advice"),
    [
        ("en", "Something went wrong", "try again in a few minutes"),
        ("es", "Algo salió mal", "Vuelva a intentarlo en unos minutos"),
    ],
)
def test_the_server_error_page_speaks_the_customers_language_and_needs_no_database(language, heading, advice):
    # No django_db mark: pytest-django refuses any database access here, so the page cannot need one.
    request = RequestFactory().get("/grants/")
    with translation.override(language):
        response = server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert f'<html lang="{language}">' in page
    assert f"<h1>{heading}</h1>" in page
    assert advice.lower() in page.lower()
    assert 'href="/"' in page


def test_an_api_path_still_gets_the_json_error():
    response = server_error(RequestFactory().get("/espi/1_1/resource/ReadServiceStatus"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"] == "server_error"
