"""The processor on in-memory fakes, through the worker's own prepare() -> commit() path (no chDB, no Kafka)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.domain.matching import conversation_key
from pipeline.domain.tally import UnansweredTally
from pipeline.errors import StoreError
from pipeline.metrics import Metrics
from pipeline.stream.decode import DeadLetterRow, Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.events import Event
from schemas.records import encode_batch
from schemas.tables import COLUMNS
from tests.helpers.events import ACCOUNT, T0, EventFactory
from tests.helpers.fakes import DirectoryAgencies, FakeClock, ListHistory, ListInserter

CLEAR = "7012345678901234"
ALICE, BOB, CARA = ("ps1:" + c * 32 for c in "abc")


@dataclass
class Rig:
    """A processor and the fakes around it."""

    processor: Processor
    inserter: ListInserter
    history: ListHistory
    clock: FakeClock
    metrics: Metrics

    def handle(self, *records: Record) -> list[DeadLetterRow]:
        """What the worker does with a chunk: prepare, then commit; the failures to dead-letter."""
        prepared = self.processor.prepare(records)
        self.processor.commit(prepared)
        return prepared.failures

    def stored(self, table: str) -> float | None:
        return self.metrics.registry.get_sample_value("serambi_sink_rows_stored_total", {"table": table})


@pytest.fixture
def rig(tiny_directory: Directory) -> Rig:
    inserter, history, clock = (
        ListInserter(),
        ListHistory(),
        FakeClock(T0 + timedelta(days=10)),
    )  # wall clock after every event below
    metrics = Metrics(CollectorRegistry())
    processor = Processor(inserter, metrics, DirectoryAgencies(tiny_directory), history, clock=clock)
    return Rig(processor, inserter, history, clock, metrics)


def record(partition: int, offset: int, *events: Event) -> Record:
    return Record(partition, offset, encode_batch(list(events)))


def test_events_are_stored_only_on_commit(rig: Rig, event_factory: EventFactory) -> None:
    post = event_factory("post")
    comment = event_factory("comment", author_id=ALICE)
    like = event_factory("reaction", author_id=BOB)
    seen: list[Sequence[Record]] = []
    rig.processor.observers.append(seen.append)
    records = [record(0, 10, post, comment), record(1, 3, like)]
    prepared = rig.processor.prepare(records)
    assert rig.inserter.rows == {}
    assert seen == []
    rig.processor.commit(prepared)
    assert prepared.failures == []
    assert rig.inserter.column("posts", "event_id") == [post.event_id]
    assert rig.inserter.column("interactions", "event_id") == [comment.event_id]
    assert rig.inserter.column("reactions", "event_id") == [like.event_id]
    assert rig.processor.rows_total == 3
    assert rig.stored("posts") == 1
    assert rig.metrics.registry.get_sample_value("serambi_sink_batches_total") == 1
    assert seen == [records]


def test_raw_rows_carry_every_column(rig: Rig, event_factory: EventFactory) -> None:
    comment = event_factory("comment", author_id=ALICE, parent_author_id=None)
    rig.handle(record(0, 0, comment))
    row = rig.inserter.rows["interactions"][0]
    assert set(COLUMNS["interactions"]) <= set(row)
    assert row["message_id"] == comment.message_id
    assert row["author_role"] == "citizen"
    assert datetime.fromisoformat(row["created_at"]) == comment.created_at
    assert row["links"] == []


def test_bad_records_and_events_are_dead_lettered_with_their_place(rig: Rig, event_factory: EventFactory) -> None:
    good = event_factory("post")
    batch = orjson.loads(encode_batch([event_factory("comment", author_id=ALICE)]))
    batch["events"].append({**batch["events"][0], "event_id": "x:broken", "kind": "shout"})
    failures = rig.handle(Record(2, 41, b"garbage"), Record(2, 42, orjson.dumps(batch)), record(2, 43, good))
    assert [(f.error_type, f.source) for f in failures] == [
        ("undecodable", "worker:events/p2@41"),
        ("schema", "worker:events/p2@42"),
    ]
    assert "kind" in failures[1].reason
    assert rig.inserter.column("posts", "event_id") == [good.event_id]
    assert len(rig.inserter.rows["interactions"]) == 1  # the broken event's neighbour survives


def test_citizen_ids_in_clear_are_dead_lettered_and_never_stored(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=CLEAR)
    refused = [
        question,
        event_factory("reply", parent_id="q1", parent_author_id=CLEAR),
        event_factory("reaction", author_id=CLEAR),
    ]
    allowed = [  # agencies' own accounts may stay in clear
        event_factory("comment", author_id=ALICE, parent_author_id=ACCOUNT),
        event_factory("reaction", author_id=ACCOUNT),
    ]
    failures = rig.handle(record(0, 7, *refused, *allowed))
    assert [(f.error_type, f.source) for f in failures] == [("not_pseudonymised", "worker:events/p0@7")] * 3
    assert [f.raw["event_id"] for f in failures] == [e.event_id for e in refused]
    assert rig.inserter.column("interactions", "event_id") == [allowed[0].event_id]
    assert rig.inserter.column("reactions", "event_id") == [allowed[1].event_id]
    assert CLEAR not in orjson.dumps(rig.inserter.rows).decode()
    assert len(rig.processor.matcher) == 1  # the refused question never reached the matcher


def test_a_reply_in_a_later_chunk_stores_a_response_fact(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)  # Monday 10:00 KL
    reply = event_factory("reply", message_id="r1", parent_id="q1", created_at=T0 + timedelta(hours=1))
    rig.handle(record(0, 0, question))
    assert "response_facts" not in rig.inserter.rows
    rig.handle(record(1, 0, reply))
    [fact] = rig.inserter.rows["response_facts"]
    assert (fact["message_id"], fact["reply_id"], fact["citizen_id"]) == ("q1", "r1", ALICE)
    assert fact["response_seconds"] == fact["business_seconds"] == 3600.0
    assert rig.processor.facts_total == 1
    assert rig.stored("response_facts") == 1
    assert rig.processor.rows_total == 2


def test_a_redelivered_chunk_stores_its_rows_again_but_no_new_fact(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    reply = event_factory("reply", message_id="r1", parent_id="q1")
    rig.handle(record(0, 0, question, reply))
    rig.handle(record(0, 0, question, reply))
    assert len(rig.inserter.rows["interactions"]) == 4  # upserts: ClickHouse keeps one of each
    assert len(rig.inserter.rows["response_facts"]) == 1


def test_a_failed_commit_can_be_retried(rig: Rig, event_factory: EventFactory) -> None:
    prepared = rig.processor.prepare([record(0, 0, event_factory("post"))])
    rig.inserter.fail_next = 1
    with pytest.raises(StoreError):
        rig.processor.commit(prepared)
    rig.processor.commit(prepared)
    assert len(rig.inserter.rows["posts"]) == 1
    assert rig.processor.rows_total == 1


def _comment(event_factory: EventFactory, root: str, author: str, at: datetime) -> Any:
    return event_factory("comment", root_id=root, author_id=author, created_at=at)


def test_eviction_waits_for_a_lagging_partition(rig: Rig, event_factory: EventFactory) -> None:
    rig.handle(record(0, 0, _comment(event_factory, "A", ALICE, T0)))
    rig.handle(record(1, 0, _comment(event_factory, "B", BOB, T0 + timedelta(days=8))))
    assert len(rig.processor.matcher) == 2  # partition 0 is 8 days behind: A may still get replies


def test_eviction_follows_the_slowest_partition_once_it_moves(rig: Rig, event_factory: EventFactory) -> None:
    rig.handle(record(0, 0, _comment(event_factory, "A", ALICE, T0)))
    rig.handle(record(1, 0, _comment(event_factory, "B", BOB, T0 + timedelta(days=8))))
    rig.handle(record(0, 1, _comment(event_factory, "C", CARA, T0 + timedelta(days=7, hours=1))))
    assert len(rig.processor.matcher) == 2  # A idle for 7 days and 1 hour at the slowest partition's time


def test_a_partition_silent_for_ten_minutes_stops_holding_eviction(rig: Rig, event_factory: EventFactory) -> None:
    rig.handle(record(0, 0, _comment(event_factory, "A", ALICE, T0)))
    rig.handle(record(1, 0, _comment(event_factory, "B", BOB, T0 + timedelta(days=8))))
    rig.clock.advance(timedelta(minutes=10))
    rig.handle(record(1, 1, _comment(event_factory, "C", CARA, T0 + timedelta(days=8))))
    assert len(rig.processor.matcher) == 3  # silent for exactly 10 minutes: still active
    rig.clock.advance(timedelta(seconds=1))
    rig.handle(record(1, 2, _comment(event_factory, "D", CARA, T0 + timedelta(days=8))))
    assert len(rig.processor.matcher) == 3  # partition 0 is idle: A (8 days old) is evicted


def test_an_event_from_the_future_does_not_move_the_watermark(rig: Rig, event_factory: EventFactory) -> None:
    rig.clock.now = T0 + timedelta(days=8)
    question = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    # Beyond the skew but within SERAMBI_MAX_FUTURE_HOURS (a day): stored, yet it must not evict A (8 days old).
    future = _comment(event_factory, "B", BOB, rig.clock.now + timedelta(hours=23))
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id="A", created_at=T0 + timedelta(minutes=30))
    rig.handle(record(0, 0, question, future))
    assert len(rig.processor.matcher) == 2
    rig.handle(record(0, 1, reply))
    assert rig.inserter.column("response_facts", "message_id") == ["q1"]
    assert rig.inserter.column("interactions", "event_id") == [question.event_id, future.event_id, reply.event_id]


def test_an_event_within_the_clock_skew_moves_the_watermark(rig: Rig, event_factory: EventFactory) -> None:
    rig.clock.now = T0 + timedelta(days=8)
    rig.handle(record(0, 0, _comment(event_factory, "A", ALICE, T0)))
    rig.handle(record(0, 1, _comment(event_factory, "B", BOB, rig.clock.now + timedelta(minutes=59))))
    assert len(rig.processor.matcher) == 1  # 59 minutes ahead is a plausible clock: A (8 days old) goes


def test_rebuild_replays_history_so_a_later_reply_matches(rig: Rig, event_factory: EventFactory) -> None:
    first = event_factory("comment", message_id="q1", author_id=ALICE)
    second = event_factory("comment", message_id="q2", author_id=ALICE)
    rig.history.events = [first, second]
    assert rig.processor.rebuild() == 2
    assert rig.history.asked == [(timedelta(days=7), rig.clock.now + timedelta(hours=1))]
    assert "response_facts" not in rig.inserter.rows
    rig.handle(record(0, 0, event_factory("reply", message_id="r1", parent_id="q2")))
    assert sorted(rig.inserter.column("response_facts", "message_id")) == ["q1", "q2"]


def test_rebuild_stores_facts_the_history_already_implies(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    rig.history.events = [question, event_factory("reply", message_id="r1", parent_id="q1")]
    rig.processor.rebuild()
    assert rig.inserter.column("response_facts", "reply_id") == ["r1"]
    assert rig.processor.facts_total == 1
    assert rig.processor.rows_total == 0  # raw rows were stored before the restart


class _PoisonedAgencies(DirectoryAgencies):
    """The agency lookup, raising (a bug, not bad input) when asked about the account ``poison``."""

    __test__ = False

    def is_account(self, platform: str, account_id: str) -> bool:
        if account_id == "poison":
            msg = "lookup bug"
            raise RuntimeError(msg)
        return super().is_account(platform, account_id)


def test_a_chunk_that_fails_is_split_until_the_bad_record_is_isolated(
    tiny_directory: Directory, event_factory: EventFactory
) -> None:
    # Issue 7, item 5: an unexpected exception while decoding stopped the worker for good (exit 70, forever).
    inserter = ListInserter()
    agencies = _PoisonedAgencies(tiny_directory)
    # The wall clock is after every event: the factory's times grow with every event made in the session.
    clock = FakeClock(T0 + timedelta(days=30))
    processor = Processor(inserter, Metrics(CollectorRegistry()), agencies, ListHistory(), clock=clock)
    goods = [event_factory("reaction", author_id=ALICE) for _ in range(7)]
    records = [record(n % 3, n, good) for n, good in enumerate(goods)]
    records[3] = record(1, 3, goods[3], event_factory("reaction", author_id="poison"))
    prepared = processor.prepare(records)
    processor.commit(prepared)
    assert [(f.error_type, f.source, f.raw) for f in prepared.failures] == [
        ("poison", "worker:events/p1@3", records[3].value)
    ]
    assert prepared.failures[0].reason == "RuntimeError: lookup bug"
    # Every other record is stored, in record order; only the bad record is lost (its whole batch, dead-lettered).
    assert inserter.column("reactions", "event_id") == [e.event_id for n, e in enumerate(goods) if n != 3]


def test_an_interaction_the_matcher_cannot_take_is_dead_lettered_and_the_rest_matched(
    rig: Rig, event_factory: EventFactory
) -> None:
    # A reply for an agency the lookup does not know raises KeyError while its business time is counted.
    ghost = {"agency_id": "ghost", "root_id": "g"}
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    reply = event_factory("reply", message_id="r1", parent_id="q1")
    ghost_q = event_factory("comment", message_id="gq", author_id=BOB, parent_id="g", **ghost)
    ghost_r = event_factory("reply", message_id="gr", parent_id="gq", **ghost)
    later = event_factory("comment", message_id="q2", author_id=CARA)
    later_reply = event_factory("reply", message_id="r2", parent_id="q2")
    failures = rig.handle(record(0, 0, question, ghost_q, ghost_r, reply, later, later_reply))
    assert [(f.error_type, f.source, f.raw["event_id"]) for f in failures] == [
        ("poison", "worker:matcher", ghost_r.event_id)
    ]
    assert "KeyError" in failures[0].reason
    assert sorted(rig.inserter.column("response_facts", "message_id")) == ["q1", "q2"]
    assert len(rig.inserter.rows["interactions"]) == 6  # valid events are stored all the same
    rig.handle(record(0, 0, question, reply, later, later_reply))  # redelivered: nothing new, nothing lost
    assert sorted(rig.inserter.column("response_facts", "message_id")) == ["q1", "q2"]


def test_rebuild_skips_a_stored_interaction_the_matcher_cannot_take(rig: Rig, event_factory: EventFactory) -> None:
    # Otherwise every restart would fail on it again: a crash loop.
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    ghost_q = event_factory("comment", message_id="gq", author_id=BOB, agency_id="ghost", root_id="g")
    ghost_r = event_factory("reply", message_id="gr", parent_id="gq", agency_id="ghost", root_id="g")
    rig.history.events = [question, ghost_q, ghost_r]
    assert rig.processor.rebuild() == 3
    rig.handle(record(0, 0, event_factory("reply", message_id="r1", parent_id="q1")))
    assert rig.inserter.column("response_facts", "message_id") == ["q1"]


# Issue 7, items 3 and 4: the matcher's memory is a cache of ClickHouse. A conversation it does not hold (never
# seen by this process, e.g. after a restart, or evicted) is reloaded before the chunk that touches it.


def test_after_a_restart_a_reply_reloads_its_conversation_whatever_its_partition_lags(
    rig: Rig, event_factory: EventFactory
) -> None:
    # Stored before the restart: a question on a partition far behind another one, which a time-window
    # rebuild at the newest stored time would miss.
    question = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    newer = event_factory("comment", message_id="q2", root_id="B", author_id=BOB, created_at=T0 + timedelta(days=9))
    rig.history.events = [question, newer]
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id="A", created_at=T0 + timedelta(hours=1))
    rig.handle(record(0, 5, reply))
    assert rig.history.asked_keys == [{conversation_key(reply)}]
    [fact] = rig.inserter.rows["response_facts"]
    assert (fact["message_id"], fact["reply_id"], fact["response_seconds"]) == ("q1", "r1", 3600.0)


def test_a_reply_later_than_the_lateness_matches_its_evicted_conversation(
    rig: Rig, event_factory: EventFactory
) -> None:
    rig.clock.now = T0 + timedelta(days=16)
    question = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    rig.handle(record(0, 0, question))
    rig.history.events = [question]  # its row is stored
    for offset in (1, 2):  # newer traffic: A's chunk falls behind, and A is 15 days idle
        rig.handle(record(0, offset, _comment(event_factory, "B", BOB, T0 + timedelta(days=15))))
    assert not rig.processor.matcher.holds(conversation_key(question))
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id="A", created_at=T0 + timedelta(days=15))
    rig.handle(record(0, 3, reply))
    [fact] = rig.inserter.rows["response_facts"]
    assert (fact["message_id"], fact["reply_id"]) == ("q1", "r1")
    assert fact["response_seconds"] == 15 * 86400.0


def test_conversations_of_a_chunk_stay_in_memory_while_the_next_is_prepared(
    rig: Rig, event_factory: EventFactory
) -> None:
    # The worker commits chunk k while it prepares k + 1: a conversation evicted right after chunk k could not
    # be reloaded by k + 1, its rows not being visible yet (the history here never holds them).
    rig.handle(record(0, 0, _comment(event_factory, "B", BOB, T0 + timedelta(days=9))))
    late = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    rig.handle(record(0, 1, late))
    assert rig.processor.matcher.holds(conversation_key(late))  # 9 days idle, but its rows are not stored yet
    rig.handle(record(0, 2, _comment(event_factory, "B", BOB, T0 + timedelta(days=9))))
    assert not rig.processor.matcher.holds(conversation_key(late))


def test_conversations_in_memory_are_not_read_again(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    rig.handle(record(0, 0, question, event_factory("post")))
    rig.handle(record(0, 1, event_factory("reply", message_id="r1", parent_id="q1")))
    rig.handle(record(0, 2, event_factory("reaction", author_id=BOB)))  # no interaction: no read at all
    assert rig.history.asked_keys == [{conversation_key(question)}]
    assert rig.inserter.column("response_facts", "message_id") == ["q1"]


def test_facts_of_a_reloaded_conversation_are_stored_again(rig: Rig, event_factory: EventFactory) -> None:
    # A crash between a chunk's raw rows and its facts: the redelivered chunk adds nothing new to the reloaded
    # conversation, so the fact must come from the reload (an upsert: storing it twice is harmless).
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    reply = event_factory("reply", message_id="r1", parent_id="q1")
    rig.history.events = [question, reply]
    rig.handle(record(0, 0, question, reply))
    assert rig.inserter.column("response_facts", "reply_id") == ["r1"]
    assert rig.processor.facts_total == 1


def test_a_chunk_fact_replaces_the_reloaded_fact_it_improves(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)
    slow = event_factory("reply", message_id="r2", parent_id="q1", created_at=T0 + timedelta(hours=5))
    rig.history.events = [question, slow]
    rig.handle(
        record(0, 0, event_factory("reply", message_id="r1", parent_id="q1", created_at=T0 + timedelta(hours=1)))
    )
    assert rig.inserter.column("response_facts", "reply_id") == ["r1"]


def test_a_failed_history_read_changes_nothing_and_the_chunk_can_be_prepared_again(
    rig: Rig, event_factory: EventFactory
) -> None:
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    rig.history.events = [question]
    records = [record(0, 0, event_factory("reply", message_id="r1", parent_id="q1"))]
    rig.history.fail_next = 1
    with pytest.raises(StoreError):
        rig.processor.prepare(records)
    assert len(rig.processor.matcher) == 0
    rig.processor.commit(rig.processor.prepare(records))
    assert rig.inserter.column("response_facts", "message_id") == ["q1"]


def test_a_stored_interaction_the_matcher_cannot_take_is_skipped_on_reload(
    rig: Rig, event_factory: EventFactory
) -> None:
    # It was dead-lettered when it arrived: a reload must neither fail on it nor dead-letter it again.
    ghost = {"agency_id": "ghost", "root_id": "g"}
    ghost_q = event_factory("comment", message_id="gq", author_id=BOB, **ghost)
    ghost_r = event_factory("reply", message_id="gr", parent_id="gq", **ghost)
    rig.history.events = [ghost_q, ghost_r]
    failures = rig.handle(record(0, 0, event_factory("comment", message_id="g2", author_id=CARA, **ghost)))
    assert failures == []
    assert "response_facts" not in rig.inserter.rows


def test_settled_only_when_every_prepared_chunk_is_committed(rig: Rig, event_factory: EventFactory) -> None:
    # The broker rotation keeps the matcher only when it is settled: a prepared chunk that was never stored
    # would otherwise leave its messages in the matcher, and the reply the spool re-publishes would not match.
    question = event_factory("comment", message_id="q1", author_id=ALICE)
    assert rig.processor.settled
    first = rig.processor.prepare([record(0, 0, question)])
    second = rig.processor.prepare([record(0, 1, event_factory("reply", message_id="r1", parent_id="q1"))])
    rig.processor.commit(first)
    assert not rig.processor.settled
    rig.inserter.fail_next = 1  # an outage
    with pytest.raises(StoreError):
        rig.processor.commit(second)
    assert not rig.processor.settled  # a failed commit stores nothing
    rig.processor.forget()
    assert rig.processor.settled
    rig.handle(record(0, 1, event_factory("reply", message_id="r1", parent_id="q1")))
    assert rig.processor.settled


def test_surge_counts_take_each_message_once_and_only_once_its_chunk_is_stored(
    rig: Rig, event_factory: EventFactory
) -> None:
    rig.processor.tally = tally = UnansweredTally("w1", rig.clock)
    question = event_factory("comment", message_id="q1", author_id=ALICE, created_at=T0)
    other = event_factory("comment", message_id="q2", author_id=BOB, created_at=T0)
    reply = event_factory("reply", message_id="r1", parent_id="q1", created_at=T0 + timedelta(minutes=3))
    prepared = rig.processor.prepare([record(0, 0, question, other)])
    assert tally.drain().records == []  # prepared, not stored: not counted
    for chunk in ([], [record(0, 0, question, other)], [record(1, 0, reply)]):  # the second is a redelivery
        if chunk:
            prepared = rig.processor.prepare(chunk)
        rig.processor.commit(prepared)
        rig.processor.count(prepared)
    drain = tally.drain()
    got = [(r.minute - T0, r.arrivals, r.answered, r.backlog) for r in drain.records]
    assert got == [(timedelta(0), 2, 0, 2), (timedelta(minutes=3), 0, 1, 1)]
    assert drain.watermark == T0  # partition 1's reply is later, partition 0 is the slowest


# Issue 13, item 2: N workers in one consumer group. A worker warms up exactly the partitions it is assigned and
# drops its conversations when partitions are revoked, so a conversation another worker stored messages of in the
# meantime is read back whole.


def test_assign_warms_up_exactly_the_assigned_partitions(rig: Rig, event_factory: EventFactory) -> None:
    mine = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE)
    theirs = event_factory("comment", message_id="q2", root_id="B", author_id=BOB)
    rig.history.events = [mine, theirs]
    rig.history.partition_of = {mine.event_id: 3, theirs.event_id: 4}
    assert rig.processor.assign({3}) == 1
    assert rig.history.asked_partitions == [{3}]
    assert rig.processor.matcher.holds(conversation_key(mine))
    assert not rig.processor.matcher.holds(conversation_key(theirs))
    assert rig.processor.owned == frozenset({3})


def test_a_partition_given_back_reloads_what_another_worker_stored_meanwhile(
    rig: Rig, event_factory: EventFactory
) -> None:
    first = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    rig.processor.assign({0})
    rig.handle(record(0, 0, first))
    rig.processor.revoke({0})
    assert len(rig.processor.matcher) == 0
    # Another worker owned partition 0 meanwhile and stored a second question of conversation A.
    second = event_factory("comment", message_id="q2", root_id="A", author_id=BOB, created_at=T0 + timedelta(hours=1))
    rig.history.events = [first, second]
    rig.processor.assign({0})
    reply = event_factory("reply", message_id="r1", parent_id="q2", root_id="A", created_at=T0 + timedelta(hours=2))
    rig.handle(record(0, 7, reply))
    assert rig.inserter.column("response_facts", "message_id") == ["q2"]  # a stale copy of A would miss q2


def test_revocation_waits_until_the_prepared_chunk_is_stored(rig: Rig, event_factory: EventFactory) -> None:
    question = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE)
    rig.processor.assign({0})
    prepared = rig.processor.prepare([record(0, 0, question)])
    rig.processor.revoke({0})
    assert rig.processor.matcher.holds(conversation_key(question))  # its rows are not readable yet
    rig.processor.commit(prepared)
    rig.handle(record(1, 0, event_factory("comment", message_id="q9", root_id="Z", author_id=BOB)))
    assert not rig.processor.matcher.holds(conversation_key(question))  # dropped before the next chunk


def test_an_assignment_after_a_full_rebuild_loads_nothing_twice(rig: Rig, event_factory: EventFactory) -> None:
    rig.history.events = [event_factory("comment", message_id="q1", author_id=ALICE)]
    assert rig.processor.rebuild() == 1
    assert rig.processor.assign({0, 1, 2}) == 0  # the embedded stack: rebuild(), then the group's assignment
    assert rig.history.asked_partitions == [None]
    rig.processor.revoke({0, 1, 2})
    assert rig.processor.assign({0, 1}) == 1
    assert rig.history.asked_partitions == [None, {0, 1}]


def test_warm_up_starts_the_surge_backlog_and_revocation_clears_it(rig: Rig, event_factory: EventFactory) -> None:
    rig.processor.tally = tally = UnansweredTally("w1", rig.clock)
    old = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    answered = event_factory("comment", message_id="q2", root_id="B", author_id=BOB, created_at=T0)
    reply = event_factory("reply", message_id="r2", parent_id="q2", root_id="B", created_at=T0)
    rig.history.events = [old, answered, reply]
    rig.processor.assign({0})
    assert rig.processor.matcher.unanswered() == [(old.agency_id, "x", "q1", T0)]

    def backlog_after_a_new_message(message_id: str, offset: int) -> int:
        new = event_factory("comment", message_id=message_id, root_id="C", author_id=CARA, created_at=T0)
        prepared = rig.processor.prepare([record(0, offset, new)])
        rig.processor.commit(prepared)
        rig.processor.count(prepared)
        [counted] = tally.drain().records
        return counted.backlog

    assert backlog_after_a_new_message("q3", 0) == 2  # q1 (taken over, not an arrival) and q3
    rig.processor.revoke({0})
    assert backlog_after_a_new_message("q4", 1) == 1  # q1 and q3 are the next owner's to report now


def test_partitions_given_back_while_a_revocation_waits_are_warmed_up_after_the_drop(
    rig: Rig, event_factory: EventFactory
) -> None:
    first = event_factory("comment", message_id="q1", root_id="A", author_id=ALICE, created_at=T0)
    rig.processor.assign({0})
    prepared = rig.processor.prepare([record(0, 0, first)])
    rig.processor.revoke({0})  # deferred: chunk 0 is not stored yet
    rig.processor.assign({0})  # eager rebalancing gives it straight back
    second = event_factory("comment", message_id="q2", root_id="A", author_id=BOB, created_at=T0 + timedelta(hours=1))
    rig.history.events = [first, second]  # stored meanwhile by the worker that had partition 0 in between
    rig.processor.commit(prepared)
    reply = event_factory("reply", message_id="r1", parent_id="q2", root_id="A", created_at=T0 + timedelta(hours=2))
    rig.handle(record(0, 9, reply))
    assert rig.history.asked_partitions == [{0}, {0}]  # dropped, then warmed up again before the reply
    assert rig.inserter.column("response_facts", "message_id") == ["q2"]


def test_a_warm_up_that_fails_is_done_again_at_the_retry(rig: Rig, event_factory: EventFactory) -> None:
    rig.history.events = [event_factory("comment", message_id="q1", root_id="A", author_id=ALICE)]
    rig.processor.assign({0}, warm_now=False)
    rig.history.fail_next = 1
    chunk = [record(0, 0, event_factory("reply", message_id="r1", parent_id="q1", root_id="A"))]
    with pytest.raises(StoreError):
        rig.processor.prepare(chunk)
    rig.processor.commit(rig.processor.prepare(chunk))
    assert rig.history.asked_partitions == [{0}, {0}]
    assert rig.inserter.column("response_facts", "message_id") == ["q1"]


def test_above_the_cap_the_oldest_idle_conversations_spill_and_are_reloaded_when_met(
    tiny_directory: Directory, event_factory: EventFactory
) -> None:
    inserter, history, clock = ListInserter(), ListHistory(), FakeClock(T0 + timedelta(days=10))
    metrics = Metrics(CollectorRegistry())
    agencies = DirectoryAgencies(tiny_directory)
    processor = Processor(inserter, metrics, agencies, history, clock=clock, max_conversations=2)
    questions = [
        event_factory(
            "comment", message_id=f"q{n}", root_id=f"R{n}", author_id=ALICE, created_at=T0 + timedelta(hours=n)
        )
        for n in range(4)
    ]
    for offset, question in enumerate(questions):
        processor.commit(processor.prepare([record(0, offset, question)]))
    history.events = list(questions)  # their rows are stored
    assert len(processor.matcher) <= 3  # the cap, plus the conversation of the chunk in hand
    assert not processor.matcher.holds(conversation_key(questions[0]))  # the oldest idle went first
    assert (metrics.registry.get_sample_value("serambi_matcher_evicted_total", {"reason": "cap"}) or 0) >= 1
    reply = event_factory("reply", message_id="r0", parent_id="q0", root_id="R0", created_at=T0 + timedelta(hours=5))
    processor.commit(processor.prepare([record(0, 9, reply)]))
    assert inserter.column("response_facts", "message_id") == ["q0"]  # reloaded from ClickHouse, matched


def test_the_cap_holds_from_the_warm_up_on(tiny_directory: Directory, event_factory: EventFactory) -> None:
    history, metrics = ListHistory(), Metrics(CollectorRegistry())
    history.events = [
        event_factory(
            "comment", message_id=f"q{n}", root_id=f"R{n}", author_id=ALICE, created_at=T0 + timedelta(hours=n)
        )
        for n in range(5)
    ]
    agencies = DirectoryAgencies(tiny_directory)
    clock = FakeClock(T0 + timedelta(days=1))
    processor = Processor(ListInserter(), metrics, agencies, history, clock=clock, max_conversations=2)
    assert processor.rebuild() == 5
    assert len(processor.matcher) == 2  # the newest two: the oldest idle went at once
    assert processor.matcher.holds(conversation_key(history.events[4]))
    assert metrics.registry.get_sample_value("serambi_matcher_evicted_total", {"reason": "cap"}) == 3
