"""Offsets the worker has fully handled, and the drain check built on them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from pipeline.topics import partition_count
from schemas.topics import TOPICS

__all__ = ["DrainState", "HandledOffsets", "end_offsets"]


@dataclass
class HandledOffsets:
    """Highest offset per (topic, partition) whose effects (rows, dead letters) are complete."""

    _offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` and everything before it in the partition is handled."""
        with self._lock:
            key = (topic, partition)
            self._offsets[key] = max(offset, self._offsets.get(key, -1))

    def snapshot(self) -> dict[tuple[str, int], int]:
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
    def compute(ends: dict[tuple[str, int], int], handled: dict[tuple[str, int], int]) -> DrainState:
        """Lag per topic from end offsets (next offset to write) and handled offsets."""
        lag: dict[str, int] = {}
        for (topic, partition), end in ends.items():
            done = handled.get((topic, partition), -1) + 1
            lag[topic] = lag.get(topic, 0) + max(end - done, 0)
        return DrainState(lag)


def end_offsets(bootstrap_servers: str, default_partitions: int) -> dict[tuple[str, int], int]:
    """Next offset to be written, per partition of every Serambi topic (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), group_id=None,
                             enable_auto_commit=False, client_id="serambi-drain")
    try:
        parts = [TopicPartition(t.name, p) for t in TOPICS for p in range(partition_count(t, default_partitions))]
        return {(tp.topic, tp.partition): int(off) for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
