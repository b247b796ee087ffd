"""FB_41 DELETE Authorization, FB_44 PUT/DELETE ApplicationInformation, certification links, the ESPI fields."""

from __future__ import annotations

import pytest
from django.test import override_settings

from custodian.espi.namespaces import ESPI
from grants.models import Grant, Notification, ThirdParty
from grants.services import third_party_registration_token_issue
from tests.feeds.conftest import NS, RESOURCE, Feed, assert_valid, body_of, fetch

pytestmark = pytest.mark.django_db

CERT = "https://cert.greenbuttonalliance.org/certificate/1234"


def _call(client, method: str, path: str, token: str, body: bytes = b""):
    response = getattr(client, method)(
        f"{RESOURCE}/{path}", data=body, content_type="application/atom+xml", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    if getattr(response, "streaming", False):
        response.body = b"".join(response.streaming_content)
    return response


def test_delete_authorization_revokes_like_a_customer_revoke(client, feed_world):
    grant = feed_world.grants["alice"]
    assert _call(client, "delete", f"Authorization/{grant.public_id}", feed_world.tokens["alice"]).status_code == 403
    assert _call(client, "delete", f"Authorization/{grant.public_id}", feed_world.other_tp_token).status_code == 404
    response = _call(client, "delete", f"Authorization/{grant.public_id}", feed_world.tp_token)
    assert response.status_code == 204
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED and grant.revoked_at is not None
    # Its tokens stop at once, and the Authorization now says revoked.
    assert (
        fetch(client, f"{RESOURCE}/Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"]).status_code
        == 401
    )
    entry = body_of(fetch(client, f"{RESOURCE}/Authorization/{grant.public_id}/", feed_world.tp_token))
    assert Feed.of(entry).root.xpath("//e:Authorization/e:status/text()", namespaces=NS) == ["0"]


def test_put_application_information_with_the_registration_token(client, feed_world):
    tp = feed_world.tp
    token = third_party_registration_token_issue(third_party=tp)
    path = f"ApplicationInformation/{tp.public_id}"
    current = body_of(fetch(client, f"{RESOURCE}/{path}", token))
    changed = current.replace(b"<client_name>Solar Co</client_name>", b"<client_name>Solar Co Renamed</client_name>")
    changed = changed.replace(
        b"<thirdPartyNotifyUri></thirdPartyNotifyUri>",
        b"<thirdPartyNotifyUri>https://solar.example/notify</thirdPartyNotifyUri>",
    )
    changed = changed.replace(
        b"<thirdPartyNotifyUri/>", b"<thirdPartyNotifyUri>https://solar.example/notify</thirdPartyNotifyUri>"
    )
    assert _call(client, "put", path, feed_world.tp_token, changed).status_code == 403
    response = _call(client, "put", path, token, changed)
    assert response.status_code == 200, response.body[:300]
    assert_valid(response.body)
    tp.refresh_from_db()
    assert tp.name == "Solar Co Renamed"
    assert tp.notify_uri == "https://solar.example/notify"
    [row] = Notification.objects.filter(kind=Notification.Kind.APPLICATION_INFORMATION_CHANGED)
    assert row.resources == [f"http://127.0.0.1:8000{RESOURCE}/ApplicationInformation/{tp.public_id}"]
    assert _call(client, "put", path, token, b"<not-xml").status_code == 400


def test_delete_application_information_deregisters(client, feed_world, django_capture_on_commit_callbacks):
    tp = feed_world.tp
    token = third_party_registration_token_issue(third_party=tp)
    path = f"ApplicationInformation/{tp.public_id}"
    assert _call(client, "delete", path, feed_world.tp_token).status_code == 403
    # The revocation's row work (grants, tokens) is queued when it commits (grants.services sweep).
    with django_capture_on_commit_callbacks(execute=True):
        assert _call(client, "delete", path, token).status_code == 204
    tp.refresh_from_db()
    assert tp.lifecycle == ThirdParty.Lifecycle.REVOKED
    assert fetch(client, f"{RESOURCE}/{path}", token).status_code == 401
    assert not Grant.objects.filter(third_party=tp, status=Grant.Status.ACTIVE).exists()


def test_application_information_carries_every_espi_field(client, feed_world):
    tp = feed_world.tp
    ThirdParty.objects.filter(pk=tp.pk).update(
        client_uri="https://solar.example", scope_selection_uri="https://solar.example/scopes"
    )
    info = Feed.of(
        body_of(
            fetch(
                client,
                f"{RESOURCE}/ApplicationInformation/{tp.public_id}",
                third_party_registration_token_issue(third_party=tp),
            )
        )
    ).root
    element = info.xpath("//e:ApplicationInformation", namespaces=NS)[0]
    assert element.findtext(f"{{{ESPI}}}client_uri") == "https://solar.example"
    assert element.findtext(f"{{{ESPI}}}thirdPartyScopeSelectionScreenURI") == "https://solar.example/scopes"
    assert (
        element.findtext(f"{{{ESPI}}}dataCustodianScopeSelectionScreenURI")
        == "http://127.0.0.1:8000/oauth/scope-selection"
    )
    assert element.findtext(f"{{{ESPI}}}token_endpoint_auth_method") == "client_secret_basic"


@override_settings(GBA_CERTIFICATION_ID="1234")
def test_certification_link_exactly_once_in_each_authorization_resource(client, feed_world):
    tp = feed_world.tp
    grant = feed_world.grants["alice"]
    documents = [
        body_of(
            fetch(
                client,
                f"{RESOURCE}/ApplicationInformation/{tp.public_id}",
                third_party_registration_token_issue(third_party=tp),
            )
        ),
        body_of(fetch(client, f"{RESOURCE}/Authorization", feed_world.tp_token)),
        body_of(fetch(client, f"{RESOURCE}/Authorization/{grant.public_id}", feed_world.tp_token)),
    ]
    for document in documents:
        assert_valid(document)
    assert documents[0].count(CERT.encode()) == 1
    assert documents[2].count(CERT.encode()) == 1
    feed = Feed.of(documents[1]).root
    assert len(feed.xpath(f"/a:feed/a:link[@rel='related'][@href='{CERT}']", namespaces=NS)) == 1


def test_no_certification_link_without_the_setting(client, feed_world):
    assert b"cert.greenbuttonalliance.org" not in body_of(
        fetch(client, f"{RESOURCE}/Authorization", feed_world.tp_token)
    )
