"""ESPI scope strings: the grammar, canonical form, and term-by-term comparison (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grants.scopes import (
    EspiScope,
    ScopeError,
    describe_duration,
    describe_function_blocks,
    describe_interval,
    parse_scope,
    scope_with,
)

OFFER = (
    "FB=1_3_4_5_13_14_15_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=94608000;AccountCollection=5"
)


def test_real_scope_strings_parse_and_format_canonically():
    scope = parse_scope(
        "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=94608000;"
    )
    assert scope.function_blocks == frozenset({1, 3, 4, 5, 13, 14, 15, 19, 37, 39})
    assert scope.interval_durations == ("3600",)
    assert scope.block_durations == ("monthly",)
    assert scope.history_length == 94608000
    assert (
        scope.format()
        == "FB=1_3_4_5_13_14_15_19_37_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=94608000"
    )
    assert str(scope) == scope.format()
    assert scope.min_interval_seconds == 3600


def test_lenient_about_spaces_case_of_named_values_and_the_trailing_delimiter():
    scope = parse_scope(" FB=4_1 ; BlockDuration=Daily ; SubscriptionFrequency=Weekly ; BR=ab-1 ; ")
    assert scope.format() == "FB=1_4;BlockDuration=daily;SubscriptionFrequency=weekly;BR=ab-1"
    assert parse_scope("FB=1;BulkAccountCollection=3").account_collection == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("FB=1;" + "x" * 300, "longer than"),
        ("IntervalDuration=900", "no function blocks"),
        ("FB=1_a", "function block numbers"),
        ("FB=0", "from 1 to 99"),
        ("FB=100", "from 1 to 99"),
        ("FB=1;FB=3", "appears twice"),
        ("FB=1;HistoryLength=-5", "non-negative whole number"),
        ("FB=1;IntervalDuration=often", "neither a number"),
        ("FB=1;BR=1;2", "not NAME=VALUE"),
        ("FB=1;BR=a b", "not a Bulk ID"),
        ("FB=1;BR=1%", "not a Bulk ID"),
        ("FB=1;Colour=green", "Unknown scope term"),
        ("FB=1;HistoryLength", "not NAME=VALUE"),
    ],
)
def test_malformed_scopes_are_refused_with_a_reason(text, message):
    with pytest.raises(ScopeError, match=message):
        parse_scope(text)


def test_a_request_is_within_an_offer_term_by_term():
    offer = parse_scope(OFFER)
    assert parse_scope(
        "FB=1_3_4;IntervalDuration=900;BlockDuration=daily;HistoryLength=31536000;AccountCollection=2"
    ).is_within(offer)
    assert not parse_scope("FB=1_3_4_17;HistoryLength=1;AccountCollection=1").is_within(offer)  # FB 17 not offered
    assert not parse_scope("FB=1;IntervalDuration=60;HistoryLength=1;AccountCollection=1").is_within(offer)
    assert not parse_scope("FB=1;BlockDuration=monthly;HistoryLength=1;AccountCollection=1").is_within(offer)
    assert not parse_scope("FB=1;HistoryLength=94608001;AccountCollection=1").is_within(offer)  # longer history
    assert not parse_scope("FB=1;AccountCollection=1").is_within(offer)  # no history limit asked: unbounded
    assert not parse_scope("FB=1;HistoryLength=1;AccountCollection=6").is_within(offer)


def test_function_blocks_and_bulk_ids_compare_as_terms_not_substrings():
    assert not parse_scope("FB=13").is_within(parse_scope("FB=1_3"))
    assert parse_scope("FB=1_3").is_within(parse_scope("FB=13_1_3"))
    offer_bulk_1 = parse_scope("FB=1_35;BR=1")
    assert parse_scope("FB=35;BR=1").is_within(offer_bulk_1)
    assert not parse_scope("FB=35;BR=10").is_within(offer_bulk_1)
    assert not parse_scope("FB=35").is_within(offer_bulk_1)
    assert parse_scope("FB=35;BR=10").is_within(parse_scope("FB=1_35"))  # the offer names no bulk
    assert parse_scope("FB=35;BR=10").without_bulk() == parse_scope("FB=35")


def test_subscription_frequency_must_match_the_offer():
    offer = parse_scope("FB=1;SubscriptionFrequency=daily")
    assert parse_scope("FB=1").is_within(offer)
    assert parse_scope("FB=1;SubscriptionFrequency=daily").is_within(offer)
    assert not parse_scope("FB=1;SubscriptionFrequency=weekly").is_within(offer)


def test_plain_language_for_consent_screens():
    assert describe_function_blocks([15, 4]) == [
        "Interval metering (your meter's interval readings)",
        "Usage summaries (billing-period totals)",
    ]
    assert describe_function_blocks([98]) == ["Function block 98"]
    assert describe_interval(parse_scope("FB=1;IntervalDuration=900_3600")) == "15-minute, hourly readings"
    assert describe_interval(parse_scope("FB=1;IntervalDuration=7200_45_daily")) == "2-hour, 45-second, daily readings"
    assert describe_interval(parse_scope("FB=1")) == "any interval"
    assert describe_duration(None) == "no limit stated"
    assert describe_duration(94608000) == "3 years"
    assert describe_duration(31536000) == "1 year"
    assert describe_duration(90 * 86400) == "90 days"
    assert describe_duration(86400) == "1 day"
    assert describe_duration(59) == "59 seconds"


def test_narrowing_keeps_the_other_terms():
    scope = parse_scope(OFFER + ";BR=7")
    narrowed = scope_with(scope, function_blocks=frozenset({1, 3, 4}), history_length=86400)
    assert narrowed.format() == (
        "FB=1_3_4;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=86400;AccountCollection=5;BR=7"
    )
    assert narrowed.is_within(scope)


terms = st.fixed_dictionaries(
    {
        "function_blocks": st.frozensets(st.integers(1, 99), min_size=1, max_size=8),
        "interval_durations": st.lists(st.sampled_from(["900", "3600", "daily"]), max_size=2, unique=True).map(tuple),
        "history_length": st.none() | st.integers(0, 10**9),
        "bulk_id": st.none() | st.from_regex(r"[0-9A-Za-z-]{1,12}", fullmatch=True),
    }
)


@given(terms)
def test_format_then_parse_gives_the_same_scope_and_a_scope_is_within_itself(values):
    scope = EspiScope(**values)
    again = parse_scope(scope.format())
    assert again == scope
    assert again.format() == scope.format()
    assert scope.is_within(scope)
