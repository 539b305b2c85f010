from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings

from pipeline.domain.matching import Matchable, Matcher
from tests.helpers.strategies import conversations, final_facts, reference_first_responses

START = datetime(2026, 11, 2, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(conversations("tdemo", "900100", START))
def test_matcher_equals_brute_force_rule_in_any_order(events: list[Matchable]) -> None:
    matcher = Matcher(business=lambda *_: 0.0)
    assert final_facts(matcher.add(events)) == reference_first_responses(events)


@settings(max_examples=100, deadline=None)
@given(conversations("tdemo", "900100", START))
def test_feeding_one_by_one_equals_feeding_at_once(events: list[Matchable]) -> None:
    at_once = final_facts(Matcher(business=lambda *_: 0.0).add(events))
    matcher = Matcher(business=lambda *_: 0.0)
    one_by_one = [fact for event in events for fact in matcher.add([event])]
    assert final_facts(one_by_one) == at_once
