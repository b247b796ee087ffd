"""ApplicationInformation/{id}, Authorization, Authorization/{id} and ReadServiceStatus: the caller's own, valid ESPI."""

from __future__ import annotations

import pytest

from custodian.espi.namespaces import ESPI
from grants.models import Grant, ThirdParty
from grants.services import third_party_registration_token_issue as registration_token_issue
from tests import factories
from tests.feeds.conftest import NS, RESOURCE, Feed, assert_valid, body_of, fetch

pytestmark = pytest.mark.django_db


def get(client, path: str, token: str | None = None):
    return fetch(client, f"{RESOURCE}/{path}", token)


def test_application_information_is_the_third_partys_own_with_its_secret_for_the_registration_token(client, db):
    tp, secret = factories.make_third_party(name="Solar Co", client_secret="a-very-secret-value-123")
    tp.contacts = "ops@solar.example\nsecurity@solar.example"
    tp.notify_uri = "https://solar.example/espi/1_1/Notification"
    tp.save()
    token = registration_token_issue(third_party=tp)
    response = get(client, f"ApplicationInformation/{tp.public_id}", token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml"
    assert response["Cache-Control"] == "no-store"
    data = body_of(response)
    assert_valid(data)
    tp.refresh_from_db()
    assert tp.client_secret.encode() not in data  # the stored hash does not leak
    assert secret.encode() not in tp.client_secret_sealed.encode()  # sealed, not stored in clear
    root = Feed.of(data).root
    info = root.xpath("//e:ApplicationInformation", namespaces=NS)[0]
    # RFC 7592 section 3: the registration read returns the client's secret and its registration token.
    assert info.findtext(f"{{{ESPI}}}client_secret") == secret
    assert info.findtext(f"{{{ESPI}}}registration_access_token") == token
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
    registration = registration_token_issue(third_party=tp)
    assert get(client, f"ApplicationInformation/{tp.public_id}", registration).status_code == 200
    # Another Third Party's id is the same 404 as an unknown one.
    theirs = get(client, f"ApplicationInformation/{other.public_id}", registration)
    unknown = get(client, "ApplicationInformation/0000000000000000", registration)
    assert theirs.status_code == unknown.status_code == 404
    assert body_of(theirs) == body_of(unknown)
    # Neither its access token nor its client token reads it (PRODUCT "Tokens and what each reaches").
    assert get(client, f"ApplicationInformation/{tp.public_id}", feed_world.tokens["alice"]).status_code == 403
    assert get(client, f"ApplicationInformation/{tp.public_id}", feed_world.tp_token).status_code == 403
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


def test_an_authorization_entry_of_the_client_token(client, feed_world):
    grants = feed_world.grants
    own = get(client, f"Authorization/{grants['alice'].public_id}", feed_world.tp_token)
    assert own.status_code == 200
    data = body_of(own)
    assert_valid(data)
    auth = Feed.of(data).root.xpath("//e:Authorization", namespaces=NS)[0]
    assert auth.findtext(f"{{{ESPI}}}resourceURI").endswith(f"/Batch/Subscription/{grants['alice'].subscription_id}")
    assert auth.findtext(f"{{{ESPI}}}authorizationURI").endswith(f"/Authorization/{grants['alice'].public_id}")
    assert auth.findtext(f"{{{ESPI}}}scope") == grants["alice"].scope
    # An access token reads no Authorization resource, not even its own grant's.
    token = feed_world.tokens["alice"]
    assert get(client, "Authorization", token).status_code == 403
    assert get(client, f"Authorization/{grants['alice'].public_id}", token).status_code == 403


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


@pytest.mark.parametrize("kind", ["client", "registration", "custodian"])
def test_read_service_status_answers_the_client_registration_and_custodian_tokens(client, feed_world, kind):
    token = {
        "client": feed_world.tp_token,
        "registration": registration_token_issue(third_party=feed_world.tp),
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


def test_read_service_status_refuses_an_access_token(client, feed_world):
    assert get(client, "ReadServiceStatus", feed_world.tokens["alice"]).status_code == 403


def test_read_service_status_needs_a_token(client, feed_world):
    response = get(client, "ReadServiceStatus")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    revoked = feed_world.tokens["bob_revoked"]
    assert get(client, "ReadServiceStatus", revoked).status_code == 401
