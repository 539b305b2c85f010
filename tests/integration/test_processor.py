"""The processor and its history on real chDB (no Kafka): eviction, and what a rebuild reads back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.events import Event, Interaction
from schemas.records import encode_batch
from tests.helpers.events import T0, EventFactory
from tests.helpers.fakes import FakeClock


def _processor(store: Store, directory: Directory, clock: FakeClock) -> Processor:
    registry = AgencyRegistry(store, directory)
    return Processor(store, Metrics(CollectorRegistry()), registry, InteractionHistory(store), clock=clock)


def _handle(processor: Processor, *records: Record) -> None:
    processor.commit(processor.prepare(records))


def _record(partition: int, offset: int, *events: Event) -> Record:
    return Record(partition, offset, encode_batch(list(events)))


def test_eviction_waits_for_lagging_partitions_but_not_for_idle_ones(
    store: Store, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    wall = FakeClock(T0 + timedelta(days=18))
    processor = _processor(store, tiny_directory, wall)
    old = event_factory("comment", root_id="A", author_id="ps1:" + "a" * 32, created_at=T0)
    ahead = event_factory("comment", root_id="B", author_id="ps1:" + "b" * 32, created_at=T0 + timedelta(days=8))
    _handle(processor, _record(0, 0, old), _record(1, 0, ahead))
    assert len(processor.matcher) == 2  # partition 0 lags 8 days behind partition 1: nothing evicted
    wall.advance(timedelta(minutes=11))
    later = event_factory("comment", root_id="C", author_id="ps1:" + "c" * 32, created_at=T0 + timedelta(days=8))
    _handle(processor, _record(1, 1, later))
    assert len(processor.matcher) == 2  # partition 0 went quiet: conversation A (8 days idle) is evicted


def test_history_reads_whole_active_conversations_and_ignores_the_future_for_its_window(
    store: Store, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    wall = FakeClock(T0 + timedelta(hours=2))

    def comment(message_id: str, root: str, created_at: datetime) -> Any:
        return event_factory(
            "comment", message_id=message_id, root_id=root, author_id="ps1:" + "d" * 32, created_at=created_at
        )

    events = [
        comment("a-new", "A", T0),
        comment("a-old", "A", T0 - timedelta(days=30)),  # old, but its conversation is active
        comment("b", "B", T0 - timedelta(days=8)),  # a conversation idle for longer than the lateness
        comment("c", "C", wall() + timedelta(hours=23)),  # a clock ahead (within the bounds) must not hide the past
    ]
    _handle(_processor(store, tiny_directory, wall), _record(0, 0, *events))
    recent = InteractionHistory(store).recent(timedelta(days=7), until=wall() + timedelta(hours=1))
    assert [e.message_id for e in recent if isinstance(e, Interaction)] == ["a-old", "a-new", "c"]
    fields = ("event_id", "platform", "account_id", "kind", "root_id", "parent_id", "author_role", "created_at")
    assert [getattr(recent[1], f) for f in fields] == [getattr(events[0], f) for f in fields]
    rebuilt = _processor(store, tiny_directory, wall)
    assert rebuilt.rebuild() == 3
    assert len(rebuilt.matcher) == 2
