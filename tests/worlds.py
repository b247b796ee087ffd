"""The tests' worlds, typed: what the ESPI GET side reads (``feed_world``), what a batch POST writes to (``upload_world``), the one grant the lock-order races fight over (``RaceWorld``), and one customer's own records (``RecordsWorld``).

Each is built in one place (the fixtures of ``tests/feeds/conftest.py`` and ``tests/batch/conftest.py``;
``build_race_world`` in ``tests/faults/test_lock_order.py``, outside any fixture transaction;
``records_world`` in ``tests/feeds/test_customer_records_api.py``) and read
by attribute (``feed_world.points["alice_home"]``, ``upload_world.a1``). Shared names mean the same
thing in both: ``tp`` is the Third Party in Production with bulks 1 and 10, ``tp_token`` its client
token, ``custodian`` the utility's back-office client and ``custodian_token`` its token.
"""

from __future__ import annotations

from dataclasses import dataclass

from custodian.models import CustomerRecord, LocalTimeParameters, ReadingType, RetailCustomer, UsagePoint
from grants.models import BulkUser, Grant, ThirdParty


@dataclass(frozen=True)
class FeedWorld:
    """Customers with meter data, a Third Party with bulks 1 and 10, another Third Party, grants of every state.

    ``points``: alice_home, alice_garage (never granted), alice_cabin (granted, taken back), bob_shop,
    bob_revoked, carol_expired, carol_ten (bulk 10), carol_other (the other Third Party's bulk 1).
    ``grants`` and ``tokens`` (access tokens) are named like the customer or usage point they serve.
    """

    customers: dict[str, RetailCustomer]
    tp: ThirdParty
    other_tp: ThirdParty
    bulks: dict[str, BulkUser]
    points: dict[str, UsagePoint]
    grants: dict[str, Grant]
    tokens: dict[str, str]
    tp_token: str
    other_tp_token: str
    custodian: ThirdParty
    custodian_token: str
    reading_type: ReadingType
    ltp: LocalTimeParameters


@dataclass(frozen=True)
class UploadWorld:
    """Three customers, the Third Party with bulks 1 and 10, a back-office client.

    alice grants bulk 1 her usage point ``a1`` (not ``a2``); bob grants bulk 10 his ``b1``; carol
    grants a plain subscription (no bulk) of ``c1`` with only core function blocks.
    """

    alice: RetailCustomer
    bob: RetailCustomer
    carol: RetailCustomer
    a1: UsagePoint
    a2: UsagePoint
    b1: UsagePoint
    c1: UsagePoint
    tp: ThirdParty
    bulk1: BulkUser
    bulk10: BulkUser
    grant_a: Grant
    grant_b: Grant
    grant_c: Grant
    custodian: ThirdParty
    tp_token: str  # client token limited to bulk 1 (BR=1)
    tp_any_bulk_token: str
    custodian_token: str


@dataclass(frozen=True)
class RaceWorld:
    """One customer's usage point granted to a Third Party's bulk 1 through the real consent and code exchange.

    ``refresh_token`` is the grant's, ``upload_token`` the Third Party's client token for bulk 1 (BR=1).
    """

    customer: RetailCustomer
    point: UsagePoint
    third_party: ThirdParty
    grant: Grant
    refresh_token: str
    upload_token: str


@dataclass(frozen=True)
class RecordsWorld:
    """Ana's two homes (``home``, ``cabin``) and her imported customer records; ``location`` (her
    ServiceLocation) and her Meter are linked to ``home`` only; ``tp`` registered the records scope (and ``;BR=7``)."""

    customer: RetailCustomer
    home: UsagePoint
    cabin: UsagePoint
    tp: ThirdParty
    location: CustomerRecord
