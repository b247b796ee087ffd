"""Each batch filter rule's function, on planned entries: the decisions the upload tests see end to end."""

from __future__ import annotations

import uuid

from custodian.imports import filter_rules
from custodian.imports.plan import EntryPlan, UsagePointTarget
from custodian.imports.reasons import OK, Reason
from custodian.selectors import Location


def planned(kind: str, **fields) -> EntryPlan:
    return EntryPlan(index=fields.pop("index", 0), line=1, atom_id="urn:uuid:x", kind=kind, uuid=uuid.uuid4(), **fields)


def test_rule2_trusts_only_the_usage_point_segment():
    assert filter_rules.rule2_usage_point_ref({"RetailCustomer": "9", "UsagePoint": "5"}) == "5"
    assert filter_rules.rule2_usage_point_ref({"Subscription": "5"}) is None


def test_rule2_places_an_unlinked_entry_where_it_is_stored_if_the_import_may_write_there():
    block = planned("IntervalBlock")
    parent = uuid.uuid4()
    stored = Location("IntervalBlock", pk=7, usage_point_id=3, meter_reading_id=2)
    filter_rules.rule2_place_where_stored(block, stored=stored, parent_uuid=parent, allows=lambda up: up == 3)
    assert (block.status, block.usage_point_id, block.existing_id, block.meter_reading_uuid) == (OK, 3, 7, parent)

    elsewhere = planned("IntervalBlock")
    filter_rules.rule2_place_where_stored(elsewhere, stored=stored, parent_uuid=parent, allows=lambda up: False)
    assert (elsewhere.status, elsewhere.usage_point_id) == (Reason.NOT_GRANTED, None)

    nowhere = planned("MeterReading")
    filter_rules.rule2_place_where_stored(nowhere, stored=None, parent_uuid=None, allows=lambda up: True)
    assert (nowhere.status, nowhere.reason) == (Reason.INVALID, filter_rules.UNPLACED)


def test_rule3_needs_the_usage_point_in_reach_and_its_function_blocks():
    reached = {1: frozenset({4}), 2: frozenset({15})}
    block = planned("IntervalBlock", usage_point_ref="1", usage_point_id=1, existing_id=None)
    assert filter_rules.rule3_reached(block, reached=reached, may_create_usage_points=False, ref_pk=1) is None
    summary = planned("UsageSummary", usage_point_ref="1", usage_point_id=1)
    assert filter_rules.rule3_reached(summary, reached=reached, may_create_usage_points=False, ref_pk=1) == Reason.SCOPE
    quality = planned("ElectricPowerQualitySummary", usage_point_ref="2", usage_point_id=2)
    assert filter_rules.rule3_reached(quality, reached=reached, may_create_usage_points=False, ref_pk=2) == Reason.SCOPE
    away = planned("MeterReading", usage_point_ref="9", usage_point_id=9)
    assert filter_rules.rule3_reached(away, reached=reached, may_create_usage_points=False, ref_pk=None) == (
        Reason.NOT_GRANTED
    )
    renamed = planned("MeterReading", usage_point_ref="1", usage_point_id=2)
    assert filter_rules.rule3_reached(renamed, reached=reached, may_create_usage_points=False, ref_pk=1) == (
        Reason.CONFLICT
    )
    new_point = planned("UsagePoint", creates_usage_point=True)
    assert filter_rules.rule3_reached(new_point, reached=reached, may_create_usage_points=False, ref_pk=None) == (
        Reason.NOT_GRANTED
    )
    assert filter_rules.rule3_reached(new_point, reached=reached, may_create_usage_points=True, ref_pk=None) is None


def test_rule3_a_block_goes_only_with_its_meter_reading():
    reading = planned("MeterReading", index=0)
    block = planned("IntervalBlock", index=1, meter_reading_uuid=reading.uuid)
    other = planned("IntervalBlock", index=2, meter_reading_uuid=uuid.uuid4())
    rejected = {0}
    found = filter_rules.rule3_blocks_of_rejected_meter_readings(
        [reading, block, other], rejected=lambda p: p.index in rejected
    )
    assert found == [block]


def test_rule4_shared_resources_go_only_with_an_accepted_entry_and_never_change_data_elsewhere():
    reading_type, ltp = uuid.uuid4(), uuid.uuid4()
    reading = planned("MeterReading", index=0, reading_type_uuid=reading_type)
    point = planned("UsagePoint", index=1, local_time_parameters_uuid=ltp)
    assert filter_rules.rule4_shared_referred_to([reading, point], accepted=lambda p: p.index == 0) == {reading_type}

    def within_1_and_2(users):
        return set(users) <= {1, 2}

    assert filter_rules.rule4_shared_used_only_within(users=[1, 2], allows_all=within_1_and_2)
    assert not filter_rules.rule4_shared_used_only_within(users=[1, 3], allows_all=within_1_and_2)


def test_rule5_ids_never_move_and_never_repeat():
    stored = Location("MeterReading", pk=4, usage_point_id=1)
    reading = planned("MeterReading")
    here = UsagePointTarget(ref="1", usage_point_id=1)
    there = UsagePointTarget(ref="2", usage_point_id=2)
    assert filter_rules.rule5_stored_elsewhere(reading, stored=stored, target=here, allows=lambda up: True) is None
    assert "another usage point" in filter_rules.rule5_stored_elsewhere(
        reading, stored=stored, target=there, allows=lambda up: True
    )
    assert "another owner" in filter_rules.rule5_stored_elsewhere(
        reading, stored=stored, target=here, allows=lambda up: False
    )
    seen: set[uuid.UUID] = set()
    once = uuid.uuid4()
    assert not filter_rules.rule5_duplicate(once, seen)
    assert filter_rules.rule5_duplicate(once, seen)


def test_rule6_reports_one_vocabulary_and_no_oracle_for_foreign_usage_points():
    fine = planned("MeterReading")
    assert filter_rules.rule6_reported_reason(fine, foreign_refs=set()) is None
    conflict = planned("MeterReading", usage_point_ref="77")
    conflict.reject(Reason.CONFLICT, "this id already belongs to a resource under another usage point")
    assert filter_rules.rule6_reported_reason(conflict, foreign_refs={"77"}) == Reason.NOT_GRANTED
    assert filter_rules.rule6_reported_reason(conflict, foreign_refs=set()) == Reason.CONFLICT
    assert {reason.value for reason in Reason} == {
        "not_granted",
        "scope",
        "conflict",
        "duplicate",
        "invalid",
        "unsupported",
    }
