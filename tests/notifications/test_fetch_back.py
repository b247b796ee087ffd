"""End to end: the Third Party receives the BatchList on loopback, then fetches every URI with its token."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import resolve

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from grants.notifications import notification_deliver_due, notification_enqueue_for_usage_points
from grants.services import grant_token_issue
from tests import factories
from tests.grants.oauth_helpers import client_credentials

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "notified-third-party-secret-for-tests"


def received_uris(body: bytes) -> list[str]:
    root = parse_small_document(body)
    assert root.tag == f"{{{ESPI}}}BatchList"
    return [child.text for child in root]


def fetch(client: Client, uri: str, token: str):
    parts = urlsplit(uri)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    response = client.get(target, HTTP_AUTHORIZATION=f"Bearer {token}")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_batch_list_arrives_and_each_uri_is_fetched_with_its_token(
    debug_on, receiver, customer, other_customer, usage_point
):
    party, _ = factories.make_third_party(name="Fetch Co", notify_uri=receiver.uri(), client_secret=SECRET)
    bulk = factories.make_bulk_user(third_party=party, bulk_id="1")
    lone = factories.make_grant(customer=customer, third_party=party, usage_points=[usage_point])
    barn = factories.make_usage_point(customer=other_customer, title="Barn")
    member = factories.make_grant(customer=other_customer, third_party=party, usage_points=[barn], bulk_user=bulk)
    access_token = "lone-grant-access-token-0123456789"
    grant_token_issue(grant=lone, raw_token=access_token)
    client = Client()
    issued = client_credentials(client, client_id=party.client_id, secret=SECRET)
    assert issued.status_code == 200, issued.content
    client_token = issued.json()["access_token"]
    window = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    notification_enqueue_for_usage_points(
        usage_point_ids=[usage_point.pk, barn.pk], published_min=window[0], published_max=window[1]
    )

    report = notification_deliver_due()

    assert (report.posts, report.delivered) == (1, 4)
    [item] = receiver.received
    uris = received_uris(item.body)
    base = f"{settings.PORTAL_BASE_URL}/espi/1_1/resource"
    query = "published-min=2024-01-01T00%3A00%3A00Z&published-max=2024-01-02T00%3A00%3A00Z"
    assert uris == [
        f"{base}/Batch/Subscription/{lone.subscription_id}",
        f"{base}/Authorization/{lone.public_id}",
        f"{base}/Batch/Bulk/1",
        f"{base}/Authorization/{member.public_id}",
        f"{base}/Batch/Subscription/{lone.subscription_id}?{query}",
        f"{base}/Batch/Bulk/1?{query}",
    ]
    for uri in uris:
        match = resolve(urlsplit(uri).path)
        if match.url_name == "espi-authorization":
            token = client_token
        elif match.url_name == "espi-batch-subscription":
            assert match.kwargs == {"subscription_id": lone.subscription_id}
            token = access_token
        else:
            assert (match.url_name, match.kwargs) == ("espi-batch-bulk", {"bulk_id": "1"})
            token = client_token
        response, body = fetch(client, uri, token)
        assert response.status_code == 200, (uri, response.status_code, body[:300])
        assert response["Content-Type"].startswith("application/atom+xml")
        document = parse_small_document(body)
        assert document.tag == f"{{{ATOM}}}" + ("entry" if match.url_name == "espi-authorization" else "feed")

    # The tokens are not interchangeable: each URI needs the token the notification implies.
    assert fetch(client, uris[0], client_token)[0].status_code in (401, 403, 404)
    assert fetch(client, uris[2], access_token)[0].status_code in (401, 403, 404)
