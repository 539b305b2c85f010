"""The compact state's spellings: numeric ids held as ints, closures as bytes, times to the microsecond.

Whatever an id looks like (a snowflake, a leading zero, a sign, an underscore, other scripts' digits, text), the
facts give it back exactly and never confuse it with another id that the same int would spell.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bench.state_memory import bench_data_bytes
from pipeline.domain.matching import Matchable, Matcher
from schemas.events import Change, Interaction
from tests.helpers.events import T0, EventFactory
from tests.helpers.strategies import conversations, final_facts, reference_first_responses

START = datetime(2026, 11, 2, tzinfo=UTC)
ALICE = "ps1:" + "a1" * 16
SNOWFLAKE = "1850000000000000123"


def _matcher() -> Matcher:
    return Matcher(business=lambda *_: 0.0)


def _spellings(number: int) -> list[str]:
    """Ids that ``int()`` reads as ``number`` (or close), of which only the first is canonical."""
    text = str(number)
    arabic = text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return [text, "0" + text, f"+{text}", f"{text} ", arabic, f"{text[:1]}_{text[1:]}" if len(text) > 1 else "x"]


# Ids of every spelling: canonical numbers of any length (same-length ones, and "9" against "10" for ties),
# near-collisions of one number, "0", and text.
_ids = st.one_of(
    st.integers(1, 10**30).map(str),
    st.sampled_from(["9", "10", "0", "00", "q1", "Ugz3", "1a", "١٢", SNOWFLAKE, "1850000000000000124"]),
    st.integers(1, 10**20).flatmap(lambda n: st.sampled_from(_spellings(n))),
)


def _renamed(event: Matchable, names: dict[str, str]) -> Matchable:
    """``event`` with every id it names renamed (attributes only: these spellings need no validation)."""
    update = {"root_id": names[event.root_id]}
    if isinstance(event, Change):
        update["target_id"] = names[event.target_id]
    else:
        update["message_id"] = names[event.message_id]
        if event.parent_id is not None:
            update["parent_id"] = names[event.parent_id]
    return event.model_copy(update=update)


def _named(event: Matchable) -> list[str]:
    if isinstance(event, Change):
        return [event.root_id, event.target_id]
    return [event.root_id, event.message_id, *([event.parent_id] if event.parent_id is not None else [])]


@st.composite
def _renamed_conversations(draw: st.DrawFn) -> list[Matchable]:
    events = draw(conversations("tdemo", "900100", START))
    originals = sorted({name for event in events for name in _named(event)})
    spellings = draw(st.lists(_ids, min_size=len(originals), max_size=len(originals), unique=True))
    names = dict(zip(originals, spellings, strict=True))
    return [_renamed(event, names) for event in events]


@settings(max_examples=300, deadline=None)
@given(_renamed_conversations())
def test_any_spelling_of_ids_matches_as_the_rule_says_and_comes_back_exactly(events: list[Matchable]) -> None:
    facts = _matcher().add(events)
    assert final_facts(facts) == reference_first_responses(events)  # ties: the smaller reply id *as text*
    spelled = {name for event in events for name in _named(event)}
    for fact in facts:
        assert {fact.message_id, fact.root_id} <= spelled
        assert fact.reply_id in spelled | {""}
        assert all(type(value) is str for value in (fact.message_id, fact.root_id, fact.reply_id))


def _question(event_factory: EventFactory, message_id: str, root_id: str, at: datetime) -> Interaction:
    question: Interaction = event_factory(
        "comment", message_id=message_id, root_id=root_id, author_id=ALICE, created_at=at
    )
    return question


def _reply(event_factory: EventFactory, message_id: str, parent_id: str, root_id: str, at: datetime) -> Interaction:
    reply: Interaction = event_factory(
        "reply", message_id=message_id, parent_id=parent_id, root_id=root_id, created_at=at
    )
    return reply


@pytest.mark.parametrize(("first", "second"), [("9", "10"), ("10", "9"), ("09", "10"), ("1a", "100")])
def test_replies_of_the_same_instant_tie_by_the_smaller_id_as_text(
    first: str, second: str, event_factory: EventFactory
) -> None:
    question = _question(event_factory, SNOWFLAKE, "p1", T0)
    replies = [_reply(event_factory, rid, SNOWFLAKE, "p1", T0 + timedelta(hours=1)) for rid in (first, second)]
    expected = min(first, second)
    for order in (replies, replies[::-1]):
        assert final_facts(_matcher().add([question, *order]))[SNOWFLAKE][1] == expected


def test_a_message_that_is_its_conversations_root_and_ids_an_int_also_spells(event_factory: EventFactory) -> None:
    # A citizen's own post opens the conversation; "0123" and "123 " are other messages than "123".
    post = _question(event_factory, SNOWFLAKE, SNOWFLAKE, T0)
    others = [
        _question(event_factory, mid, SNOWFLAKE, T0 + timedelta(minutes=minutes))
        for minutes, mid in enumerate(["0123", "123 "], 1)
    ]
    alike = event_factory("comment", message_id="123", root_id=SNOWFLAKE, author_id="ps1:b", created_at=T0)
    replies = [
        _reply(event_factory, "r1", SNOWFLAKE, SNOWFLAKE, T0 + timedelta(hours=1)),
        _reply(event_factory, "r2", "123", SNOWFLAKE, T0 + timedelta(hours=2)),
    ]
    matcher = _matcher()
    facts = {fact.message_id: fact for fact in matcher.add([post, *others, alike, *replies])}
    assert {mid: fact.reply_id for mid, fact in facts.items()} == {SNOWFLAKE: "r1", "123": "r2"}
    assert (facts[SNOWFLAKE].root_id, facts[SNOWFLAKE].citizen_id) == (SNOWFLAKE, ALICE)
    assert sorted(message_id for _, _, message_id, _ in matcher.unanswered()) == ["0123", "123 "]
    assert matcher.held_messages() == 4


@pytest.mark.parametrize(
    "asked_at",
    [
        datetime(1900, 3, 1, 0, 0, 0, 1, tzinfo=UTC),  # before 1970: negative seconds
        datetime(2150, 6, 1, 12, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=8))),  # beyond 2**32 s
        datetime(2026, 11, 2, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_closures_keep_their_microsecond_and_order_on_both_sides_of_1970_and_2106(
    asked_at: datetime, event_factory: EventFactory
) -> None:
    # Unvalidated events (the schema keeps 2006 to 2100 and milliseconds): the state holds more exactly.
    question = _question(event_factory, "q1", "p1", T0).model_copy(update={"created_at": asked_at})
    late, early = (
        _reply(event_factory, rid, "q1", "p1", T0).model_copy(update={"created_at": asked_at + delay})
        for rid, delay in (("r2", timedelta(microseconds=2)), ("r3", timedelta(microseconds=1)))
    )
    removal = event_factory("remove", target_id="q1", root_id="p1", created_at=T0)
    matcher = _matcher()
    [fact] = matcher.add([question, late])
    assert (fact.asked_at, fact.answered_at) == (asked_at, asked_at + timedelta(microseconds=2))
    assert fact.response_seconds == 2e-6
    [removed] = matcher.add([removal.model_copy(update={"created_at": asked_at + timedelta(microseconds=1)})])
    assert (removed.closed_by, removed.answered_at) == ("removal", asked_at + timedelta(microseconds=1))
    # A reply of the removal's instant: "" (a removal) is the smaller id, the removal stays first.
    assert matcher.add([early]) == []


def test_the_bench_data_figures_count_conversations_and_held_messages() -> None:
    figures = bench_data_bytes(events=6_000, partitions=2)
    assert figures["conversations"] > 0
    assert figures["messages"] > figures["conversations"]  # posts gather several comments
    assert 0 < figures["bytes_per_message"] < figures["bytes_per_conversation"]


def test_a_big_conversation_of_numeric_ids_matches_as_the_rule_says_in_any_order(event_factory: EventFactory) -> None:
    # More messages than a conversation scans: indexed by id (ints and texts alike) and by author.
    rng = random.Random(11)
    ids = [str(int(SNOWFLAKE) + i) if i % 3 else f"0{i}" for i in range(30)]
    authors = [ALICE, "ps1:" + "b2" * 16, "7012345678"]
    events: list[Matchable] = [
        event_factory("comment", message_id=mid, author_id=rng.choice(authors), created_at=T0 + timedelta(minutes=i))
        for i, mid in enumerate(ids)
    ]
    events += [
        _reply(event_factory, str(9 - j), rng.choice([*ids, "404"]), "p1", T0 + timedelta(hours=j // 2))
        for j in range(10)
    ]
    events += [event_factory("remove", target_id=ids[k], created_at=T0 + timedelta(minutes=45 + k)) for k in (4, 9)]
    expected = reference_first_responses(events)
    assert len(expected) > 5
    for seed in range(4):
        matcher = _matcher()
        assert final_facts(matcher.add(random.Random(seed).sample(events, len(events)))) == expected
        assert {message_id for _, _, message_id, _ in matcher.unanswered()} == set(ids) - set(expected)


def test_ids_of_thousands_of_digits_match_and_are_held_as_text(event_factory: EventFactory) -> None:
    # int() refuses more than 4,300 digits: such ids (valid events) must stay text, in add() and holds() alike.
    huge, other = "1" * 5000, "2" * 5000
    question = _question(event_factory, huge, huge, T0)
    reply = _reply(event_factory, other, huge, huge, T0 + timedelta(hours=1))
    matcher = _matcher()
    [fact] = matcher.add([question, reply])
    assert (fact.message_id, fact.root_id, fact.reply_id) == (huge, huge, other)
    assert matcher.holds((question.platform, question.account_id, huge))
    assert not matcher.holds((question.platform, question.account_id, "3" * 5000))
    assert list(matcher.unanswered()) == []
