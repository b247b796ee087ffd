"""Dates are the utility's local days: "until 1 November 2026" runs through the end of that day there.

The utility here is in New York, and both chosen days are the day daylight-saving time ends or
starts, so a period computed in UTC, or by adding 24 hours, would be off by an hour or a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.formats import date_format

from custodian.espi.parser import parse_small_document
from custodian.local_dates import end_of_local_day, last_local_day
from grants import services
from grants.models import Grant
from tests import factories
from tests.grants.oauth_helpers import approve, client_credentials

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"


@pytest.fixture(autouse=True)
def _new_york(settings):
    settings.TIME_ZONE = "America/New_York"


@pytest.mark.parametrize(
    ("day", "end_utc"),
    [
        (date(2026, 11, 1), datetime(2026, 11, 2, 5, 0, tzinfo=UTC)),  # EDT -> EST that day: ends at 00:00 EST
        (date(2027, 3, 14), datetime(2027, 3, 15, 4, 0, tzinfo=UTC)),  # EST -> EDT that day: ends at 00:00 EDT
        (date(2027, 6, 30), datetime(2027, 7, 1, 4, 0, tzinfo=UTC)),
    ],
)
def test_end_of_local_day_and_back(day, end_utc):
    assert end_of_local_day(day) == end_utc
    assert last_local_day(end_utc) == day


@pytest.mark.parametrize("until", [date(2026, 11, 1), date(2027, 3, 14)])
def test_until_a_dst_day_means_through_its_end_everywhere(client, customer_client, customer, tp, two_points, until):
    approve(
        customer_client, third_party=tp.third_party, usage_points=two_points, scope=factories.DEFAULT_SCOPE, until=until
    )
    grant = Grant.objects.get(customer=customer)
    assert grant.authorized_end == end_of_local_day(until)

    page = customer_client.get("/grants/").content.decode()
    assert f"until {date_format(until, 'DATE_FORMAT')} (through the end of that day)" in page
    assert f"until {date_format(until + timedelta(days=1), 'DATE_FORMAT')}" not in page

    token = client_credentials(client, client_id=tp.client_id, secret=tp.secret, scope="FB=3_35").json()["access_token"]
    feed = client.get(f"/espi/1_1/resource/Authorization/{grant.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert feed.status_code == 200, feed.content[:300]
    entry = parse_small_document(b"".join(feed.streaming_content))
    period = entry.find(f".//{ESPI}authorizedPeriod")
    start, duration = int(period.findtext(f"{ESPI}start")), int(period.findtext(f"{ESPI}duration"))
    assert start + duration == int(end_of_local_day(until).timestamp())
    title = entry.findtext(f"{ATOM}title")
    assert "your electricity use every 15 minutes" in title
    assert "until " in title and str(until.year) in title

    end = grant.authorized_end
    services.grant_expire_due(now=end - timedelta(seconds=1))
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    services.grant_expire_due(now=end)
    grant.refresh_from_db()
    assert grant.status == Grant.Status.EXPIRED


def test_times_are_shown_in_local_time_with_the_zone(customer_client, customer, tp, two_points):
    grant = factories.make_grant(customer=customer, third_party=tp.third_party, usage_points=two_points)
    services.grant_revoke(grant=grant, reason="test")
    grant.refresh_from_db()
    page = customer_client.get("/grants/").content.decode()
    local = grant.revoked_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%H:%M} EDT" in page
