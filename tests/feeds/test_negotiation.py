"""Every ESPI GET answers the XML ``Accept`` values real clients send, HEAD, and a trailing slash (PRODUCT "Conformance")."""

from __future__ import annotations

import pytest

from custodian.negotiation import espi_media_type
from grants import services as grant_services
from tests import factories
from tests.feeds.conftest import RESOURCE, assert_valid, body_of

pytestmark = pytest.mark.django_db

ACCEPTS = {
    None: "application/atom+xml",
    "*/*": "application/atom+xml",
    "application/atom+xml": "application/atom+xml",
    "application/xml": "application/xml",
    "text/xml": "text/xml",
    "application/atom+xml; charset=utf-8": "application/atom+xml",
    "application/xml;charset=UTF-8": "application/xml",
    "text/xml; q=0.5, application/xml; q=0.9": "application/xml",
    "application/json;q=0.9, application/atom+xml;q=0.1": "application/atom+xml",
    "application/json, */*;q=0.1": "application/atom+xml",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": "application/xml",
    "application/*": "application/atom+xml",
    "": "application/atom+xml",
}


def espi_gets(feed_world) -> dict[str, tuple[str, str | None]]:
    """Every ESPI GET of the feed_world: name -> (path, token that reads it)."""
    grant = feed_world.grants["alice"]
    sub = grant.subscription_id
    point = feed_world.points["alice_home"]
    meter_reading = point.meter_readings.get()
    block = meter_reading.interval_blocks.order_by("start").last()
    up = f"Subscription/{sub}/UsagePoint/{point.public_id}"
    alice, client = feed_world.tokens["alice"], feed_world.tp_token
    registration = grant_services.third_party_registration_token_issue(third_party=feed_world.tp)
    return {
        "batch subscription": (f"Batch/Subscription/{sub}", alice),
        "batch bulk": ("Batch/Bulk/1", client),
        "batch retail customer": (
            f"Batch/RetailCustomer/{feed_world.customers['alice'].public_id}/UsagePoint",
            feed_world.custodian_token,
        ),
        "usage point list": (f"Subscription/{sub}/UsagePoint", alice),
        "usage point": (up, alice),
        "meter reading list": (f"{up}/MeterReading", alice),
        "meter reading": (f"{up}/MeterReading/{meter_reading.public_id}", alice),
        "interval block list": (f"{up}/MeterReading/{meter_reading.public_id}/IntervalBlock", alice),
        "interval block": (f"{up}/MeterReading/{meter_reading.public_id}/IntervalBlock/{block.public_id}", alice),
        "usage summary list": (f"{up}/UsageSummary", alice),
        "usage summary": (f"{up}/UsageSummary/{point.usage_summaries.get().public_id}", alice),
        "power quality list": (f"{up}/ElectricPowerQualitySummary", alice),
        "power quality": (
            f"{up}/ElectricPowerQualitySummary/{point.power_quality_summaries.get().public_id}",
            alice,
        ),
        "reading type": (f"ReadingType/{feed_world.reading_type.public_id}", alice),
        "local time parameters": (f"LocalTimeParameters/{feed_world.ltp.public_id}", alice),
        "authorization list": ("Authorization", client),
        "authorization": (f"Authorization/{grant.public_id}", client),
        "application information": (f"ApplicationInformation/{feed_world.tp.public_id}", registration),
        "read service status": ("ReadServiceStatus", client),
    }


def get(client, path: str, token: str | None, accept: str | None, method: str = "get"):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = getattr(client, method)(f"{RESOURCE}/{path}", **headers)
    response.body = b"".join(response.streaming_content) if response.streaming else response.content
    return response


@pytest.mark.parametrize("accept", list(ACCEPTS))
def test_every_espi_get_answers_every_xml_accept(client, feed_world, accept):
    for name, (path, token) in espi_gets(feed_world).items():
        response = get(client, path, token, accept)
        assert response.status_code == 200, (name, accept, response.body[:300])
        expected = ACCEPTS[accept]
        if name == "read service status":  # a plain XML document, never labelled Atom
            expected = "text/xml" if expected == "text/xml" else "application/xml"
        assert response["Content-Type"] == expected, (name, accept)
        if name != "read service status":
            assert_valid(body_of(response))


@pytest.mark.parametrize("accept", [None, "application/atom+xml", "application/xml", "text/xml;q=0.3", "*/*"])
def test_errors_answer_xml_accepts_as_json_never_406(client, feed_world, accept):
    for name, (path, _token) in espi_gets(feed_world).items():
        unauthenticated = get(client, path, None, accept)
        assert unauthenticated.status_code == 401, (name, accept)
        assert unauthenticated["Content-Type"] == "application/json"
        assert unauthenticated["WWW-Authenticate"].startswith("Bearer")
    missing = get(client, f"Subscription/{feed_world.grants['alice'].subscription_id}/UsagePoint/nope", None, accept)
    assert missing.status_code == 401
    not_found = get(
        client,
        f"Subscription/{feed_world.grants['alice'].subscription_id}/UsagePoint/nope",
        feed_world.tokens["alice"],
        accept,
    )
    assert not_found.status_code == 404
    assert not_found.json()["error"] == "not_found"
    bad_query = get(client, f"Batch/Subscription/{feed_world.grants['alice'].subscription_id}?depth=All", None, accept)
    assert bad_query.status_code == 401


def test_application_json_alone_is_406_with_the_types_on_offer(client, feed_world):
    """Atom is never sent to a client that accepts JSON only (RFC 9110 section 15.5.7)."""
    for name, (path, token) in espi_gets(feed_world).items():
        for accept in ("application/json", "application/json, text/html;q=0.5", "application/xml;q=0"):
            response = get(client, path, token, accept)
            assert response.status_code == 406, (name, accept)
            assert response["Content-Type"] == "application/json"
            body = response.json()
            assert body["error"] == "not_acceptable"
            assert "application/xml" in body["detail"]


def test_head_answers_wherever_get_does_with_the_same_headers_and_no_body(client, feed_world):
    factories.allow_bursts(feed_world.tp)  # every ESPI GET twice, in a burst
    for name, (path, token) in espi_gets(feed_world).items():
        full = get(client, path, token, "application/atom+xml")
        head = get(client, path, token, "application/atom+xml", method="head")
        assert head.status_code == 200, name
        assert head["Content-Type"] == full["Content-Type"]
        assert head.body == b""
    assert get(client, espi_gets(feed_world)["batch bulk"][0], None, None, method="head").status_code == 401


def test_every_espi_url_answers_with_a_trailing_slash(client, feed_world):
    factories.allow_bursts(feed_world.tp)  # every ESPI GET twice, in a burst
    for name, (path, token) in espi_gets(feed_world).items():
        plain = get(client, path, token, None)
        slashed = get(client, path + "/", token, None)
        assert slashed.status_code == plain.status_code == 200, name
        assert slashed["Content-Type"] == plain["Content-Type"]
    # Two slashes is not the same URL, and an unknown path stays a 404.
    assert get(client, "Authorization//", feed_world.tp_token, None).status_code == 404
    assert get(client, "Nothing/", feed_world.tp_token, None).status_code == 404


def test_accept_parsing_is_forgiving_and_strict_where_it_must_be():
    assert espi_media_type(accept="garbage") == "application/atom+xml"  # no readable range: as absent
    assert espi_media_type(accept="application/xml;q=oops, application/json") is None
    assert espi_media_type(accept="APPLICATION/ATOM+XML") == "application/atom+xml"
    assert espi_media_type(accept="*/*;q=0, text/xml") == "text/xml"
    assert espi_media_type(accept="application/atom+xml", produces=("application/xml",)) == "application/xml"


def test_errors_carry_an_error_description_and_the_rfc_6750_challenge(client, feed_world):
    sub = feed_world.grants["alice"].subscription_id
    wrong_kind = get(client, f"Batch/Subscription/{sub}", feed_world.tp_token, "application/atom+xml")
    assert wrong_kind.status_code == 403
    assert wrong_kind.json()["error_description"]
    challenge = wrong_kind["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="espi", error="insufficient_scope", error_description="')
    bad_token = get(client, f"Batch/Subscription/{sub}", "not-a-token", "application/atom+xml")
    assert bad_token.status_code == 401
    assert 'error="invalid_token"' in bad_token["WWW-Authenticate"]
    assert "error_description=" in bad_token["WWW-Authenticate"]
    assert bad_token.json()["error_description"]
    bad_query = get(client, f"Batch/Subscription/{sub}?depth=All", feed_world.tokens["alice"], None)
    assert bad_query.status_code == 400
    assert bad_query.json()["error_description"] == bad_query.json()["detail"]
