"""Test doubles shipped with the package: list sinks, a fake clock and a loader of documented payloads.

>>> sink, clock = ListEventSink(), FakeClock()
>>> ReplayPacer(sink, 60, clock=clock)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from connectors.core.contracts import Rejected
from schemas.events import EVENT_ADAPTER, Event
from schemas.records import validation_reason

__all__ = ["FakeClock", "ListEventSink", "ListRecordSink", "SentRecord", "load_payload"]

_FAKE_START = datetime(2026, 1, 1, tzinfo=UTC)


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


@dataclass
class ListEventSink:
    """A :class:`connectors.core.contracts.EventSink` that keeps events and dead letters in lists, for tests.

    Mappings are validated like the publisher does; invalid ones become dead letters (``error_type="schema"``).

    >>> sink = ListEventSink(); sink.publish(event); sink.events  # doctest: +SKIP
    """

    __test__ = False
    events: list[Event] = field(default_factory=list)
    dead_letters: list[Rejected] = field(default_factory=list)
    flushes: int = 0

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Keep the event; dead-letter an invalid mapping and return ``False``."""
        if isinstance(event, Mapping):
            try:
                event = EVENT_ADAPTER.validate_python(event)
            except ValidationError as exc:
                self.dead_letter(validation_reason(exc), event, error_type="schema")
                return False
        self.events.append(event)
        return True

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        """Keep the dead letter."""
        self.dead_letters.append(Rejected(reason, raw, error_type))

    def flush(self) -> None:
        """Count the flush."""
        self.flushes += 1


class FakeClock:
    """A :class:`connectors.core.clock.Clock` that moves only when slept on (or :meth:`advance`-d).

    Args:
        start: the first instant (aware; default 2026-01-01 00:00 UTC).

    >>> clock = FakeClock(); clock.sleep(90); clock.now() - clock.start  # timedelta(seconds=90)  # doctest: +SKIP
    """

    __test__ = False

    def __init__(self, start: datetime = _FAKE_START) -> None:
        self.start = start
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The fake instant."""
        return self._now

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Record the wait and move time on by it; a set ``stop`` ends the wait at once, like a real one."""
        self.sleeps.append(seconds)
        if seconds > 0 and (stop is None or not stop.is_set()):
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds`` without recording a wait."""
        self._now += timedelta(seconds=seconds)


def load_payload(path: Path) -> Any:
    """A documented payload: the JSON value of ``path``, or a list of values for NDJSON (``.ndjson``/``.jsonl``).

    Blank NDJSON lines are skipped. Example: ``load_payload(PAYLOADS / "bluesky/jetstream_events.ndjson")``.
    """
    data = path.read_bytes()
    if path.suffix in {".ndjson", ".jsonl"}:
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]
    return orjson.loads(data)
