"""The benchmark's synthetic events behave like life: replies in their conversation, late ones, ~15 % facts."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from pipeline.bench.data import SyntheticEvents
from pipeline.domain.matching import CLOSED_BY_REMOVAL, Matcher, ResponseFact
from pipeline.stream.decode import Record, decode
from schemas.events import EVENT_ADAPTER, Change, ChangeOp, Interaction
from schemas.topics import partition_for

EVENTS = 20_000
PARTITIONS = 6


@pytest.fixture(scope="module")
def taken() -> list[tuple[int, dict[str, Any]]]:
    return SyntheticEvents(PARTITIONS, 500, seed=3, events=EVENTS).take(EVENTS)


@pytest.fixture(scope="module")
def matched(taken: list[tuple[int, dict[str, Any]]]) -> list[list[ResponseFact]]:
    """The facts each event produced or updated, through the real matcher, in arrival order."""
    matcher = Matcher(business=lambda agency, start, end: 0.0)
    out = []
    for _, raw in taken:
        event = EVENT_ADAPTER.validate_python(raw)
        if isinstance(event, Interaction) or (isinstance(event, Change) and event.op is ChangeOp.REMOVE):
            out.append(matcher.add([event]))
        else:
            out.append([])
    return out


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["created_at"])


def test_about_15_percent_of_the_events_produce_or_update_a_fact(matched: list[list[ResponseFact]]) -> None:
    share = sum(1 for facts in matched if facts) / EVENTS
    assert 0.12 <= share <= 0.18


def test_every_event_is_in_the_partition_of_its_conversation(taken: list[tuple[int, dict[str, Any]]]) -> None:
    for partition, event in taken:
        root = event["post_id"] if event["type"] == "post" else event["root_id"]
        assert partition == partition_for(f"{event['platform']}:{event['account_id']}:{root}", PARTITIONS)
    assert {partition for partition, _ in taken} == set(range(PARTITIONS))


def test_agency_replies_answer_citizen_messages_of_their_own_conversation(
    taken: list[tuple[int, dict[str, Any]]],
) -> None:
    citizen = {
        e["message_id"]: (p, e) for p, e in taken if e["type"] == "interaction" and e["author_role"] == "citizen"
    }
    replies = [(p, e) for p, e in taken if e.get("author_role") == "agency" and e["parent_id"] in citizen]
    assert len(replies) > 0.12 * EVENTS
    for partition, reply in replies:
        parent_partition, parent = citizen[reply["parent_id"]]
        assert (reply["platform"], reply["account_id"], reply["root_id"]) == (
            parent["platform"],
            parent["account_id"],
            parent["root_id"],
        )
        assert partition == parent_partition
        assert reply["parent_author_id"] == parent["author_id"]
        assert reply["author_id"] == reply["account_id"]


def test_some_replies_come_hours_or_days_later_some_after_the_lateness(
    taken: list[tuple[int, dict[str, Any]]],
) -> None:
    asked = {e["message_id"]: _at(e) for _, e in taken if e["type"] == "interaction" and e["author_role"] == "citizen"}
    delays = [
        _at(e) - asked[e["parent_id"]] for _, e in taken if e.get("parent_id") in asked and e["author_role"] == "agency"
    ]
    assert min(delays) < timedelta(hours=1)
    assert any(timedelta(hours=2) < d < timedelta(days=1) for d in delays)
    assert any(timedelta(days=1) < d < timedelta(days=7) for d in delays)
    assert any(d > timedelta(days=7) for d in delays)  # the matcher has evicted that conversation by then


def test_double_questions_removals_and_late_deliveries_show_in_the_facts(matched: list[list[ResponseFact]]) -> None:
    facts = [fact for found in matched for fact in found]
    # One reply answering two messages of the same citizen.
    per_reply: dict[str, set[str]] = {}
    for fact in facts:
        if fact.answered:
            per_reply.setdefault(fact.reply_id, set()).add(fact.message_id)
    assert any(len(messages) == 2 for messages in per_reply.values())
    assert any(fact.closed_by == CLOSED_BY_REMOVAL for fact in facts)
    # An earlier reply delivered after a later one improves the fact: the same message, a fact again.
    messages = [fact.message_id for fact in facts]
    assert len(set(messages)) < len(messages)


def test_event_time_spans_the_requested_days_and_arrives_almost_in_order(
    taken: list[tuple[int, dict[str, Any]]],
) -> None:
    times = [_at(event) for _, event in taken]
    assert timedelta(days=9.9) <= max(times) - min(times) <= timedelta(days=10)
    late = sum(1 for before, after in itertools.pairwise(times) if after < before)
    assert 0 < late < 0.01 * EVENTS  # the few replies delivered late


def test_every_event_is_stored_by_the_worker(taken: list[tuple[int, dict[str, Any]]]) -> None:
    records = SyntheticEvents(PARTITIONS, 500, seed=3, events=EVENTS).batch_records(EVENTS)
    decoded = decode(
        [Record(partition, offset, value) for offset, (partition, value) in enumerate(records)],
        ceiling=datetime.fromisoformat("2100-01-01T00:00:00Z"),
        is_agency_account=lambda platform, account: False,
    )
    assert decoded.failures == []
    assert sum(len(rows) for rows in decoded.rows.values()) == EVENTS


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others() -> None:
    def records(seed: int) -> list[tuple[int, bytes]]:
        return SyntheticEvents(PARTITIONS, 500, seed=seed, events=5000).batch_records(5000)

    assert records(1) == records(1)
    assert records(1) != records(2)
    events = [event for _, value in records(1) for event in orjson.loads(value)["events"]]
    assert len(events) == 5000
    assert len({event["event_id"] for event in events}) == 5000
