"""FB 3 (Core Green Button Connect My Data) as the CMD harness runs it: FND005, FND006, and CERT004 of FB 1."""

from __future__ import annotations

import gzip

import requests

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from tests.conformance.conftest import HARNESS_HEADERS, OLD_HARNESS_HEADERS, harness_get

NS = {"a": ATOM, "e": ESPI}
CERTIFICATE = "https://cert.greenbuttonalliance.org/certificate/"


def content_kinds(root) -> set[str]:
    return {el.tag.split("}")[1] for el in root.xpath("//a:entry/a:content/*", namespaces=NS)}


def test_FND005_batch_subscription_with_the_access_token(portal):
    grant = portal.grant()
    response = harness_get(
        grant_uri := portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"]
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml"
    assert validate_document(response.content, strict_links=True) == []
    root = parse_small_document(response.content)
    assert root.xpath("/a:feed/a:link[@rel='self']/@href", namespaces=NS) == [grant_uri]
    kinds = content_kinds(root)
    assert "UsagePoint" in kinds
    # Every function block of the grant's scope that carries data: FB 4 interval data, FB 15 usage
    # summaries, FB 17 power quality (FB 1 and 3: UsagePoint, MeterReading, ReadingType, LocalTimeParameters).
    assert {"MeterReading", "ReadingType", "LocalTimeParameters", "IntervalBlock"} <= kinds
    assert "FB=1_3_4_5_13_14_15_17" in grant["scope"]
    assert {"UsageSummary", "ElectricPowerQualitySummary"} <= kinds
    # The older steps: no Accept, a Content-Type on the GET; the same feed, never 406 or 415.
    old = harness_get(grant_uri, grant["access_token"], headers=OLD_HARNESS_HEADERS)
    assert old.status_code == 200
    assert content_kinds(parse_small_document(old.content)) == kinds


def test_FND006_read_service_status_current_status_1(portal):
    third_party = next(tp for tp in portal.demo["third_parties"] if tp["bulk_ids"])
    token = portal.client_token(third_party["client_id"], third_party["client_secret"])["access_token"]
    for headers in (None, OLD_HARNESS_HEADERS):
        response = harness_get(portal.resource("ReadServiceStatus"), token, headers=headers)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/xml"
        assert validate_document(response.content, strict_links=True) == []
        root = parse_small_document(response.content)
        assert root.tag == f"{{{ESPI}}}ServiceStatus"
        assert root.findtext(f"{{{ESPI}}}currentStatus") == "1"


def test_CERT004_batch_subscription_feed_carries_the_certification_link_once(portal, settings):
    grant = portal.grant()
    url = portal.resource(f"Batch/Subscription/{grant['subscription_id']}")
    root = parse_small_document(harness_get(url, grant["access_token"]).content)
    assert not [href for href in root.xpath("//a:link/@href", namespaces=NS) if href.startswith(CERTIFICATE)]
    settings.GBA_CERTIFICATION_ID = "1234567890"
    response = harness_get(url, grant["access_token"])
    assert validate_document(response.content, strict_links=True) == []
    root = parse_small_document(response.content)
    assert root.xpath("/a:feed/a:link[@rel='related']/@href", namespaces=NS) == [f"{CERTIFICATE}1234567890"]
    assert len([h for h in root.xpath("//a:link/@href", namespaces=NS) if h.startswith(CERTIFICATE)]) == 1


def test_harness_headers_gzip_is_understood(portal):
    """``Accept-Encoding: gzip,deflate`` is honoured or ignored; either way the body reads back as the feed."""
    grant = portal.grant()
    response = harness_get(
        portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"], stream=True
    )
    raw = response.raw.read()
    body = gzip.decompress(raw) if response.headers.get("Content-Encoding") == "gzip" else raw
    assert validate_document(body, strict_links=True) == []


def test_head_and_trailing_slash_over_http(portal):
    """HEAD answers like GET with no body, and a URL cut from ``authorizationURI`` may end in ``/``."""
    grant = portal.grant()
    third_party = portal.third_party(grant["client_id"])
    client_token = portal.client_token(third_party["client_id"], third_party["client_secret"])["access_token"]
    for url, token in (
        (portal.resource(f"Batch/Subscription/{grant['subscription_id']}/"), grant["access_token"]),
        (portal.resource("Authorization/"), client_token),
        (portal.resource(f"Authorization/{grant['id']}/"), client_token),
        (portal.resource("ReadServiceStatus/"), client_token),
    ):
        got = harness_get(url, token)
        assert got.status_code == 200, url
        head = requests.head(url, headers={**HARNESS_HEADERS, "Authorization": f"Bearer {token}"}, timeout=30)
        assert head.status_code == 200, url
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
        assert head.content == b""
