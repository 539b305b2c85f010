"""The compact state gives back exactly what it took: duck-typed events, times, pseudonyms, big conversations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bench.state_memory import bytes_per_conversation, matching_us_per_event
from pipeline.domain.matching import Matchable, Matcher, ResponseFact
from schemas.events import Change
from tests.helpers.events import ACCOUNT, T0, EventFactory
from tests.helpers.strategies import conversations, final_facts, reference_first_responses

START = datetime(2026, 11, 2, tzinfo=UTC)
ALICE, BOB = "ps1:" + "a1" * 16, "ps1:" + "b2" * 16


def _matcher() -> Matcher:
    return Matcher(business=lambda *_: 0.0)


@dataclass(frozen=True, slots=True)
class StructInteraction:
    """An interaction with the hot-path contract's attributes only (as a msgspec Struct has them), no pydantic."""

    event_id: str
    platform: str
    agency_id: str
    account_id: str
    created_at: datetime
    root_id: str
    kind: str
    message_id: str
    parent_id: str | None
    author_id: str
    author_role: str
    type: Literal["interaction"] = "interaction"


@dataclass(frozen=True, slots=True)
class StructChange:
    """A change with the hot-path contract's attributes only."""

    event_id: str
    platform: str
    agency_id: str
    account_id: str
    created_at: datetime
    root_id: str
    op: str
    target_id: str
    type: Literal["change"] = "change"


def _struct_like(event: Matchable, *, plain: bool) -> StructInteraction | StructChange:
    """``event`` with its attributes only; ``plain``: enum members become their plain string values."""

    def value(member: str) -> str:
        return str(member) if plain else member

    head = (event.event_id, value(event.platform), event.agency_id, event.account_id, event.created_at, event.root_id)
    if isinstance(event, Change):
        return StructChange(*head, op=value(event.op), target_id=event.target_id)
    return StructInteraction(
        *head,
        kind=value(event.kind),
        message_id=event.message_id,
        parent_id=event.parent_id,
        author_id=event.author_id,
        author_role=value(event.author_role),
    )


def _asked(message_id: str, at: datetime, author: str = ALICE) -> StructInteraction:
    return StructInteraction(
        f"x:{message_id}", "x", "tdemo", ACCOUNT, at, "p1", "comment", message_id, "p1", author, "citizen"
    )


def _replied(message_id: str, parent_id: str, at: datetime) -> StructInteraction:
    return StructInteraction(
        f"x:{message_id}", "x", "tdemo", ACCOUNT, at, "p1", "reply", message_id, parent_id, ACCOUNT, "agency"
    )


@settings(max_examples=150, deadline=None)
@given(conversations("tdemo", "900100", START), st.booleans())
def test_events_read_by_attribute_match_as_the_pydantic_models_do(events: list[Matchable], plain: bool) -> None:
    expected = _matcher().add(events)
    facts = _matcher().add([_struct_like(event, plain=plain) for event in events])
    assert final_facts(facts) == final_facts(expected) == reference_first_responses(events)
    assert {(f.message_id, f.platform, f.kind, f.citizen_id) for f in facts} == {
        (f.message_id, f.platform, f.kind, f.citizen_id) for f in expected
    }
    assert all(type(f.platform) is str and type(f.kind) is str for f in facts)


def test_models_and_plain_structs_meet_in_the_same_conversation(event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)
    matcher = _matcher()
    matcher.add([question])
    [fact] = matcher.add([_replied("r1", "q1", T0 + timedelta(hours=1))])  # platform "x", a plain str
    assert (fact.message_id, fact.reply_id, fact.platform, len(matcher)) == ("q1", "r1", "x", 1)


_instants = st.datetimes(
    min_value=datetime(2006, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds, then the time zones
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]),
)


@settings(max_examples=300, deadline=None)
@given(_instants, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
def test_times_come_back_exactly_to_the_microsecond(asked_at: datetime, delay: timedelta) -> None:
    # Unvalidated events (the schema would cut to the millisecond and move to UTC): any instant comes back.
    question, reply = _asked("q", asked_at), _replied("r", "q", asked_at + delay)
    matcher = _matcher()
    matcher.add([question])
    assert matcher.unanswered() == [("tdemo", "x", "q", asked_at)]
    [fact] = matcher.add([reply])
    assert (fact.asked_at, fact.answered_at) == (asked_at, asked_at + delay)
    assert fact.response_seconds == delay.total_seconds()


def test_an_event_time_the_state_cannot_hold_exactly_fails_alone() -> None:
    # The schema refuses such a time; an event that did not go through it fails alone, with the reason.
    far = _asked("q9", datetime(2300, 1, 1, tzinfo=UTC))
    question, reply = _asked("q1", T0), _replied("r1", "q1", T0 + timedelta(hours=1))
    failed: list[tuple[StructInteraction, Exception]] = []
    facts = _matcher().add([far, question, reply], failed)
    assert [fact.message_id for fact in facts] == ["q1"]
    [(event, exc)] = failed
    assert event is far
    assert "outside the years 1698 to 2242" in str(exc)


@pytest.mark.parametrize(
    "author",
    [
        ALICE,
        "ps1:" + "A1" * 16,
        "ps1:" + "0123456789" * 3 + "ab",
        "ps1:a1",
        "ps1:" + "a1 " * 10 + "ab",
        "7012345678",
        "ps1:" + "g" * 32,
    ],
)
def test_a_citizen_id_comes_back_exactly_whatever_its_spelling(author: str, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=author, created_at=T0)
    reply = event_factory("reply", parent_id="q1", created_at=T0 + timedelta(hours=1))
    [fact] = _matcher().add([question, reply])
    assert fact.citizen_id == author


def test_pseudonyms_spelled_differently_are_different_citizens(event_factory: EventFactory) -> None:
    upper = "ps1:" + ALICE[4:].upper()
    first = event_factory("comment", message_id="q1", author_id=upper, created_at=T0)
    second = event_factory("comment", message_id="q2", author_id=ALICE, created_at=T0 + timedelta(minutes=5))
    reply = event_factory("reply", parent_id="q2", created_at=T0 + timedelta(hours=1))
    assert [fact.message_id for fact in _matcher().add([first, second, reply])] == ["q2"]


def test_a_conversation_of_many_messages_matches_as_the_rule_says_in_any_order(event_factory: EventFactory) -> None:
    # More messages than a short list holds: they are indexed by id and by author.
    rng = random.Random(5)
    authors = [ALICE, BOB, "ps1:" + "c3" * 16]
    events: list[Matchable] = [
        event_factory(
            "comment", message_id=f"q{i}", author_id=rng.choice(authors), created_at=T0 + timedelta(minutes=i)
        )
        for i in range(40)
    ]
    events += [
        event_factory(
            "reply", message_id=f"r{j}", parent_id=f"q{rng.randrange(45)}", created_at=T0 + timedelta(hours=j)
        )
        for j in range(12)
    ]
    events += [
        event_factory("remove", target_id=f"q{k}", created_at=T0 + timedelta(minutes=90 + k)) for k in (3, 17, 44)
    ]
    expected = reference_first_responses(events)
    assert len(expected) > 10
    for seed in range(5):
        shuffled = random.Random(seed).sample(events, len(events))
        matcher = _matcher()
        assert final_facts(matcher.add(shuffled)) == expected
        open_messages = {message_id for _, _, message_id, _ in matcher.unanswered()}
        assert open_messages == {f"q{i}" for i in range(40)} - set(expected)  # ghosts (q40-q44) are no messages


def test_a_removal_or_a_reply_met_before_its_message_waits_for_it_and_counts_as_nothing_open(
    event_factory: EventFactory,
) -> None:
    matcher = _matcher()
    matcher.add([event_factory("remove", target_id="q1", created_at=T0 + timedelta(minutes=30))])
    matcher.add([event_factory("reply", message_id="r2", parent_id="q2", created_at=T0 + timedelta(hours=2))])
    assert matcher.unanswered() == []
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)
    later = event_factory("comment", message_id="q2", author_id=ALICE, created_at=T0 + timedelta(minutes=10))
    facts = {fact.message_id: fact for fact in matcher.add([question, later])}
    assert (facts["q1"].closed_by, facts["q1"].answered_at) == ("removal", T0 + timedelta(minutes=30))
    assert (facts["q2"].reply_id, facts["q2"].citizen_id) == ("r2", ALICE)


def test_a_response_fact_is_an_immutable_value(event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)
    reply = event_factory("reply", message_id="r1", parent_id="q1", created_at=T0 + timedelta(hours=1))
    [fact] = _matcher().add([question, reply])
    [again] = _matcher().add([reply, question])
    assert fact == again
    assert hash(fact) == hash(again)
    assert (fact.account_id, fact.root_id, fact.answered, fact.closed_by) == (ACCOUNT, "p1", True, "reply")
    with pytest.raises(AttributeError):
        fact.reply_id = "r2"  # type: ignore[misc]
    assert ResponseFact(**{**{f: getattr(fact, f) for f in fact.__struct_fields__}, "reply_id": "r2"}) != fact


def test_the_state_takes_under_300_bytes_for_a_question_and_the_benchmark_reports_its_figures() -> None:
    # Platform-like ids (19 digits) held as ints, pseudonyms as the int they spell: a one-question conversation
    # takes ~280 bytes (a frozen dataclass with five dicts took ~1,200; string ids and tuples ~360). Figures settle
    # with thousands of conversations; the mix's moves with how full the dict tables are (~400 at 3,000 to 20,000).
    figures = bytes_per_conversation(3_000, ["question", "mix"])
    assert 0 < figures["question"] <= 300
    assert figures["question"] < figures["mix"] < 450
    costs = matching_us_per_event(conversations=200, chunk=100)
    assert costs["events"] > 400
    assert costs["facts"] > 0
    assert costs["evicted"] + costs["open_conversations"] >= 200
    assert costs["add_us_per_event"] > 0
