from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

from pipeline.domain.matching import Matcher, ResponseFact, conversation_key
from schemas.events import Interaction
from tests.helpers.events import OTHER_ACCOUNT, T0, EventFactory


def _matcher() -> Matcher:
    return Matcher(business=lambda agency, start, end: (end - start).total_seconds() / 2)


def _final(facts: list[ResponseFact]) -> dict[str, tuple[str, float]]:
    best: dict[str, ResponseFact] = {}
    for fact in facts:
        if fact.message_id not in best or (fact.answered_at, fact.reply_id) < (
            best[fact.message_id].answered_at,
            best[fact.message_id].reply_id,
        ):
            best[fact.message_id] = fact
    return {k: (v.reply_id, v.response_seconds) for k, v in best.items()}


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _thread(event_factory: EventFactory) -> dict[str, Interaction]:
    """A citizen tweets twice (q1, q2); the agency answers q2 once; another citizen asks q3."""
    return {
        "q1": event_factory("comment", message_id="q1", author_id="ps1:a", created_at=_at(0)),
        "q2": event_factory("comment", message_id="q2", author_id="ps1:a", created_at=_at(5)),
        "q3": event_factory("comment", message_id="q3", author_id="ps1:b", created_at=_at(6)),
        "r1": event_factory("reply", message_id="r1", parent_id="q2", created_at=_at(65)),
    }


def test_double_tweet_answered_by_one_reply(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    facts = _matcher().add(list(t.values()))
    assert _final(facts) == {"q1": ("r1", 65 * 60.0), "q2": ("r1", 60 * 60.0)}
    fact = next(f for f in facts if f.message_id == "q2")
    assert fact.business_seconds == 30 * 60.0
    assert fact.citizen_id == "ps1:a"
    assert fact.asked_at == t["q2"].created_at


def test_reply_before_message_in_arrival_order(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    matcher = _matcher()
    assert matcher.add([t["r1"]]) == []
    facts = matcher.add([t["q2"], t["q1"]])
    assert _final(facts) == {"q1": ("r1", 65 * 60.0), "q2": ("r1", 60 * 60.0)}


def test_duplicate_reply_and_message_emit_nothing_new(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    matcher = _matcher()
    first = matcher.add(list(t.values()))
    assert first
    assert matcher.add(list(t.values())) == []


def test_earlier_late_reply_improves_the_fact(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    matcher = _matcher()
    matcher.add(list(t.values()))
    early = event_factory("reply", message_id="r0", parent_id="q1", created_at=_at(10))
    facts = matcher.add([early])
    assert _final(facts) == {"q1": ("r0", 10 * 60.0)}


def test_reply_to_unknown_parent_waits_then_matches(event_factory: EventFactory) -> None:
    matcher = _matcher()
    reply = event_factory("reply", message_id="r9", parent_id="q9", created_at=_at(30))
    assert matcher.add([reply]) == []
    question = event_factory("comment", message_id="q9", author_id="ps1:c", created_at=_at(0))
    assert _final(matcher.add([question])) == {"q9": ("r9", 30 * 60.0)}


def test_inter_agency_reply_does_not_answer(event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id="ps1:a", created_at=_at(0))
    other = event_factory(
        "reply", message_id="o1", parent_id="q1", author_id=OTHER_ACCOUNT, author_role="other_agency", created_at=_at(3)
    )
    assert _matcher().add([question, other]) == []


def test_reply_to_inter_agency_message_answers_no_citizen(event_factory: EventFactory) -> None:
    inter = event_factory(
        "comment", message_id="o1", author_id=OTHER_ACCOUNT, author_role="other_agency", created_at=_at(0)
    )
    reply = event_factory("reply", message_id="r1", parent_id="o1", created_at=_at(3))
    question = event_factory("comment", message_id="q1", author_id="ps1:a", created_at=_at(-5))
    assert _matcher().add([inter, reply, question]) == []


def test_reply_answers_only_earlier_messages_of_the_parents_author(event_factory: EventFactory) -> None:
    later = event_factory("comment", message_id="q5", author_id="ps1:a", created_at=_at(70))
    t = _thread(event_factory)
    facts = _final(_matcher().add([*t.values(), later]))
    assert "q5" not in facts
    assert "q3" not in facts


def test_other_conversation_is_separate(event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id="ps1:a", root_id="p1", created_at=_at(0))
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id="p2", created_at=_at(3))
    assert _matcher().add([question, reply]) == []


def test_result_is_independent_of_order_and_duplicates(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    extra = [
        event_factory("reply", message_id="r0", parent_id="q1", created_at=_at(40)),
        event_factory("reply", message_id="r2", parent_id="q3", created_at=_at(50)),
    ]
    events = [*t.values(), *extra]
    expected = _final(_matcher().add(events))
    rng = random.Random(3)
    for order in itertools.islice(itertools.permutations(events), 0, 720, 7):
        shuffled = list(order) + rng.sample(events, 2)
        assert _final(_matcher().add(shuffled)) == expected


def test_idle_conversations_are_evicted_after_lateness(event_factory: EventFactory) -> None:
    matcher = Matcher(business=lambda *_: 0.0, lateness=timedelta(days=7))
    matcher.add([event_factory("comment", root_id="old", created_at=_at(0))])
    matcher.add([event_factory("comment", root_id="new", created_at=_at(0) + timedelta(days=8))])
    assert len(matcher) == 2
    assert matcher.evict() == 1
    assert len(matcher) == 1


def test_a_conversation_to_keep_is_not_evicted_and_the_matcher_tells_which_it_holds(
    event_factory: EventFactory,
) -> None:
    matcher = Matcher(business=lambda *_: 0.0, lateness=timedelta(days=7))
    old, new = (
        event_factory("comment", root_id="old", created_at=_at(0)),
        event_factory("comment", root_id="new", created_at=_at(0) + timedelta(days=8)),
    )
    matcher.add([old, new])
    assert conversation_key(old) == ("x", old.account_id, "old")
    assert matcher.evict(keep={conversation_key(old)}) == 0
    assert matcher.holds(conversation_key(old))
    assert matcher.evict() == 1
    assert not matcher.holds(conversation_key(old))
    assert matcher.holds(conversation_key(new))


def test_a_conversation_reloaded_after_eviction_matches_as_if_it_never_left(event_factory: EventFactory) -> None:
    # The worker reloads an evicted conversation from ClickHouse before adding to it: a reply of any lateness
    # then gives the same fact as in a matcher that kept everything.
    t = _thread(event_factory)
    late = event_factory("reply", message_id="r0", parent_id="q3", created_at=_at(0) + timedelta(days=15))
    newer = event_factory("comment", root_id="other", created_at=_at(0) + timedelta(days=15))
    kept = _final(_matcher().add([*t.values(), newer, late]))
    matcher = _matcher()
    first = matcher.add(t.values())
    matcher.add([newer])
    assert matcher.evict() == 1
    reloaded = matcher.add(t.values())  # what ClickHouse holds of the conversation
    assert _final(first) == _final(reloaded)  # its facts come back (stored again: an upsert)
    assert _final([*reloaded, *matcher.add([late])]) == kept


def test_reply_arriving_before_its_parent_still_answers_earlier_messages(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    for order in (["r1", "q1", "q2"], ["q1", "r1", "q2"], ["r1", "q2", "q1"]):
        facts = _matcher().add([t[name] for name in order])
        assert _final(facts) == {"q1": ("r1", 65 * 60.0), "q2": ("r1", 60 * 60.0)}, order


# --- removals: a removal is the message's closure when it comes before any answer --------------------------------


def test_a_removal_before_any_answer_closes_the_message_as_removed(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    removal = event_factory("remove", target_id="q3", created_at=_at(30))
    facts = _matcher().add([*t.values(), removal])
    [closed] = [f for f in facts if f.message_id == "q3"]
    assert (closed.closed_by, closed.reply_id, closed.answered_at, closed.answered) == ("removal", "", _at(30), False)
    assert _final(facts)["q2"] == ("r1", 60 * 60.0)  # the others keep their answers


def test_an_answer_before_the_removal_stays_the_answer_in_any_arrival_order(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    removal = event_factory("remove", target_id="q2", created_at=_at(90))
    for order in itertools.permutations([t["q1"], t["q2"], t["r1"], removal]):
        facts = _final(_matcher().add(list(order)))
        assert facts["q2"] == ("r1", 60 * 60.0)


def test_a_removal_met_before_its_message_waits_and_a_later_reply_does_not_answer_it(
    event_factory: EventFactory,
) -> None:
    t = _thread(event_factory)
    matcher = _matcher()
    assert matcher.add([event_factory("remove", target_id="q2", created_at=_at(20))]) == []
    facts = matcher.add([t["q2"], t["r1"]])
    [closed] = [f for f in facts if f.message_id == "q2"]
    assert closed.closed_by == "removal"
    assert closed.answered_at == _at(20)


def test_a_removal_closes_only_its_target_and_the_earliest_removal_wins(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    early = event_factory("remove", target_id="q2", created_at=_at(10))
    late = event_factory("remove", target_id="q2", created_at=_at(40))
    facts = _matcher().add([t["q1"], t["q2"], late, early, late])
    assert {f.message_id for f in facts} == {"q2"}  # q1 (same author, earlier) stays open
    assert min(f.answered_at for f in facts) == _at(10)


def test_an_edit_changes_nothing(event_factory: EventFactory) -> None:
    t = _thread(event_factory)
    edit = event_factory("edit", target_id="q3", created_at=_at(7), text="edited")
    assert _final(_matcher().add([*t.values(), edit])) == _final(_matcher().add(list(t.values())))
