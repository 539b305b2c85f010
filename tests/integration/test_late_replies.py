"""Replies later than the lateness: matched exactly, whatever the order, against ClickHouse's copy."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.domain.matching import conversation_key
from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.sql.oracle import oracle_facts
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.events import Change, Interaction
from schemas.records import encode_batch
from schemas.topics import partition_for
from tests.helpers.events import T0, EventFactory
from tests.helpers.fakes import FakeClock
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import publish, run_on_stack


def _roots_on_one_partition(partitions: int, count: int) -> list[str]:
    """Root ids whose conversations (the tiny directory's X account) all land on one partition."""
    roots = [f"root{n}" for n in range(200)]
    return [root for root in roots if partition_for(f"x:900100:{root}", partitions) == 0][:count]


def test_a_reply_fifteen_days_late_matches_its_evicted_conversation_as_the_oracle_does(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    # Issue 7, item 4: a reply later than the lateness matched or not depending on processing order (whether
    # its conversation was still in memory). The conversation is now reloaded from ClickHouse when it is not.
    settings = settings_factory(lateness_hours=24)
    old, busy = _roots_on_one_partition(settings.partitions, 2)
    late_at = T0 + timedelta(days=15)
    question = event_factory("comment", message_id="q1", root_id=old, author_id="ps1:" + "a" * 32, created_at=T0)
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id=old, created_at=late_at)

    async def body(stack: Any) -> list[Any]:
        publish(stack, tiny_directory, [question])
        await stack.wait_drained(timeout_s=60)
        # Newer traffic on the same partition, one chunk per round: the question's rows are stored and, 15 days
        # idle, its conversation is evicted (a chunk's conversations are only kept while the next is prepared).
        for n in range(2):
            newer = event_factory(
                "comment", root_id=busy, author_id="ps1:" + "b" * 32, created_at=late_at - timedelta(minutes=n)
            )
            publish(stack, tiny_directory, [newer])
            await stack.wait_drained(timeout_s=60)
        assert not stack.processor.matcher.holds(conversation_key(question))
        publish(stack, tiny_directory, [reply])
        await stack.wait_drained(timeout_s=60)
        rows = stack.store.query(
            f"SELECT message_id, reply_id, answered_at, response_seconds, business_seconds "
            f"FROM {stack.store.database}.response_facts FINAL"
        ).rows
        stream = [(r[0], r[1], r[2].replace(tzinfo=UTC), r[3], round(r[4], 3)) for r in rows]
        oracle = [
            (f.message_id, f.reply_id, f.answered_at, f.response_seconds, round(f.business_seconds, 3))
            for f in oracle_facts(stack.store, stack.agencies)
        ]
        return [stream, oracle]

    stream, oracle = run_on_stack(settings, body)
    assert stream == oracle
    assert [(m, r, at, seconds) for m, r, at, seconds, _ in stream] == [("q1", "r1", late_at, 15 * 86400.0)]


def test_history_reads_back_exactly_the_conversations_asked_for(
    store: Store, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    def comment(message_id: str, root: str) -> Any:
        # At T0 itself: the factory's default time grows with every event made in this process (xdist orders the
        # tests differently), and a time more than a day after the processor's clock would be dead-lettered.
        return event_factory("comment", message_id=message_id, root_id=root, author_id="ps1:" + "d" * 32, created_at=T0)

    removal = event_factory("remove", target_id="a2", root_id="A", created_at=T0)  # reloaded with its conversation
    events = [comment("a1", "A"), comment("a2", "A"), comment("b", "B"), comment("q", "it's"), removal]
    registry = AgencyRegistry(store, tiny_directory)
    processor = Processor(store, Metrics(CollectorRegistry()), registry, InteractionHistory(store), clock=FakeClock(T0))
    processor.commit(processor.prepare([Record(0, 0, encode_batch(events))]))
    history = InteractionHistory(store)
    keys = {conversation_key(events[0]), conversation_key(events[3]), ("x", "900100", "never")}
    loaded = history.conversations(keys)
    assert sorted(e.message_id for e in loaded if isinstance(e, Interaction)) == ["a1", "a2", "q"]
    assert [(e.event_id, e.target_id) for e in loaded if isinstance(e, Change)] == [(removal.event_id, "a2")]
    fields = ("event_id", "platform", "account_id", "kind", "root_id", "parent_id", "author_role", "created_at")
    first = next(e for e in loaded if isinstance(e, Interaction) and e.message_id == "a1")
    assert [getattr(first, f) for f in fields] == [getattr(events[0], f) for f in fields]
    assert history.conversations([]) == []
