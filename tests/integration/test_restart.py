"""State survives restarts: the whole embedded stack stops (its broker keeps nothing) and starts again."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from pipeline.domain.matching import conversation_key
from pipeline.storage.sql.oracle import oracle_facts
from schemas.agency import Directory
from schemas.events import conversation_key as partition_key
from schemas.topics import partition_for
from tests.helpers.events import T0, EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import publish, run_on_stack, with_store


def test_reply_after_restart_matches_messages_seen_before(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    first = event_factory("comment", message_id="q1", author_id="ps1:" + "c" * 32)
    second = event_factory("comment", message_id="q2", author_id="ps1:" + "c" * 32)
    other = event_factory("comment", message_id="q3", author_id="ps1:" + "d" * 32)
    reply = event_factory("reply", message_id="r1", parent_id="q2")

    async def before(stack: Any) -> None:
        publish(stack, tiny_directory, [first, second, other])

    async def after(stack: Any) -> None:
        assert len(stack.processor.matcher) == 1  # the open conversation came back from ClickHouse
        publish(stack, tiny_directory, [reply])

    run_on_stack(settings, before)
    run_on_stack(settings, after)

    def check(store: Any) -> None:
        rows = store.query(
            f"SELECT message_id, reply_id, answered_at, response_seconds "
            f"FROM {store.database}.response_facts FINAL ORDER BY message_id"
        ).rows
        assert [(r[0], r[1]) for r in rows] == [("q1", "r1"), ("q2", "r1")]
        assert rows[0][2].replace(tzinfo=UTC) == reply.created_at
        assert rows[0][3] == (reply.created_at - first.created_at).total_seconds()

    with_store(settings, check)


def test_restart_replaying_everything_does_not_double_count(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    events = [
        event_factory("comment", message_id="q1", author_id="ps1:" + "e" * 32),
        event_factory("reply", message_id="r1", parent_id="q1"),
        event_factory("post"),
    ]

    async def feed(stack: Any) -> None:
        publish(stack, tiny_directory, events)

    run_on_stack(settings, feed)
    run_on_stack(settings, feed)

    def check(store: Any) -> None:
        db = store.database
        assert store.query(f"SELECT count() FROM {db}.response_facts FINAL").rows == [(1,)]
        assert store.query(f"SELECT count() FROM {db}.interactions FINAL").rows == [(2,)]
        activity = store.query(
            f"SELECT metric, uniqExactMerge(events) FROM {db}.activity_minutes GROUP BY metric ORDER BY metric"
        ).rows
        assert activity == [("agency_post_push", 1), ("agency_reply", 1), ("citizen_message", 1)]

    with_store(settings, check)


def test_an_event_from_the_future_does_not_evict_open_conversations(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    question = event_factory("comment", message_id="q1", author_id="ps1:" + "a" * 32, root_id="A")
    future = event_factory(
        "comment",
        message_id="f1",
        author_id="ps1:" + "b" * 32,
        root_id="B",
        created_at=question.created_at.replace(year=2099),
    )
    reply = event_factory(
        "reply", message_id="r1", parent_id="q1", root_id="A", created_at=question.created_at + timedelta(minutes=30)
    )

    async def body(stack: Any) -> None:
        publish(stack, tiny_directory, [question, future])
        await stack.wait_drained(timeout_s=60)
        publish(stack, tiny_directory, [reply])

    run_on_stack(settings, body)

    def check(store: Any) -> None:
        rows = store.query(f"SELECT message_id, reply_id FROM {store.database}.response_facts FINAL").rows
        assert rows == [("q1", "r1")]

    with_store(settings, check)


def _roots_on_two_partitions(partitions: int) -> tuple[str, str]:
    """Two root ids whose conversations (the tiny directory's X account) land on different partitions."""
    roots = (f"root{n}" for n in range(100))
    by_partition = {partition_for(f"x:900100:{root}", partitions): root for root in roots}
    first, second, *_ = by_partition.values()
    return first, second


def test_a_reply_after_restart_matches_a_question_on_a_lagging_partition(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    # Issue 7, item 3: the rebuild reloaded conversations active within the lateness of the newest stored
    # event; a partition days behind the others replays from further back and its replies never matched.
    settings = settings_factory()
    lagging, ahead = _roots_on_two_partitions(settings.partitions)
    citizen = "ps1:" + "f" * 32
    question = event_factory("comment", message_id="q1", root_id=lagging, author_id=citizen, created_at=T0)
    newer = event_factory(
        "comment", message_id="q2", root_id=ahead, author_id=citizen, created_at=T0 + timedelta(days=9)
    )
    reply = event_factory("reply", message_id="r1", parent_id="q1", root_id=lagging, created_at=T0 + timedelta(hours=1))
    assert partition_key(question) != partition_key(newer)

    async def before(stack: Any) -> None:
        publish(stack, tiny_directory, [question, newer])

    async def after(stack: Any) -> list[Any]:
        assert not stack.processor.matcher.holds(conversation_key(question))  # the warm-up did not reload it
        publish(stack, tiny_directory, [reply])
        await stack.wait_drained(timeout_s=60)
        return oracle_facts(stack.store, stack.agencies)

    run_on_stack(settings, before)
    oracle = run_on_stack(settings, after)

    def check(store: Any) -> None:
        rows = store.query(
            f"SELECT message_id, reply_id, answered_at, response_seconds FROM {store.database}.response_facts FINAL"
        ).rows
        assert [(r[0], r[1], r[2].replace(tzinfo=UTC), r[3]) for r in rows] == [("q1", "r1", reply.created_at, 3600.0)]
        assert [(f.message_id, f.reply_id, f.answered_at) for f in oracle] == [("q1", "r1", reply.created_at)]

    with_store(settings, check)
