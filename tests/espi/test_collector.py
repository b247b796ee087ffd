"""The import pauses the cyclic garbage collector only while it reads a feed, and always restores it."""

from __future__ import annotations

import gc

import pytest

from bench.gen import write_feed
from custodian.espi.errors import EspiError
from custodian.imports import CustomerUsagePoints, import_plan


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_restored_after_a_plan_and_after_a_refused_feed(tmp_path, customer, enabled):
    feed = tmp_path / "feed.xml"
    write_feed(feed, usage_points=1, days=1, tag="gc")
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        import_plan(source=feed, resolver=CustomerUsagePoints(customer)).close()
        assert gc.isenabled() is enabled
        with pytest.raises(EspiError):
            import_plan(source=feed.read_bytes()[:-200], resolver=CustomerUsagePoints(customer))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
