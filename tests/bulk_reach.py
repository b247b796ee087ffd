"""What a bulk reaches, asked of the code that serves Batch/Bulk: the bulk GET's page and the bulk POST's reach."""

from __future__ import annotations

from datetime import datetime

from batch.reach import reach_for_bulk_page
from batch.selectors import bulk_member_grants, reach_for_grants
from custodian.exceptions import NotFound
from custodian.models import UsagePoint
from grants.models import ThirdParty
from grants.selectors import bulk_user_get


def bulk_reach(*, third_party: ThirdParty, bulk_id: str, at: datetime | None = None) -> set[UsagePoint]:
    """Return the usage points ``Batch/Bulk/{bulk_id}`` of ``third_party`` serves at ``at``; both sides must agree.

    The bulk is looked up as the endpoints look it up (``bulk_user_get``, exact id; NotFound is nothing);
    the GET reads one page of it (``reach_for_bulk_page``) and a POST writes through its member grants
    (``bulk_member_grants`` then ``reach_for_grants``, asked about every usage point).
    """
    try:
        bulk_user = bulk_user_get(third_party=third_party, bulk_id=bulk_id)
    except NotFound:
        return set()
    page = reach_for_bulk_page(bulk_user=bulk_user, start_index=1, max_results=1000, at=at)
    read = {reach.usage_point_id for reach in page.reaches}
    # The POST's reach is looked up per usage point a feed names: ask it about every usage point there is.
    write_reach = reach_for_grants(grants=bulk_member_grants(bulk_user=bulk_user), third_party_id=third_party.pk, at=at)
    write_reach.cover(pks=UsagePoint.objects.values_list("pk", flat=True))
    write = set(write_reach.usage_points)
    assert read == write, f"the bulk GET reaches {sorted(read)}, the bulk POST {sorted(write)}"
    return set(UsagePoint.objects.filter(pk__in=read))
