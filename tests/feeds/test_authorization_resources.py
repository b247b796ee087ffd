"""ApplicationInformation/{id}, Authorization, Authorization/{id} and ReadServiceStatus: the caller's own, valid ESPI."""

from __future__ import annotations

import pytest

from custodian.espi.namespaces import ESPI
from grants.models import Grant, ThirdParty
from tests import factories
from tests.feeds.conftest import NS, RESOURCE, Feed, assert_valid, body_of, client_token_for, fetch

pytestmark = pytest.mark.django_db


def get(client, path: str, token: str | None = None):
    return fetch(client, f"{RESOURCE}/{path}", token)


def test_application_information_is_the_third_partys_own_and_never_holds_a_secret(client, db):
    tp, secret = factories.make_third_party(name="Solar Co", client_secret="a-very-secret-value-123")
    tp.contacts = "ops@solar.example\nsecurity@solar.example"
    tp.notify_uri = "https://solar.example/espi/1_1/Notification"
    tp.save()
    token = client_token_for(tp)
    response = get(client, f"ApplicationInformation/{tp.public_id}", token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml"
    data = body_of(response)
    assert_valid(data)
    assert secret.encode() not in data
    tp.refresh_from_db()
    assert tp.client_secret.encode() not in data  # the stored hash does not leak either
    root = Feed.of(data).root
    info = root.xpath("//e:ApplicationInformation", namespaces=NS)[0]
    assert info.findtext(f"{{{ESPI}}}client_secret") == ""
    assert info.findtext(f"{{{ESPI}}}registration_access_token") == ""
    assert info.findtext(f"{{{ESPI}}}client_id") == tp.client_id
    assert info.findtext(f"{{{ESPI}}}dataCustodianApplicationStatus") == str(ThirdParty.Lifecycle.PRODUCTION)
    assert [e.text for e in info.findall(f"{{{ESPI}}}scope")] == [factories.DEFAULT_SCOPE]
    assert [e.text for e in info.findall(f"{{{ESPI}}}grant_types")] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert len(info.findall(f"{{{ESPI}}}contacts")) == 2


def test_application_information_bola(client, feed_world):
    tp, other = feed_world.tp, feed_world.other_tp
    # Its access token reads it too; another Third Party's id is the same 404 as an unknown one.
    assert get(client, f"ApplicationInformation/{tp.public_id}", feed_world.tokens["alice"]).status_code == 200
    theirs = get(client, f"ApplicationInformation/{other.public_id}", feed_world.tp_token)
    unknown = get(client, "ApplicationInformation/0000000000000000", feed_world.tp_token)
    assert theirs.status_code == unknown.status_code == 404
    assert body_of(theirs) == body_of(unknown)
    assert get(client, f"ApplicationInformation/{other.public_id}", feed_world.tokens["alice"]).status_code == 404
    custodian = feed_world.custodian
    assert get(client, f"ApplicationInformation/{custodian.public_id}", feed_world.custodian_token).status_code == 403


def test_the_authorization_collection_is_the_third_partys_grants(client, feed_world):
    response = get(client, "Authorization", feed_world.tp_token)
    assert response.status_code == 200
    data = body_of(response)
    assert_valid(data)
    feed = Feed.of(data)
    ours = {g.public_id for name, g in feed_world.grants.items() if name != "carol_other"}
    assert feed.ids_of("Authorization") == ours
    statuses = {
        href.rsplit("/", 1)[1]: status
        for href, status in zip(
            feed.hrefs(), feed.root.xpath("//e:Authorization/e:status/text()", namespaces=NS), strict=True
        )
    }
    assert statuses[feed_world.grants["alice"].public_id] == "1"
    assert statuses[feed_world.grants["bob_revoked"].public_id] == "0"
    # No token value travels in an Authorization.
    assert b"access_token" not in data and b"refresh_token" not in data
    for token in feed_world.tokens.values():
        assert token.encode() not in data


def test_an_access_token_sees_only_its_own_authorization(client, feed_world):
    grants = feed_world.grants
    token = feed_world.tokens["alice"]
    feed = Feed.of(body_of(get(client, "Authorization", token)))
    assert feed.ids_of("Authorization") == {grants["alice"].public_id}
    own = get(client, f"Authorization/{grants['alice'].public_id}", token)
    assert own.status_code == 200
    data = body_of(own)
    assert_valid(data)
    auth = Feed.of(data).root.xpath("//e:Authorization", namespaces=NS)[0]
    assert auth.findtext(f"{{{ESPI}}}resourceURI").endswith(f"/Batch/Subscription/{grants['alice'].subscription_id}")
    assert auth.findtext(f"{{{ESPI}}}authorizationURI").endswith(f"/Authorization/{grants['alice'].public_id}")
    assert auth.findtext(f"{{{ESPI}}}scope") == grants["alice"].scope
    # A sibling grant of the same Third Party is another customer's: 404, as unknown.
    sibling = get(client, f"Authorization/{grants['bob'].public_id}", token)
    unknown = get(client, "Authorization/0000000000000000", token)
    assert sibling.status_code == unknown.status_code == 404
    assert body_of(sibling) == body_of(unknown)


def test_third_party_b_cannot_read_third_party_a_authorizations(client, feed_world):
    a_grant = feed_world.grants["alice"]
    response = get(client, f"Authorization/{a_grant.public_id}", feed_world.other_tp_token)
    unknown = get(client, "Authorization/0000000000000000", feed_world.other_tp_token)
    assert response.status_code == unknown.status_code == 404
    assert body_of(response) == body_of(unknown)
    feed = Feed.of(body_of(get(client, "Authorization", feed_world.other_tp_token)))
    assert feed.ids_of("Authorization") == {feed_world.grants["carol_other"].public_id}
    assert get(client, f"Authorization/{a_grant.public_id}", feed_world.tp_token).status_code == 200
    assert get(client, "Authorization", feed_world.custodian_token).status_code == 403


def test_a_third_party_on_hold_reads_nothing(client, feed_world):
    ThirdParty.objects.filter(pk=feed_world.tp.pk).update(lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    assert get(client, "Authorization", feed_world.tp_token).status_code == 401
    assert get(client, "Batch/Bulk/1", feed_world.tp_token).status_code == 401
    grant = feed_world.grants["alice"]
    assert get(client, f"Batch/Subscription/{grant.subscription_id}", feed_world.tokens["alice"]).status_code == 401
    assert Grant.objects.get(pk=grant.pk).status == Grant.Status.ACTIVE


@pytest.mark.parametrize("kind", ["client", "access", "custodian"])
def test_read_service_status_answers_every_valid_token(client, feed_world, kind):
    token = {
        "client": feed_world.tp_token,
        "access": feed_world.tokens["alice"],
        "custodian": feed_world.custodian_token,
    }[kind]
    response = get(client, "ReadServiceStatus", token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    data = body_of(response)
    assert data.endswith(
        b'<ServiceStatus xmlns="http://naesb.org/espi"><currentStatus>1</currentStatus></ServiceStatus>'
    )
    assert_valid(data)


def test_read_service_status_needs_a_token(client, feed_world):
    response = get(client, "ReadServiceStatus")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    revoked = feed_world.tokens["bob_revoked"]
    assert get(client, "ReadServiceStatus", revoked).status_code == 401
