"""Test doubles shipped with the package: a record sink that keeps records in a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["ListRecordSink", "SentRecord"]


@dataclass(frozen=True)
class SentRecord:
    """One record as a sink received it."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes

    def json(self) -> Any:
        """The value decoded from JSON."""
        return orjson.loads(self.value)


@dataclass
class ListRecordSink:
    """A :class:`connectors.core.publisher.RecordSink` that keeps every record, for tests."""

    __test__ = False
    records: list[SentRecord] = field(default_factory=list)
    flushes: int = 0
    closed: bool = False

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        """Keep the record."""
        self.records.append(SentRecord(topic, partition, key, value))

    def flush(self) -> None:
        """Count the flush."""
        self.flushes += 1

    def close(self) -> None:
        """Remember that the sink was closed."""
        self.closed = True

    def on(self, topic: str) -> list[SentRecord]:
        """Records sent to one topic."""
        return [r for r in self.records if r.topic == topic]
