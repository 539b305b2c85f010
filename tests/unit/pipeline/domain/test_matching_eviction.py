"""Eviction by hour of event time, the cap on open conversations, and the spill path (reload when met again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.matching import ConversationKey, Matchable, Matcher, ResponseFact, conversation_key
from tests.helpers.events import T0, EventFactory
from tests.helpers.strategies import conversations, final_facts, reference_first_responses

START = datetime(2026, 11, 2, tzinfo=UTC)
LATENESS = timedelta(hours=6)  # shorter than the strategies' conversations (up to ~3 days): eviction happens
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def _matcher(lateness: timedelta = LATENESS) -> Matcher:
    return Matcher(business=lambda *_: 0.0, lateness=lateness)


def _end_of_hour(at: datetime) -> datetime:
    return _EPOCH + ((at - _EPOCH) // _HOUR + 1) * _HOUR


def _chunks(events: list[Matchable], sizes: list[int]) -> list[list[Matchable]]:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(events[start : start + size])
        start += size
    return [*chunks, events[start:]]


@st.composite
def _streams(draw: st.DrawFn) -> tuple[list[list[Matchable]], list[datetime], int | None]:
    """Events in chunks, a watermark per chunk (any order: a partition may lag), and a cap (or none)."""
    events = draw(conversations("tdemo", "900100", START, prefix="a")) + draw(
        conversations("tdemo", "900200", START, prefix="b")
    )
    chunks = _chunks(events, draw(st.lists(st.integers(1, 6), max_size=12)))
    offsets = st.integers(0, 5 * 24 * 60)  # minutes after START
    watermarks = [START + timedelta(minutes=draw(offsets)) for _ in chunks]
    return chunks, watermarks, draw(st.none() | st.integers(0, 6))


@settings(max_examples=300, deadline=None)
@given(_streams())
def test_eviction_by_hour_buckets_equals_a_naive_scan_and_the_cap_drops_the_oldest_idle(
    stream: tuple[list[list[Matchable]], list[datetime], int | None],
) -> None:
    chunks, watermarks, limit = stream
    matcher = _matcher()
    last: dict[ConversationKey, datetime] = {}  # the reference: held conversations and their latest event
    seen: set[ConversationKey] = set()
    for chunk, watermark in zip(chunks, watermarks, strict=True):
        matcher.add(chunk)
        for event in chunk:
            key = conversation_key(event)
            last[key] = max(last.get(key, event.created_at), event.created_at)
            seen.add(key)
        keep = {conversation_key(event) for event in chunk}
        horizon = watermark - LATENESS
        idle = {key for key, at in last.items() if _end_of_hour(at) <= horizon and key not in keep}
        for key in idle:
            del last[key]
        evicted = matcher.evict(watermark, keep=keep, limit=limit)
        assert evicted.idle == len(idle)
        if limit is not None:
            droppable = [key for key in last if key not in keep and not matcher.holds(key)]
            assert evicted.capped == len(droppable) == max(0, min(len(last) - limit, len(set(last) - keep)))
            survivors = [_end_of_hour(at) for key, at in last.items() if key not in keep and matcher.holds(key)]
            assert all(_end_of_hour(last[key]) <= min(survivors, default=_END_OF_TIME) for key in droppable)
            for key in droppable:
                del last[key]
        assert evicted == evicted.idle + evicted.capped
        assert {key for key in seen if matcher.holds(key)} == set(last)
        assert len(matcher) == len(last)


@settings(max_examples=200, deadline=None)
@given(_streams())
def test_evicted_and_capped_conversations_reloaded_when_met_again_give_the_facts_of_a_matcher_that_kept_all(
    stream: tuple[list[list[Matchable]], list[datetime], int | None],
) -> None:
    # The processor's spill path: before a chunk, the stored events of every conversation it touches that the
    # matcher does not hold are added again; a cap or an eviction then costs reads, never a wrong fact.
    chunks, _, limit = stream
    matcher = _matcher()
    stored: list[Matchable] = []
    facts: list[ResponseFact] = []
    for chunk in chunks:
        keys = {conversation_key(event) for event in chunk}
        missing = {key for key in keys if not matcher.holds(key)}
        facts += matcher.add([event for event in stored if conversation_key(event) in missing])
        facts += matcher.add(chunk)
        stored += chunk
        matcher.evict(keep=keys, limit=limit)
    assert final_facts(facts) == reference_first_responses(stored)


def test_the_cap_drops_the_oldest_idle_conversations_first_and_never_those_to_keep(event_factory: EventFactory) -> None:
    matcher = _matcher(lateness=timedelta(days=7))
    roots = ["r0", "r1", "r2", "r3", "r4"]
    for hours, root in enumerate(roots):
        matcher.add([event_factory("comment", root_id=root, created_at=T0 + timedelta(hours=hours))])
    oldest = conversation_key(event_factory("comment", root_id="r0"))
    key = {root: (oldest[0], oldest[1], root) for root in roots}
    evicted = matcher.evict(keep={key["r0"]}, limit=2)
    assert (evicted, evicted.idle, evicted.capped) == (3, 0, 3)
    assert [root for root in roots if matcher.holds(key[root])] == ["r0", "r4"]  # kept, and the newest
    # A message to an old conversation makes it the newest: the cap then drops the one idle longest.
    matcher.add([event_factory("comment", root_id="r0", created_at=T0 + timedelta(hours=9))])
    assert matcher.evict(limit=1) == 1
    assert [root for root in roots if matcher.holds(key[root])] == ["r0"]
    assert repr(matcher.evict(limit=0)) == "Evicted(idle=0, capped=1)"
    assert len(matcher) == 0


def test_keep_wins_over_the_cap_and_idle_conversations_kept_go_on_a_later_call(event_factory: EventFactory) -> None:
    matcher = _matcher(lateness=timedelta(days=7))
    old = event_factory("comment", root_id="old", created_at=T0)
    new = event_factory("comment", root_id="new", created_at=T0 + timedelta(days=8))
    matcher.add([old, new])
    both = {conversation_key(old), conversation_key(new)}
    assert matcher.evict(keep=both, limit=0) == 0
    assert len(matcher) == 2
    evicted = matcher.evict(keep={conversation_key(new)})
    assert (evicted.idle, evicted.capped) == (1, 0)
    assert not matcher.holds(conversation_key(old))


def test_a_conversation_goes_once_the_hour_of_its_latest_event_ended_a_lateness_ago(
    event_factory: EventFactory,
) -> None:
    matcher = _matcher(lateness=timedelta(days=7))
    question = event_factory("comment", created_at=T0 + timedelta(minutes=30))  # T0 is on the hour
    matcher.add([question])
    assert matcher.evict(T0 + timedelta(days=7, minutes=59, seconds=59)) == 0  # its hour ends at T0 + 1 h
    assert matcher.evict(T0 + timedelta(days=7, hours=1)) == 1


def test_a_later_event_moves_a_conversation_to_its_hour_and_an_older_one_does_not(
    event_factory: EventFactory,
) -> None:
    matcher = _matcher(lateness=timedelta(hours=1))
    matcher.add([event_factory("comment", message_id="q1", created_at=T0)])
    matcher.add([event_factory("reply", parent_id="q1", created_at=T0 + timedelta(hours=5))])
    matcher.add([event_factory("comment", message_id="q0", created_at=T0 - timedelta(hours=3))])
    key = conversation_key(event_factory("comment"))
    assert matcher.evict(T0 + timedelta(hours=6, minutes=59)) == 0  # last event at T0 + 5 h
    assert matcher.holds(key)
    assert matcher.evict(T0 + timedelta(hours=7)) == 1
