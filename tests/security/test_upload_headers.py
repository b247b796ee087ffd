"""Batch POST headers and query: oversized or odd values are a short, clear 4xx that echoes nothing back at length."""

from __future__ import annotations

import pytest

from batch.models import Submission
from tests.feeds.conftest import RESOURCE, bearer

pytestmark = pytest.mark.django_db

FEED = b"<feed xmlns='http://www.w3.org/2005/Atom'/>"


def post(client, token, *, query: str = "", content_type: str = "application/atom+xml", **headers):
    return client.post(f"{RESOURCE}/Batch/Bulk/1{query}", FEED, content_type=content_type, **bearer(token), **headers)


def test_long_unknown_query_parameter_is_400_and_not_echoed_whole(feed_world, client):
    name = "x" * 5000
    response = post(client, feed_world.tp_token, query=f"?{name}=1")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_query"
    assert len(response.content) < 300
    assert not Submission.objects.exists()


def test_huge_idempotency_key_is_400(feed_world, client):
    response = post(client, feed_world.tp_token, HTTP_IDEMPOTENCY_KEY="k" * 10_000)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_idempotency_key"
    assert "k" * 300 not in response.content.decode()
    assert not Submission.objects.exists()


def test_content_type_with_parameters_is_accepted_and_the_wrong_type_is_415(feed_world, client):
    ok = post(client, feed_world.tp_token, content_type="Application/Atom+XML; type=feed")
    assert ok.status_code != 415
    wrong = post(client, feed_world.tp_token, content_type="text/xml")
    assert wrong.status_code == 415
    assert wrong.json()["error"] == "unsupported_media_type"
