"""The drain check on the real broker: "drained" only once the last record of every partition is handled.

Tansu answers ListOffsets(latest) with the base offset of a partition's last batch plus one, so a check on
end offsets alone called a partition drained while the rest of its last batch was not stored yet (an
import then reported success before ClickHouse held its last events).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.stream.app import WORKER_GROUP
from pipeline.stream.offsets import HandledOffsets, OffsetReader
from schemas.topics import EVENTS

PARTITIONS = 2
BATCH = 50


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as running:
        ensure_topics(running.bootstrap_servers, PARTITIONS)
        yield running


def _produce_one_batch(bootstrap: str, partition: int, count: int) -> None:
    # A long linger and one flush: the records travel, and are stored, as a single batch.
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=1000, batch_size=1 << 20)
    try:
        for number in range(count):
            producer.send(EVENTS.name, value=b"%d" % number, partition=partition)
        producer.flush()
    finally:
        producer.close()


def test_a_partition_is_drained_only_when_its_last_record_is_handled(broker: EmbeddedBroker) -> None:
    _produce_one_batch(broker.bootstrap_servers, 0, BATCH)
    reader = OffsetReader(broker.bootstrap_servers, PARTITIONS, WORKER_GROUP)
    handled = HandledOffsets()
    try:
        assert reader.drain_state(handled).lag[EVENTS.name] == BATCH

        handled.mark(EVENTS.name, 0, 0)  # the batch's first record: what Tansu calls the end
        state = reader.drain_state(handled)
        assert not state.drained
        assert state.lag[EVENTS.name] == BATCH - 1

        handled.mark(EVENTS.name, 0, BATCH - 2)
        assert reader.drain_state(handled).lag[EVENTS.name] == 1

        handled.mark(EVENTS.name, 0, BATCH - 1)
        assert reader.drain_state(handled).drained

        _produce_one_batch(broker.bootstrap_servers, 0, 3)  # a new batch moves the end again
        assert reader.drain_state(handled).lag[EVENTS.name] == 3
        handled.mark(EVENTS.name, 0, BATCH)
        assert not reader.drain_state(handled).drained
        handled.mark(EVENTS.name, 0, BATCH + 2)
        assert reader.drain_state(handled).drained
    finally:
        reader.close()
