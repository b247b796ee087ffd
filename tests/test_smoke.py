from __future__ import annotations


def test_grant_fixture_reaches_its_usage_point(grant, usage_point):
    assert list(grant.usage_points.all()) == [usage_point]
    assert grant.is_active is True
