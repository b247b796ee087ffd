"""PostgreSQL goes away under a live gunicorn: ESPI and OAuth answer JSON errors, and the server recovers after."""

from __future__ import annotations

import pytest
import requests

from tests.batch.conftest import bulk_path, sample_feed, upload_world  # noqa: F401
from tests.conftest import requires_postgres
from tests.faults.conftest import Server

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _is_json_error(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_api_answers_json_while_the_database_is_down_and_recovers_when_it_returns(upload_world, db_proxy, media_root):  # noqa: F811
    server = Server(db_port=db_proxy.port, media_root=media_root)
    server.start()
    try:
        status_url = server.url + "/espi/1_1/resource/ReadServiceStatus"
        auth = {"Authorization": f"Bearer {upload_world.tp_token}"}
        assert requests.get(status_url, headers=auth, timeout=10).status_code == 200

        db_proxy.cut()  # every connection of the server dies; new ones are refused
        down = requests.get(status_url, headers=auth, timeout=10)
        assert down.status_code == 503
        assert _is_json_error(down)["error"] == "unavailable"
        assert down.headers["Retry-After"].isdigit()

        upload = requests.post(
            server.url + bulk_path("1"),
            data=sample_feed(usage_point=upload_world.a1, salt="down"),
            headers={**auth, "Content-Type": "application/atom+xml", "Idempotency-Key": "down-1"},
            timeout=20,
        )
        assert upload.status_code in (500, 503)
        _is_json_error(upload)

        token = requests.post(
            server.url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"), timeout=10
        )
        assert token.status_code == 500
        assert _is_json_error(token)["error"] == "server_error"

        # An unmatched ESPI URL and a page still answer as before (no database needed for them).
        assert requests.get(server.url + "/espi/1_1/resource/Nothing", timeout=10).status_code == 404

        db_proxy.start()  # the database is back (as after a crash-restart): stale connections are replaced
        assert requests.get(status_url, headers=auth, timeout=10).status_code == 200
        again = requests.post(
            server.url + bulk_path("1"),
            data=sample_feed(usage_point=upload_world.a1, salt="down"),
            headers={**auth, "Content-Type": "application/atom+xml", "Idempotency-Key": "down-1"},
            timeout=30,
        )
        assert again.status_code == 200, again.text[:500]
        assert again.json()["counts"]["applied"] > 0
    finally:
        server.stop()
