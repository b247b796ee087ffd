"""Per-Third-Party rate limits on the ESPI API: 429 with Retry-After past the limit per second, hour or day.

Real requests through the whole stack (the Django test client, and one live server on the real Redis
cache); the clock is the test clock, stopped where a test counts requests inside one second.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batch.regulator import Quarter, regulator_report
from custodian.models import AuditCount, AuditEvent
from grants.models import ThirdParty
from grants.services import third_party_update
from tests import factories
from tests.conftest import TEST_NOW

pytestmark = pytest.mark.django_db

RESOURCE = "/espi/1_1/resource/"
STATUS = RESOURCE + "ReadServiceStatus"


def _get(path: str, token: str):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def _limited(*, per_second: int = 1000, per_hour: int = 100_000, per_day: int = 1_000_000, name: str = "Solar Co"):
    third_party, _secret = factories.make_third_party(name=name)
    third_party_update(
        third_party=third_party,
        information={
            "rate_limit_per_second": per_second,
            "rate_limit_per_hour": per_hour,
            "rate_limit_per_day": per_day,
        },
    )
    return third_party, factories.make_client_token(third_party, scope="FB=35")


@pytest.fixture
def stopped():
    """Stop the clock 20 minutes into the test hour: every request of the test falls in the same second."""
    with time_machine.travel(TEST_NOW + timedelta(minutes=20), tick=False) as traveller:
        yield traveller


def test_the_default_limits_are_sensible_and_staff_can_change_them():
    third_party, _secret = factories.make_third_party()
    assert (third_party.rate_limit_per_second, third_party.rate_limit_per_hour, third_party.rate_limit_per_day) == (
        20,
        5_000,
        20_000,
    )


def test_past_the_default_per_second_limit_the_call_is_429_with_retry_after_in_the_error_shape(stopped):
    third_party, _secret = factories.make_third_party()
    token = factories.make_client_token(third_party, scope="FB=35")
    statuses = [_get(STATUS, token).status_code for _ in range(20)]
    assert statuses == [200] * 20
    refused = _get(STATUS, token)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    body = refused.json()
    assert body["error"] == "throttled"
    assert body["error_description"] == body["detail"] and "1 second" in body["detail"]
    stopped.shift(timedelta(seconds=1))
    assert _get(STATUS, token).status_code == 200


def test_the_limit_is_the_third_partys_across_its_tokens_and_endpoints(stopped):
    third_party, client_token = _limited(per_second=3)
    customer = factories.make_customer()
    point = factories.make_usage_point(customer=customer)
    grant = factories.make_grant(customer=customer, third_party=third_party, usage_points=[point])
    access_token = factories.make_access_token(grant)
    assert _get(STATUS, client_token).status_code == 200
    assert _get(f"{RESOURCE}Batch/Subscription/{grant.subscription_id}", access_token).status_code == 200
    assert _get(f"{RESOURCE}Authorization", client_token).status_code == 200
    assert _get(f"{RESOURCE}Batch/Subscription/{grant.subscription_id}", access_token).status_code == 429
    # A not-yours id is refused too once the limit is reached: the 429 comes before the lookup.
    assert _get(f"{RESOURCE}Batch/Subscription/not-a-subscription", access_token).status_code == 429
    # Another Third Party has its own allowance.
    _other, other_token = _limited(per_second=3, name="Meter Mates")
    assert _get(STATUS, other_token).status_code == 200


def test_a_batch_post_is_limited_like_a_get(stopped, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    third_party, token = _limited(per_second=1)
    factories.make_bulk_user(third_party=third_party, bulk_id="1")
    assert _get(STATUS, token).status_code == 200
    refused = Client().post(
        f"{RESOURCE}Batch/Bulk/1",
        data=b"<feed/>",
        content_type="application/atom+xml",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert refused.status_code == 429 and refused["Retry-After"] == "1"


def test_the_hour_limit_answers_with_the_seconds_left_in_the_hour(stopped):
    _tp, token = _limited(per_hour=2)
    assert [_get(STATUS, token).status_code for _ in range(2)] == [200, 200]
    refused = _get(STATUS, token)
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(40 * 60)  # the clock stands at :20
    stopped.shift(timedelta(minutes=40))
    assert _get(STATUS, token).status_code == 200


def test_the_day_limit_answers_with_the_seconds_left_in_the_utc_day(stopped):
    _tp, token = _limited(per_day=1)
    assert _get(STATUS, token).status_code == 200
    refused = _get(STATUS, token)
    assert refused.status_code == 429
    assert refused["Retry-After"] == str((24 - 14) * 3600 - 20 * 60)  # 14:20 UTC


def test_a_refused_call_uses_up_no_allowance(stopped):
    third_party, token = _limited(per_second=2, per_hour=4)
    assert [_get(STATUS, token).status_code for _ in range(5)] == [200, 200, 429, 429, 429]
    stopped.shift(timedelta(seconds=1))
    # Had the three refusals counted, the hour's four would be gone already.
    assert [_get(STATUS, token).status_code for _ in range(3)] == [200, 200, 429]
    assert _get(STATUS, token)["Retry-After"] == str(40 * 60 - 1)


def test_a_change_by_staff_takes_effect_on_the_next_call(stopped):
    third_party, token = _limited(per_second=1)
    assert _get(STATUS, token).status_code == 200
    assert _get(STATUS, token).status_code == 429
    third_party_update(third_party=third_party, information={"rate_limit_per_second": 5})
    assert _get(STATUS, token).status_code == 200


def test_the_utility_back_office_client_is_not_limited(stopped):
    custodian, _secret = factories.make_third_party(name="Back office", role=ThirdParty.Role.CUSTODIAN, scopes=())
    token = factories.make_client_token(custodian, scope="FB=45")
    assert [_get(STATUS, token).status_code for _ in range(25)] == [200] * 25


def test_refusals_are_counted_with_one_audit_row_per_hour_and_shown_in_the_regulator_report(stopped, admin_client):
    third_party, token = _limited(per_second=1)
    statuses = []
    for _second in range(3):
        statuses += [_get(STATUS, token).status_code for _ in range(4)]
        stopped.shift(timedelta(seconds=1))
    assert statuses == [200, 429, 429, 429] * 3
    events = AuditEvent.objects.filter(action=AuditEvent.Action.RATE_LIMITED, actor_client=third_party)
    assert events.count() == 1  # limiting started once in this hour, however many calls it refused
    assert events.get().detail == {"window": "second", "limit": 1, "retry_after": 1}
    assert AuditCount.objects.get(action=AuditEvent.Action.RATE_LIMITED, actor_client=third_party).count == 9
    stopped.shift(timedelta(minutes=40))  # the next clock hour (the token lasts an hour)
    assert [_get(STATUS, token).status_code for _ in range(2)] == [200, 429]
    assert events.count() == 2
    # One counter row for the day, whatever the number of refusals.
    assert AuditCount.objects.filter(actor_client=third_party).count() == 1

    report = regulator_report(quarter=Quarter.containing(timezone.now()))
    figures = {item.name: item.figures for item in report.by_third_party}
    assert figures["Solar Co"]["refused_rate_limit"] == 10
    page = admin_client.get(reverse("admin_regulator_report")).content.decode()
    assert '<th scope="col">requests refused for rate limit</th>' in page


@pytest.fixture
def redis_cache(settings):
    """The real Redis cache (``REDIS_URL``'s backend), under a key prefix of this test's own; its keys are deleted after."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    location = f"{url}/{os.environ.get('TEST_REDIS_CACHE_DB', os.environ.get('TEST_CELERY_RESULT_DB', '9'))}"
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:12]}"
    direct = redis.Redis.from_url(location)
    try:
        direct.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {location}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
        }
    }
    yield direct, prefix
    for key in direct.scan_iter(match=f"{prefix}:*"):
        direct.delete(key)


def test_on_the_real_redis_cache_over_http(redis_cache, live_server, stopped):
    direct, prefix = redis_cache
    _tp, token = _limited(per_second=2)

    def call() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(live_server.url + STATUS, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's own server
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    assert [call()[0] for _ in range(2)] == [200, 200]
    status, headers, body = call()
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(body)["error"] == "throttled"
    # The windows live in Redis (one counter per window), where every gunicorn worker counts.
    windows = sorted(key.decode() for key in direct.scan_iter(match=f"{prefix}:*ratelimit:espi-api:*"))
    assert [key.split(":")[4] for key in windows] == ["1", "3600", "86400"]
    assert [int(direct.get(key)) for key in windows] == [2, 2, 2]
