"""The batch POST filter's rules (PRODUCT "The batch POST filter", rules 2-6), each decided here once.

Read this file to list them. The import plan (``custodian.imports.plan``) calls the rules that need
only the feed and the database (placing an entry, ids that live elsewhere, duplicates, shared
resources used elsewhere); the batch service (``batch.services``) calls the rules that need the
caller's reach (grants and function blocks, shared resources nobody accepted refers to) and turns
the plan's outcome into the reported reason. The reasons themselves are :class:`Reason`.

* rule 2, placing an entry: :func:`rule2_usage_point_ref` (from hrefs) and
  :func:`rule2_place_where_stored` (an existing resource whose hrefs name no usage point);
* rule 3, grants and function blocks: :func:`rule3_reached`, with :data:`FUNCTION_BLOCKS_NEEDED`, and
  :func:`rule3_blocks_of_rejected_meter_readings` (a block goes only with its meter reading);
* rule 4, shared resources: :func:`rule4_shared_referred_to` and :func:`rule4_shared_used_only_within`;
* rule 5, ids that live elsewhere and ids twice: :func:`rule5_stored_elsewhere`, :func:`rule5_duplicate`;
* rule 6, the reported reason: :func:`rule6_reported_reason` (the vocabulary: :class:`Reason`);
* rule 10, identity: :func:`rule10_change` (created, updated, unchanged: :class:`Change`) and
  :func:`rule10_identical_is_no_conflict` (an unchanged shared resource is accepted); which entries
  are identical to their stored row is computed in ``custodian.imports.unchanged``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from custodian.imports.reasons import OK, Change, Reason

if TYPE_CHECKING:
    from custodian.imports.plan import EntryPlan, UsagePointTarget
    from custodian.imports.store import SeenIds
    from custodian.selectors import Location

UsersT = TypeVar("UsersT")

# Function blocks a grant needs for each kind (rule 3); kinds not listed are core.
FUNCTION_BLOCKS_NEEDED: dict[str, frozenset[int]] = {
    "IntervalBlock": frozenset({4}),
    "UsageSummary": frozenset({15, 16}),
    "ElectricPowerUsageSummary": frozenset({15, 16}),
    "ElectricPowerQualitySummary": frozenset({17}),
}
SHARED_KINDS = frozenset({"ReadingType", "LocalTimeParameters"})
_REASONS = frozenset(Reason)
UNPLACED = "no UsagePoint/{id} in the self or up href to place the entry"


def rule2_usage_point_ref(ids: Mapping[str, str]) -> str | None:
    """Rule 2: the usage point an entry's hrefs name is their ``UsagePoint/{id}`` segment; no other segment counts."""
    return ids.get("UsagePoint")


def rule2_place_where_stored(
    p: EntryPlan, *, stored: Location | None, parent_uuid: UUID | None, allows: Callable[[int], bool]
) -> None:
    """Rule 2: place an entry whose hrefs name no usage point where its resource already lives.

    Without a stored resource of its kind under a usage point the entry cannot be placed
    (``invalid``); under a usage point the import may not write to it is ``not_granted``.
    """
    if stored is None or stored.usage_point_id is None:
        p.reject(Reason.INVALID, UNPLACED)
        return
    if not allows(stored.usage_point_id):
        p.reject(Reason.NOT_GRANTED, "its resource lives under a usage point that is unknown or not yours")
        return
    p.usage_point_id = stored.usage_point_id
    p.existing_id = stored.pk
    if p.kind == "IntervalBlock":
        p.meter_reading_uuid = parent_uuid


def rule3_reached(
    p: EntryPlan, *, reached: Mapping[int, frozenset[int]], may_create_usage_points: bool, ref_pk: int | None
) -> Reason | None:
    """Rule 3: return why a planned entry is out of the caller's reach (``reached``: usage point -> function blocks).

    Its usage point must be one the caller reaches now, under the same id its href names (ids are
    never rewritten, rule 10), and the function blocks there must cover the entry's kind.
    """
    if p.creates_usage_point:
        return None if may_create_usage_points else Reason.NOT_GRANTED
    if p.usage_point_id is None or p.usage_point_id not in reached:
        return Reason.NOT_GRANTED
    if p.kind == "UsagePoint" and p.existing_id is None:
        # The href names a usage point that has another id: ids are never rewritten (rule 10).
        return Reason.CONFLICT
    if p.usage_point_ref and ref_pk != p.usage_point_id and not may_create_usage_points:
        # The entry (or its feed's UsagePoint entry) names one usage point and its id another.
        return Reason.CONFLICT
    needed = FUNCTION_BLOCKS_NEEDED.get(p.kind or "")
    if needed and not needed & reached[p.usage_point_id]:
        return Reason.SCOPE
    return None


def rule3_blocks_of_rejected_meter_readings(
    plans: Iterable[EntryPlan],
    *,
    rejected: Callable[[EntryPlan], bool],
    rejected_meter_readings: Collection[UUID | None] | None = None,
) -> list[EntryPlan]:
    """Rule 3: return the IntervalBlocks not yet rejected whose MeterReading entry is: a block goes only with it.

    ``rejected_meter_readings``: the uuids of the feed's rejected MeterReading entries, when ``plans``
    is one chunk of the feed (the import keeps its entries in chunks); by default, those of ``plans``.
    """
    plans = list(plans)
    bad = rejected_meter_readings
    if bad is None:
        bad = {p.uuid for p in plans if p.kind == "MeterReading" and rejected(p)}
    return [p for p in plans if p.kind == "IntervalBlock" and not rejected(p) and p.meter_reading_uuid in bad]


def rule4_shared_referred_to(plans: Iterable[EntryPlan], *, accepted: Callable[[EntryPlan], bool]) -> set[UUID | None]:
    """Rule 4: return the shared resources an accepted entry of the feed refers to (only those are accepted)."""
    wanted: set[UUID | None] = set()
    for p in plans:
        if p.kind == "MeterReading" and accepted(p):
            wanted.add(p.reading_type_uuid)
        elif p.kind == "UsagePoint" and accepted(p):
            wanted.add(p.local_time_parameters_uuid)
    return wanted


def rule4_shared_used_only_within(*, users: UsersT, allows_all: Callable[[UsersT], bool]) -> bool:
    """Rule 4: return whether a stored shared resource is used only by usage points the import may write.

    ``users`` are the usage points using it (a query: a ReadingType may serve a whole bulk), asked
    of ``allows_all`` at once rather than one by one.
    """
    return allows_all(users)


def rule5_duplicate(uuid: UUID, seen: set[UUID] | SeenIds) -> bool:
    """Rule 5: return whether the id appeared earlier in this feed (and remember it).

    ``seen``: a set, or the import's :class:`~custodian.imports.store.SeenIds` (bounded memory).
    """
    if not isinstance(seen, set):
        return seen.add(uuid)
    if uuid in seen:
        return True
    seen.add(uuid)
    return False


def rule5_stored_elsewhere(
    p: EntryPlan, *, stored: Location | None, target: UsagePointTarget | None, allows: Callable[[int], bool]
) -> str | None:
    """Rule 5: return why a usage-point-owned entry's id lives elsewhere (data never moves between owners), or None."""
    elsewhere = "this id already belongs to a resource under another usage point"
    if stored is None:
        return None
    if target is None:
        return elsewhere if stored.usage_point_id is not None else None
    if target.usage_point_id is None or stored.usage_point_id != target.usage_point_id:
        return elsewhere
    if not allows(target.usage_point_id):
        return "this id belongs to another owner"
    return None


def rule6_reported_reason(p: EntryPlan, *, foreign_refs: Collection[str]) -> Reason | None:
    """Rule 6: return the reason reported for a planned entry (None: planned importable).

    An href naming a usage point out of reach is ``not_granted`` whatever else is wrong, so the
    answer never tells a foreign usage point from an unknown one.
    """
    if p.status == OK:
        return None
    reason = Reason(p.status) if p.status in _REASONS else Reason.INVALID
    if reason == Reason.CONFLICT and p.usage_point_ref in foreign_refs:
        return Reason.NOT_GRANTED
    return reason


def rule10_change(p: EntryPlan) -> Change:
    """Rule 10: return what importing an entry does: ``unchanged`` if identical to its stored row, else update or create."""
    if p.unchanged:
        return Change.UNCHANGED
    return Change.UPDATED if p.existing_id is not None else Change.CREATED


def rule10_identical_is_no_conflict(p: EntryPlan) -> bool:
    """Rule 10: a shared resource that other data uses is accepted only when the entry changes nothing of it."""
    return p.unchanged
