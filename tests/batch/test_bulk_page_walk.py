"""Each grant link carries its grant's bulk, so a page of ``Batch/Bulk`` walks only its own bulk's links."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batch.reach import reach_for_bulk_page
from grants.models import GrantUsagePoint
from tests.batch.test_bulk_post_scale import add_members


@pytest.mark.django_db
def test_every_link_carries_its_grants_bulk_however_it_was_made(upload_world):
    members = add_members(upload_world, 5)  # links written by bulk_create
    links = GrantUsagePoint.objects.select_related("grant")
    assert links.filter(grant__in=members).count() == 5
    points = [link.usage_point_id for link in links.filter(grant__in=members).order_by("grant_id")]
    assert all(link.bulk_user_id == link.grant.bulk_user_id for link in links)
    assert links.filter(bulk_user__isnull=False).exists()
    # Links given only their grant's id take its bulk too, in one query for all of them.
    GrantUsagePoint.objects.filter(grant__in=members).delete()
    with CaptureQueriesContext(connection) as queries:
        GrantUsagePoint.objects.bulk_create(
            GrantUsagePoint(grant_id=grant.pk, usage_point_id=link_point)
            for grant, link_point in zip(members, points, strict=True)
        )
    assert sum("grants_grant" in q["sql"] and "INSERT" not in q["sql"] for q in queries.captured_queries) == 1
    assert {link.bulk_user_id for link in links.filter(grant__in=members)} == {members[0].bulk_user_id}
    # One saved on its own takes the bulk too, whatever it was given.
    link = links.filter(grant=members[0]).get()
    link.bulk_user_id = None
    link.save()
    link.refresh_from_db()
    assert link.bulk_user_id == members[0].bulk_user_id
    # A save of other fields (a revocation) writes only them, without reading the grant.
    link = GrantUsagePoint.objects.get(pk=link.pk)
    link.revoked_at = link.added_at
    with CaptureQueriesContext(connection) as queries:
        link.save(update_fields=["revoked_at"])
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]


@pytest.mark.django_db
def test_a_bulk_page_holds_its_members_and_no_other_bulks(upload_world):
    members = add_members(upload_world, 3)
    bulk = members[0].bulk_user
    page = reach_for_bulk_page(bulk_user=bulk, start_index=1, max_results=500)
    expected = set(
        GrantUsagePoint.objects.filter(
            grant__bulk_user=bulk, grant__status="active", revoked_at__isnull=True
        ).values_list("usage_point_id", flat=True)
    )
    on_page = {reach.usage_point_id for reach in page.reaches}
    assert on_page == expected
    assert {link.usage_point_id for link in GrantUsagePoint.objects.filter(grant__in=members)} <= expected
    others = set(GrantUsagePoint.objects.exclude(bulk_user=bulk).values_list("usage_point_id", flat=True))
    assert others - expected, "the world has links outside the bulk"
    assert not on_page & (others - expected)
