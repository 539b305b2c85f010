"""The processor on real chDB (no Kafka): eviction follows the slowest active partition."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.records import encode_batch
from tests.helpers.events import T0, EventFactory


def test_eviction_waits_for_lagging_partitions_but_not_for_idle_ones(
    store: Store, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    wall = [datetime(2026, 11, 20, tzinfo=T0.tzinfo)]
    processor = Processor(
        store, Metrics(CollectorRegistry()), AgencyRegistry(store, tiny_directory), clock=lambda: wall[0]
    )
    old = event_factory("comment", root_id="A", author_id="ps1:" + "a" * 32, created_at=T0)
    ahead = event_factory("comment", root_id="B", author_id="ps1:" + "b" * 32, created_at=T0 + timedelta(days=8))
    processor.process([Record(0, 0, encode_batch([old])), Record(1, 0, encode_batch([ahead]))])
    assert len(processor.matcher) == 2  # partition 0 lags 8 days behind partition 1: nothing evicted
    wall[0] += timedelta(minutes=11)
    later = event_factory("comment", root_id="C", author_id="ps1:" + "c" * 32, created_at=T0 + timedelta(days=8))
    processor.process([Record(1, 1, encode_batch([later]))])
    assert len(processor.matcher) == 2  # partition 0 went quiet: conversation A (8 days idle) is evicted
