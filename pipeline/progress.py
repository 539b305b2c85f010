"""Offsets the worker has fully handled, and the drain check built on them."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.topics import partition_count
from schemas.topics import TOPICS

__all__ = ["DrainState", "HandledOffsets", "Offsets", "committed_offsets", "end_offsets"]

log = logging.getLogger(__name__)
Offsets = dict[tuple[str, int], int]


@dataclass
class HandledOffsets:
    """Highest offset per (topic, partition) whose effects (rows, dead letters) are complete."""

    _offsets: Offsets = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` and everything before it in the partition is handled."""
        with self._lock:
            key = (topic, partition)
            self._offsets[key] = max(offset, self._offsets.get(key, -1))

    def snapshot(self) -> Offsets:
        """A copy of the handled offsets."""
        with self._lock:
            return dict(self._offsets)


@dataclass(frozen=True)
class DrainState:
    """Records on the topics that are not handled yet."""

    lag: dict[str, int]

    @property
    def drained(self) -> bool:
        """True when every record on every topic is handled."""
        return not any(self.lag.values())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"drained": self.drained, "lag_records": self.lag}

    @staticmethod
    def compute(ends: Offsets, handled: Offsets, committed: Offsets | None = None) -> DrainState:
        """Lag per topic from end offsets (next offset to write), handled and committed offsets.

        Committed offsets (next offset to read) cover what earlier worker runs stored already.
        """
        committed = committed or {}
        lag: dict[str, int] = {}
        for key, end in ends.items():
            done = max(handled.get(key, -1) + 1, committed.get(key, 0))
            lag[key[0]] = lag.get(key[0], 0) + max(end - done, 0)
        return DrainState(lag)


def end_offsets(bootstrap_servers: str, default_partitions: int) -> Offsets:
    """Next offset to be written, per partition of every Serambi topic (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), group_id=None,
                             enable_auto_commit=False, client_id="serambi-drain")
    try:
        parts = [TopicPartition(t.name, p) for t in TOPICS for p in range(partition_count(t, default_partitions))]
        return {(tp.topic, tp.partition): int(off) for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def committed_offsets(bootstrap_servers: str, group_id: str) -> Offsets:
    """Offsets the worker's consumer group committed (empty when it never committed)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="serambi-drain")
    try:
        groups = admin.list_group_offsets(group_id)
    except KafkaError:
        log.warning("cannot read committed offsets of %s; drain counts this run only", group_id)
        return {}
    finally:
        admin.close()
    return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in groups.get(group_id, {}).items()
            if meta.offset >= 0}
