"""Kafka topics, declared once: name, key, value schema, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.alerts import AlertEvent
from schemas.counts import CountBatch
from schemas.records import DeadLetter, EventBatch

__all__ = ["ALERTS", "COUNTS", "DEAD_LETTER", "EVENTS", "TOPICS", "TopicSpec", "murmur2", "partition_for"]


@dataclass(frozen=True)
class TopicSpec:
    """One Kafka topic: ``partitions=None`` takes the configured default."""

    name: str
    key: str
    value_model: type[BaseModel]
    description: str
    retention_ms: int
    partitions: int | None = None


EVENTS = TopicSpec(
    name="serambi.events.v1",
    key="conversation key of the batch's first event: '<platform>:<account_id>:<root_id>'",
    value_model=EventBatch,
    description="Batches of canonical events; all events of a conversation share one partition.",
    retention_ms=7 * 24 * 3600 * 1000,
)
DEAD_LETTER = TopicSpec(
    name="serambi.deadletter.v1",
    key="source of the failed input",
    value_model=DeadLetter,
    description="Input that failed parsing or validation, with the reason and the (scrubbed) payload.",
    retention_ms=30 * 24 * 3600 * 1000,
    partitions=1,
)
# Not compacted: raise, update and resolve are events (a notifier or the table sink wants each of them, the
# raise above all, which compaction would drop once the resolve lands); the latest state of an alert is the
# `alerts` table's job. Time retention bounds it. One partition: a few records an hour at most, and readers
# then see every agency's alerts in the order they were raised.
ALERTS = TopicSpec(
    name="serambi.alerts.v1",
    key="alert id (the same for every transition of one alert)",
    value_model=AlertEvent,
    description="Raise, update and resolve events of alerts on agencies (unanswered surges), in event time.",
    retention_ms=30 * 24 * 3600 * 1000,
    partitions=1,
)
# Not compacted: each batch holds counts to add, not a state to keep. One partition: one detector reads every
# worker's counts (a few records a second), and a worker's batches stay in order.
COUNTS = TopicSpec(
    name="serambi.counts.v1",
    key="the counting worker (source)",
    value_model=CountBatch,
    description="Per-minute partial counts of citizen messages per agency from each worker, for the surge detector.",
    retention_ms=7 * 24 * 3600 * 1000,
    partitions=1,
)
TOPICS: tuple[TopicSpec, ...] = (EVENTS, DEAD_LETTER, ALERTS, COUNTS)


def partition_for(key: str, partitions: int) -> int:
    """Partition of a conversation key: Kafka's own murmur2 rule, so keyed producers agree."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


_M32 = 0xFFFFFFFF
_MURMUR_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``), in plain Python.

    Here rather than taken from a Kafka client so that the shared kernel imports no client library.
    """
    length = len(data)
    h = (0x9747B28C ^ length) & _M32
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _MURMUR_M) & _M32
        k ^= k >> 24
        k = (k * _MURMUR_M) & _M32
        h = ((h * _MURMUR_M) & _M32) ^ k
    tail = length % 4
    if tail >= 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _MURMUR_M) & _M32
    h ^= h >> 13
    h = (h * _MURMUR_M) & _M32
    h ^= h >> 15
    return h
