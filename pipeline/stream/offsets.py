"""Offsets the worker has fully handled, and the drain check built on them."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.kafka.admin import partition_count
from schemas.topics import TOPICS

__all__ = ["DrainState", "HandledOffsets", "OffsetReader", "Offsets"]

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


class OffsetReader:
    """Reads end offsets and the worker group's committed offsets with long-lived clients.

    Creating Kafka clients for every poll costs ~0.2 s of CPU, which the worker would feel.
    """

    def __init__(self, bootstrap_servers: str, default_partitions: int, group_id: str) -> None:
        servers = bootstrap_servers.split(",")
        self._lock = threading.Lock()
        self._group = group_id
        self._parts = [TopicPartition(t.name, p) for t in TOPICS for p in range(partition_count(t, default_partitions))]
        self._consumer = KafkaConsumer(
            bootstrap_servers=servers, group_id=None, enable_auto_commit=False, client_id="serambi-drain"
        )
        self._admin = KafkaAdminClient(bootstrap_servers=servers, client_id="serambi-drain")

    def drain_state(self, handled: HandledOffsets) -> DrainState:
        """Lag per topic; committed offsets are asked for only when this run's handled offsets fall short."""
        with self._lock:
            # Handled first, then ends: a record handled in between can only make us report lag, never
            # report drained while a dead letter it produced is still on its way.
            done = handled.snapshot()
            ends = {(tp.topic, tp.partition): int(off) for tp, off in self._consumer.end_offsets(self._parts).items()}
            state = DrainState.compute(ends, done)
            if state.drained:
                return state
            return DrainState.compute(ends, done, self._committed())

    def _committed(self) -> Offsets:
        try:
            groups = self._admin.list_group_offsets(self._group)
        except KafkaError:
            log.warning("cannot read committed offsets of %s; drain counts this run only", self._group)
            return {}
        return {
            (tp.topic, tp.partition): int(meta.offset)
            for tp, meta in groups.get(self._group, {}).items()
            if meta.offset >= 0
        }

    def close(self) -> None:
        """Close the clients."""
        with self._lock:
            self._consumer.close()
            self._admin.close()
