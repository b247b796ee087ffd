"""Fixtures shared with the feed and OAuth tests: the GET side's small world, and OAuth clients with known secrets."""

from __future__ import annotations

from tests.feeds.conftest import feed_world, shared  # noqa: F401
from tests.grants.conftest import custodian_client, customer_client, other_tp, tp, two_points  # noqa: F401
