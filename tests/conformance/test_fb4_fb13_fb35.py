"""FB 4 (interval metering), FB 13 (security: TC010, TC011 as far as loopback allows), FB 35 (bulk: RBK001-004),
and the query parameters of FB 37 (QRY001, QRY002), driven as the CMD harness drives them."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

import pytest
import requests

from custodian.espi.namespaces import ATOM, ESPI
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from custodian.models import IntervalBlock, RetailCustomer, UsagePoint
from custodian.readings import readings_unpack
from grants.models import ThirdParty
from grants.notifications import notification_deliver_due, notification_enqueue_for_usage_points
from tests.conformance.conftest import harness_get
from tests.notifications.conftest import receiver  # noqa: F401 - the Third Party's loopback notify URI

NS = {"a": ATOM, "e": ESPI}


def feed_of(response):
    assert response.status_code == 200, response.text[:300]
    assert validate_document(response.content, strict_links=True) == []
    return parse_small_document(response.content)


def test_FB4_interval_blocks_carry_every_reading_of_the_grant_with_the_portals_sums(portal):
    grant = portal.grant()
    root = feed_of(
        harness_get(portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"])
    )
    blocks = root.xpath("//a:entry/a:content/e:IntervalBlock", namespaces=NS)
    assert blocks
    served = {}
    for block in blocks:
        start = int(block.findtext("e:interval/e:start", namespaces=NS))
        duration = int(block.findtext("e:interval/e:duration", namespaces=NS))
        readings = block.findall(f"{{{ESPI}}}IntervalReading")
        assert readings
        for reading in readings:
            at = int(reading.findtext("e:timePeriod/e:start", namespaces=NS))
            assert start <= at < start + duration
        served[start] = sum(int(r.findtext(f"{{{ESPI}}}value")) for r in readings)
    stored = {
        block.start: sum(row[2] for row in readings_unpack(block.readings))
        for block in IntervalBlock.objects.filter(meter_reading__usage_point__public_id__in=grant["usage_points"])
    }
    assert served == stored


def test_QRY001_published_min_max_return_fewer_interval_blocks(portal):
    grant = portal.grant()
    url = portal.resource(f"Batch/Subscription/{grant['subscription_id']}")
    everything = feed_of(harness_get(url, grant["access_token"])).xpath("//e:IntervalBlock", namespaces=NS)
    published = sorted(
        {
            entry.findtext(f"{{{ATOM}}}published")
            for entry in feed_of(harness_get(url, grant["access_token"])).xpath(
                "//a:entry[a:content/e:IntervalBlock]", namespaces=NS
            )
        }
    )
    assert len(published) >= 2
    window = {"published-min": published[-1].replace("+00:00", "Z"), "published-max": "2999-01-01T00:00:00Z"}
    fewer = feed_of(harness_get(url, grant["access_token"], params=window)).xpath("//e:IntervalBlock", namespaces=NS)
    assert 0 < len(fewer) < len(everything)


@pytest.mark.parametrize(
    "name", ["published-min", "published-max", "updated-min", "updated-max", "max-results", "start-index", "depth"]
)
def test_QRY002_malformed_query_values_are_400(portal, name):
    grant = portal.grant()
    url = portal.resource(f"Batch/Subscription/{grant['subscription_id']}")
    values = ["All", "03/01/2016"] if name.endswith(("-min", "-max")) else ["All"]
    for value in values:
        response = harness_get(url, grant["access_token"], params={name: value})
        assert response.status_code == 400, (name, value)
        assert response.json()["parameter"] == name


def test_TC010_ids_in_urls_are_opaque_with_at_least_48_random_bits(portal):
    grant = portal.grant()
    root = feed_of(
        harness_get(portal.resource(f"Batch/Subscription/{grant['subscription_id']}"), grant["access_token"])
    )
    hrefs = root.xpath("//a:link/@href", namespaces=NS)
    segments = set()
    for href in hrefs:
        parts = urlsplit(href).path.split("/")
        segments |= {parts[i + 1] for i, part in enumerate(parts[:-1]) if part[:1].isupper() and parts[i + 1]}
    segments -= {"Subscription", "UsagePoint", "MeterReading", "IntervalBlock", "ReadingType", "LocalTimeParameters"}
    segments -= {"UsageSummary", "ElectricPowerQualitySummary"}
    ids = segments | {grant["subscription_id"], grant["id"], *grant["usage_points"]}
    assert len(ids) >= 5
    for value in ids:
        assert re.fullmatch(r"[0-9a-f]{16,}", value), value  # hex: 4 bits a character
        assert len(value) * 4 >= 48
    numbers = sorted(int(value, 16) for value in ids)
    assert min(b - a for a, b in zip(numbers, numbers[1:], strict=False)) > 1  # nothing sequential
    personal = set()
    for customer in RetailCustomer.objects.select_related("user"):
        personal |= {customer.user.username, customer.user.email, customer.name}
    for value in ids:
        assert not any(word and word.lower() in value.lower() for word in personal), value


def test_TC011_tokens_are_opaque_random_and_carry_no_customer_data(portal):
    """Loopback: TLS is the deployment's (``check --deploy``); what the portal decides is the token itself."""
    grant = portal.grant()
    third_party = portal.third_party(grant["client_id"])
    tokens = [grant["access_token"], *(g["access_token"] for g in portal.demo["grants"] if g is not grant)]
    issued = portal.client_token(third_party["client_id"], third_party["client_secret"])
    tokens.append(issued["access_token"])
    assert len(set(tokens)) == len(tokens)
    names = {c["username"] for c in portal.demo["customers"]} | {
        c["retail_customer_id"] for c in portal.demo["customers"]
    }
    for token in tokens:
        alphabet = 64 if re.fullmatch(r"[A-Za-z0-9_\-]+", token) else 95
        assert len(token) * math.log2(alphabet) >= 48 and len(token) >= 20, token
        assert not any(name in token for name in names)
        assert "." not in token.strip("."), "a JWT would carry its claims in clear"
    # A token is never accepted in the URL query, where logs keep it (RFC 6750 section 2.3).
    url = portal.resource(f"Batch/Subscription/{grant['subscription_id']}")
    assert requests.get(url, params={"access_token": grant["access_token"]}, timeout=30).status_code == 401


@pytest.fixture
def bulk_party(portal, receiver, settings):  # noqa: F811
    """The demo's bulk Third Party, notified at a loopback receiver, and its client token."""
    settings.DEBUG = True  # plain-http notify URI on loopback
    demo = next(tp for tp in portal.demo["third_parties"] if tp["bulk_ids"])
    ThirdParty.objects.filter(client_id=demo["client_id"]).update(notify_uri=receiver.uri())
    token = portal.client_token(demo["client_id"], demo["client_secret"])["access_token"]
    return demo, token


def test_RBK001_bulk_batch_list_is_fetched_with_the_client_token(portal, receiver, bulk_party):  # noqa: F811
    demo, token = bulk_party
    bulk_grants = [g for g in portal.demo["grants"] if g["client_id"] == demo["client_id"] and g["bulk_id"]]
    active = [g for g in bulk_grants if g["status"] == "active"]
    assert active
    ids = UsagePoint.objects.filter(public_id__in=[up for g in active for up in g["usage_points"]])
    notification_enqueue_for_usage_points(usage_point_ids=list(ids.values_list("pk", flat=True)))
    report = notification_deliver_due()
    assert report.posts == 1
    [posted] = receiver.received
    uris = [child.text for child in parse_small_document(posted.body)]
    bulk_uris = [uri for uri in uris if "/Batch/Bulk/" in uri]
    assert bulk_uris
    # Every entry but ReadingType/LocalTimeParameters lives under some Authorization's resourceURI minus /Batch.
    authorizations = feed_of(harness_get(portal.resource("Authorization"), token))
    prefixes = [
        uri.replace("/Batch/Subscription/", "/Subscription/")
        for uri in authorizations.xpath("//e:Authorization/e:resourceURI/text()", namespaces=NS)
        if "/Batch/Subscription/" in uri
    ]
    assert prefixes
    for uri in bulk_uris:
        root = feed_of(harness_get(uri, token))
        entries = root.xpath("/a:feed/a:entry", namespaces=NS)
        assert entries
        for entry in entries:
            kind = entry.find("a:content/*", namespaces=NS).tag.split("}")[1]
            if kind in ("ReadingType", "LocalTimeParameters"):
                continue
            [own] = entry.xpath("a:link[@rel='self']/@href", namespaces=NS)
            assert any(own.startswith(prefix + "/") for prefix in prefixes), own


@pytest.mark.parametrize("kind", ["access", "none"])
def test_RBK002_RBK004_bulk_get_with_an_access_token_or_none_is_refused(portal, kind):
    """RBK003 (a registration token) comes with the registration token itself (OAuth side)."""
    bulk = next(tp for tp in portal.demo["third_parties"] if tp["bulk_ids"])
    url = portal.resource(f"Batch/Bulk/{bulk['bulk_ids'][0]}")
    token = None
    if kind == "access":  # RBK002
        token = next(g for g in portal.demo["grants"] if g["status"] == "active" and g["bulk_id"])["access_token"]
    response = harness_get(url, token)
    assert response.status_code == (403 if token else 401), (kind, response.status_code)
    assert response.headers["Content-Type"] == "application/json"
