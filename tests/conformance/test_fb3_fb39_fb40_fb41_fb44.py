"""FB 3 registration and Authorization reads (FND001-FND004, CERT001-CERT003), FB 35 with a registration
token (RBK003), notifications (FB 39: PSH001-PSH004), offline authorization (FB 40: OFA001) and the
management interfaces (FB 41: MGA001-MGA003, FB 44: MGT001-MGT003), driven as the CMD harness drives them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from custodian.models import RetailCustomer, UsagePoint
from grants.models import Grant, Notification, ThirdParty
from grants.notifications import notification_deliver_due
from grants.services import grant_record_offline, third_party_update
from tests.conformance.conftest import harness_get
from tests.notifications.conftest import receiver  # noqa: F401 - the Third Party's loopback notify URI

NS = {"a": ATOM, "e": ESPI}
CERTIFICATE = "https://cert.greenbuttonalliance.org/certificate/"
AUTHORIZATION_FIELDS = {
    "authorizedPeriod",
    "publishedPeriod",
    "status",
    "expires_at",
    "scope",
    "token_type",
    "resourceURI",
    "authorizationURI",
}


def document(response):
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert validate_document(response.content, strict_links=True) == []
    return parse_small_document(response.content)


def child_names(element) -> set[str]:
    return {child.tag.rpartition("}")[2] for child in element if isinstance(child.tag, str)}


def harness_send(method: str, url: str, token: str | None, body: bytes = b""):
    headers = {"Content-Type": "application/atom+xml", "Accept": "application/atom+xml"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, url, data=body, headers=headers, timeout=30)


# ---- FND001-FND004: registration token, ApplicationInformation, Authorization feed and entry ----------


def test_FND001_registration_and_client_tokens_and_the_scope_selection_screen(portal, party):
    registration = party.registration_token()
    assert registration["scope"] == "FB=36_40"
    assert registration["resourceURI"].startswith(portal.resource("ApplicationInformation/"))
    assert "refresh_token" not in registration
    client = party.client_token()
    assert client["access_token"] != registration["access_token"]
    info = document(harness_get(registration["resourceURI"], registration["access_token"]))
    [screen] = info.xpath("//e:ApplicationInformation/e:dataCustodianScopeSelectionScreenURI/text()", namespaces=NS)
    assert screen == f"{portal.url}/oauth/scope-selection"
    # The screen answers the ESPI call (the Third Party's client id as ThirdPartyID): on to its own screen.
    ThirdParty.objects.filter(client_id=party.client_id).update(scope_selection_uri="https://tp.example/scopes")
    response = requests.get(screen, params={"ThirdPartyID": party.client_id}, allow_redirects=False, timeout=30)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://tp.example/scopes?scope=FB%3D")


def test_FND002_application_information_read_with_the_registration_token(portal, party):
    registration = party.registration_token()
    info = document(harness_get(registration["resourceURI"], registration["access_token"]))
    [element] = info.xpath("//e:ApplicationInformation", namespaces=NS)
    assert element.findtext(f"{{{ESPI}}}dataCustodianApplicationStatus") in {"1", "2", "3", "4"}
    assert element.findtext(f"{{{ESPI}}}token_endpoint_auth_method") == "client_secret_basic"
    grant_types = {el.text for el in element.findall(f"{{{ESPI}}}grant_types")}
    assert {"authorization_code", "client_credentials", "refresh_token"} <= grant_types
    assert [el.text for el in element.findall(f"{{{ESPI}}}response_types")] == ["code"]
    # The harness copies client_secret out of it (RFC 7592 read): it is the secret that works.
    assert element.findtext(f"{{{ESPI}}}client_id") == party.client_id
    assert element.findtext(f"{{{ESPI}}}client_secret") == party.client_secret
    # Read with a client token it is 403; the secret is never shown to any other token.
    assert harness_get(registration["resourceURI"], party.client_token()["access_token"]).status_code == 403


def test_FND003_FND004_authorization_feed_and_entry_with_the_client_token(portal, party):
    access = party.access_token()
    client = party.client_token()["access_token"]
    url = access["authorizationURI"].rsplit("/", 1)[0] + "/"  # cut from authorizationURI, ending in "/"
    feed = document(harness_get(url, client))
    authorizations = feed.xpath("//a:entry/a:content/e:Authorization", namespaces=NS)
    assert authorizations
    mine = [a for a in authorizations if a.findtext(f"{{{ESPI}}}authorizationURI") == access["authorizationURI"]]
    assert len(mine) == 1
    for authorization in authorizations:
        assert AUTHORIZATION_FIELDS - {"publishedPeriod"} <= child_names(authorization)
    assert child_names(mine[0]) >= AUTHORIZATION_FIELDS
    assert mine[0].findtext(f"{{{ESPI}}}resourceURI") == access["resourceURI"]
    entry = document(harness_get(access["authorizationURI"], client))
    [authorization] = entry.xpath("/a:entry/a:content/e:Authorization", namespaces=NS)
    assert child_names(authorization) >= AUTHORIZATION_FIELDS
    assert authorization.findtext(f"{{{ESPI}}}status") == "1"
    assert authorization.findtext(f"{{{ESPI}}}scope") == access["scope"]
    # Only this Third Party's Authorizations are in its feed.
    others = {g["id"] for g in portal.demo["grants"] if g["client_id"] != party.client_id}
    ids = {uri.rsplit("/", 1)[1] for uri in feed.xpath("//e:authorizationURI/text()", namespaces=NS)}
    assert not ids & others


# ---- CERT001-CERT003: the certification link ---------------------------------------------------------


def test_CERT001_CERT003_one_certification_link_in_each_authorization_resource(portal, party, settings):
    settings.GBA_CERTIFICATION_ID = "1234567890"
    link = f"{CERTIFICATE}1234567890"
    access = party.access_token()
    client = party.client_token()["access_token"]
    registration = party.registration_token()
    for name, url, token, path in (
        ("CERT001 ApplicationInformation", registration["resourceURI"], registration["access_token"], "/a:entry"),
        ("CERT002 Authorization feed", portal.resource("Authorization"), client, "/a:feed"),
        ("CERT003 Authorization entry", access["authorizationURI"], client, "/a:entry"),
    ):
        root = document(harness_get(url, token))
        hrefs = root.xpath(f"{path}/a:link[@rel='related']/@href", namespaces=NS)
        assert [href for href in hrefs if href.startswith(CERTIFICATE)] == [link], name
        # In the feed, each Authorization entry carries its own (CERT003 reads entries one by one).
        for entry in root.xpath("/a:feed/a:entry", namespaces=NS):
            own = [h for h in entry.xpath("a:link/@href", namespaces=NS) if h.startswith(CERTIFICATE)]
            assert own == [link], name


# ---- RBK003: bulk GET with a registration token ------------------------------------------------------


def test_RBK003_bulk_get_with_a_registration_token_is_403(portal, espi_party):
    registration = espi_party.registration_token()["access_token"]
    response = harness_get(portal.resource(f"Batch/Bulk/{espi_party.bulk_ids[0]}"), registration)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"


# ---- PSH001-PSH004: notifications --------------------------------------------------------------------


@pytest.fixture
def notified(portal, party, receiver, settings):  # noqa: F811
    """The party's notify URI is a loopback receiver (plain http, so DEBUG); returns it."""
    settings.DEBUG = True
    ThirdParty.objects.filter(client_id=party.client_id).update(notify_uri=receiver.uri())
    return receiver


def delivered_uris(receiver) -> list[str]:  # noqa: F811
    assert notification_deliver_due().posts >= 1
    uris = []
    for body in receiver.bodies():
        root = parse_small_document(body)
        assert root.tag == f"{{{ESPI}}}BatchList"
        uris += [child.text for child in root]
    return uris


def test_PSH001_a_changed_application_information_is_notified_and_readable(portal, party, notified):
    third_party = ThirdParty.objects.get(client_id=party.client_id)
    third_party_update(third_party=third_party, information={"phone": "+1 555 0199"})
    registration = party.registration_token()
    [uri] = delivered_uris(notified)
    assert uri == registration["resourceURI"]
    info = document(harness_get(uri, registration["access_token"]))
    assert info.xpath("//e:thirdPartyPhone/text()", namespaces=NS) == ["+1 555 0199"]


def test_PSH002_PSH003_a_new_authorization_and_its_subscription_are_notified_and_readable(portal, party, notified):
    access = party.access_token()
    uris = delivered_uris(notified)
    assert access["authorizationURI"] in uris
    # Alice's earlier grant to the same Third Party was replaced: it is announced too, as revoked.
    [subscription] = [uri for uri in uris if uri.split("?", 1)[0] == access["resourceURI"]]
    document(harness_get(access["authorizationURI"], party.client_token()["access_token"]))  # PSH002
    feed = document(harness_get(subscription, access["access_token"]))  # PSH003, query string kept
    assert feed.xpath("//e:UsagePoint", namespaces=NS)


def test_PSH004_a_failed_notification_is_detected_and_recorded(portal, party, notified):
    notified.status = 503
    third_party = ThirdParty.objects.get(client_id=party.client_id)
    third_party_update(third_party=third_party, information={"phone": "+1 555 0100"})
    report = notification_deliver_due()
    assert len(notified.bodies()) == 1
    row = Notification.objects.get(third_party=third_party, kind=Notification.Kind.APPLICATION_INFORMATION_CHANGED)
    assert row.status == Notification.Status.PENDING and row.attempts == 1 and row.last_status == 503
    assert row.next_attempt_at > row.last_attempt_at and row.delivered_at is None
    assert report.posts == 1
    # Retried later, and recorded as delivered when the Third Party answers.
    notified.status = 200
    notification_deliver_due(now=row.next_attempt_at + timedelta(seconds=1))
    row.refresh_from_db()
    assert row.status == Notification.Status.DELIVERED and row.attempts == 2


# ---- OFA001: offline authorization --------------------------------------------------------------------


def test_OFA001_a_paper_authorization_has_its_application_information_and_authorization(portal, party):
    carol = RetailCustomer.objects.get(user__username="carol")
    third_party = ThirdParty.objects.get(client_id=party.client_id)
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    recorded = grant_record_offline(
        customer=carol,
        third_party=third_party,
        usage_points=UsagePoint.objects.filter(customer=carol),
        scope=party.scope,
        authorized_end=timezone.now() + timedelta(days=90),
        evidence_reference="PAPER-OFA001",
        signed_on=today,
    )
    registration = party.registration_token()
    document(harness_get(registration["resourceURI"], registration["access_token"]))
    client = party.client_token()["access_token"]
    feed = document(harness_get(portal.resource("Authorization"), client))
    uri = portal.resource(f"Authorization/{recorded.grant.public_id}")
    assert uri in feed.xpath("//e:authorizationURI/text()", namespaces=NS)
    entry = document(harness_get(uri, client))
    assert entry.xpath("//e:Authorization/e:status/text()", namespaces=NS) == ["1"]
    [resource] = entry.xpath("//e:Authorization/e:resourceURI/text()", namespaces=NS)
    data = document(harness_get(resource, recorded.access_token))
    assert data.xpath("//e:UsagePoint", namespaces=NS)
    # The refresh token handed over with it works like one from an online consent.
    refreshed = party.token({"grant_type": "refresh_token", "refresh_token": recorded.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["authorizationURI"] == uri


# ---- MGA001-MGA003 (FB 41) and MGT001-MGT003 (FB 44): the management interfaces -----------------------


def test_MGA001_MGA003_delete_authorization_with_the_client_token_only(portal, party):
    access = party.access_token()
    client = party.client_token()["access_token"]
    registration = party.registration_token()["access_token"]
    url = access["authorizationURI"]
    # MGA003: any other token, or none, is refused and changes nothing.
    assert harness_send("DELETE", url, access["access_token"]).status_code == 403
    assert harness_send("DELETE", url, registration).status_code == 403
    assert harness_send("DELETE", url, None).status_code == 401
    other = next(p for p in portal.demo["third_parties"] if p["client_id"] != party.client_id)
    theirs = requests.post(
        f"{portal.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(other["client_id"], other["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    assert harness_send("DELETE", url, theirs).status_code == 404
    assert harness_get(access["resourceURI"], access["access_token"]).status_code == 200
    # MGA002: PUT Authorization is not offered (a customer's consent is changed by the customer only).
    assert harness_send("PUT", url, client, b"<entry xmlns='http://www.w3.org/2005/Atom'/>").status_code == 405
    # MGA001: DELETE with the client token revokes, as a customer revoke does.
    assert harness_send("DELETE", url, client).status_code == 204
    assert harness_get(access["resourceURI"], access["access_token"]).status_code == 401
    entry = document(harness_get(url, client))
    assert entry.xpath("//e:Authorization/e:status/text()", namespaces=NS) == ["0"]
    assert Grant.objects.get(public_id=url.rsplit("/", 1)[1]).status == Grant.Status.REVOKED


def test_MGT001_MGT003_put_and_delete_application_information_with_the_registration_token(portal, party):
    registration = party.registration_token()
    url, token = registration["resourceURI"], registration["access_token"]
    client = party.client_token()["access_token"]
    current = harness_get(url, token).content
    root = parse_small_document(current)
    [name] = root.xpath("//e:ApplicationInformation/e:client_name/text()", namespaces=NS)
    changed = current.replace(f"<client_name>{name}</client_name>".encode(), b"<client_name>Renamed Co</client_name>")
    assert changed != current
    # MGT003: not with the client token, an access token, or none.
    assert harness_send("PUT", url, client, changed).status_code == 403
    assert harness_send("DELETE", url, client).status_code == 403
    assert harness_send("PUT", url, None, changed).status_code == 401
    # MGT001: PUT with the registration token changes it.
    response = harness_send("PUT", url, token, changed)
    assert response.status_code == 200, response.text[:300]
    assert validate_document(response.content, strict_links=True) == []
    assert document(harness_get(url, token)).xpath("//e:client_name/text()", namespaces=NS) == ["Renamed Co"]
    # MGT002: DELETE with the registration token deregisters: the Third Party is revoked, its tokens stop.
    assert harness_send("DELETE", url, token).status_code == 204
    assert ThirdParty.objects.get(client_id=party.client_id).lifecycle == ThirdParty.Lifecycle.REVOKED
    assert harness_get(url, token).status_code == 401
    assert harness_get(portal.resource("Authorization"), client).status_code == 401
