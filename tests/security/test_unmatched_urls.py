"""An ESPI URL the router cannot match answers the API's JSON 404, like an unknown id does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/espi/1_1/resource/Subscription/abc%2Fdef/UsagePoint",
        "/espi/1_1/resource/NoSuchResource",
        "/espi/1_1/resource/Batch/Bulk/",
    ],
)
def test_unmatched_espi_urls_answer_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "Not found.", "error_description": "Not found."}


def test_unmatched_portal_urls_keep_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
