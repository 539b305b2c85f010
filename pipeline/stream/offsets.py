"""Offsets the worker has fully handled, and the drain check built on them."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.kafka.admin import partition_count
from schemas.topics import TOPICS

__all__ = ["DrainState", "HandledOffsets", "OffsetReader", "Offsets"]

log = logging.getLogger(__name__)
Offsets = dict[tuple[str, int], int]
_PROBE_TIMEOUT_S = 5.0


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

    def reset(self) -> None:
        """Forget every offset: the topics were recreated and their offsets start again at 0."""
        with self._lock:
            self._offsets.clear()

    def snapshot(self) -> Offsets:
        """A copy of the handled offsets."""
        with self._lock:
            return dict(self._offsets)


@dataclass(frozen=True)
class DrainState:
    """Records on the topics that are not handled yet."""

    lag: dict[str, int]
    unsettled_segments: int = 0
    """Spooled input that is on no topic right now (the embedded broker's topics were recreated)."""
    partitions: dict[tuple[str, int], int] = field(default_factory=dict)
    """Lag per (topic, partition), for the consumer-lag metric."""

    @property
    def drained(self) -> bool:
        """True when every record on every topic is handled and no spooled input waits to be re-published."""
        return not any(self.lag.values()) and not self.unsettled_segments

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"drained": self.drained, "lag_records": self.lag, "unsettled_spool_segments": self.unsettled_segments}

    @staticmethod
    def compute(ends: Offsets, handled: Offsets, committed: Offsets | None = None) -> DrainState:
        """Lag per topic from end offsets (next offset to write), handled and committed offsets.

        Committed offsets (next offset to read) cover what earlier worker runs stored already.
        """
        committed = committed or {}
        lag: dict[str, int] = {}
        partitions: dict[tuple[str, int], int] = {}
        for key, end in ends.items():
            done = max(handled.get(key, -1) + 1, committed.get(key, 0))
            partitions[key] = max(end - done, 0)
            lag[key[0]] = lag.get(key[0], 0) + partitions[key]
        return DrainState(lag, partitions=partitions)


class OffsetReader:
    """Reads end offsets and the worker group's committed offsets with long-lived clients.

    Creating Kafka clients for every poll costs ~0.2 s of CPU, which the worker would feel.

    End offsets are raised to the high watermark of a fetch: the embedded broker (Tansu) answers
    ListOffsets(latest) with the base offset of the partition's last batch plus one, short of the real end
    by the rest of that batch, so end offsets alone would call a partition drained while the end of its
    last batch is not stored yet.
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
        self._probe = KafkaConsumer(
            bootstrap_servers=servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="serambi-drain-probe",
            # One batch per partition is all a high watermark needs.
            max_partition_fetch_bytes=1,
            fetch_max_bytes=1,
        )
        self._confirmed: dict[tuple[str, int], tuple[int, int]] = {}  # key -> (reported end, real end)

    def drain_state(self, handled: HandledOffsets) -> DrainState:
        """Lag per topic; committed offsets are asked for only when this run's handled offsets fall short."""
        with self._lock:
            # Handled first, then ends: a record handled in between can only make us report lag, never
            # report drained while a dead letter it produced is still on its way.
            done = handled.snapshot()
            ends = {(tp.topic, tp.partition): int(off) for tp, off in self._consumer.end_offsets(self._parts).items()}
            ends = self._real_ends(ends)
            state = DrainState.compute(ends, done)
            if state.drained:
                return state
            return DrainState.compute(ends, done, self._committed())

    def reset(self) -> None:
        """Forget what was learnt of the topics: they were recreated."""
        with self._lock:
            self._confirmed.clear()

    def _real_ends(self, ends: Offsets) -> Offsets:
        """End offsets raised to the high watermark a fetch of each partition's last record reports."""
        real = dict(ends)
        unknown = []
        for key, end in ends.items():
            cached = self._confirmed.get(key)
            if end <= 0:
                continue
            if cached is not None and cached[0] == end:  # a new batch would have moved the reported end
                real[key] = cached[1]
            else:
                unknown.append(TopicPartition(key[0], key[1]))
        if unknown:
            found = self._high_watermarks(unknown, ends)
            for tp in unknown:
                key = (tp.topic, tp.partition)
                if tp in found:
                    real[key] = max(ends[key], found[tp])
                    self._confirmed[key] = (ends[key], real[key])
                else:  # unconfirmed keeps lag: "not drained" is the safe answer when in doubt
                    real[key] = ends[key] + 1
        return real

    def _high_watermarks(self, parts: list[TopicPartition], ends: Offsets) -> dict[TopicPartition, int]:
        probe = self._probe
        probe.unsubscribe()  # fresh partition states: no high watermark left from an earlier probe
        probe.assign(parts)
        for tp in parts:
            probe.seek(tp, ends[(tp.topic, tp.partition)] - 1)
        found: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + _PROBE_TIMEOUT_S
        while len(found) < len(parts) and time.monotonic() < deadline:
            probe.poll(timeout_ms=100, max_records=1)
            for tp in parts:
                high = probe.highwater(tp)
                if high is not None:
                    found[tp] = int(high)
        if len(found) < len(parts):
            log.warning(
                "no high watermark for %d partition(s) within %.0f s; not calling them drained",
                len(parts) - len(found),
                _PROBE_TIMEOUT_S,
            )
        return found

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
            self._probe.close()
            self._admin.close()
