"""Kafka topics, declared once: name, key, value schema, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

from kafka.partitioner.default import murmur2
from pydantic import BaseModel

from schemas.records import DeadLetter, EventBatch

__all__ = ["DEAD_LETTER", "EVENTS", "TOPICS", "TopicSpec", "partition_for"]


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
TOPICS: tuple[TopicSpec, ...] = (EVENTS, DEAD_LETTER)


def partition_for(key: str, partitions: int) -> int:
    """Partition of a conversation key: Kafka's own murmur2 rule, so keyed producers agree."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
