"""Raw sink: batch records from the events topic become rows in ClickHouse's raw tables.

Framework-free: the Faust agent hands over ``(partition, offset, value)`` triples and gets back the
dead letters to route. Inserts are idempotent (ReplacingMergeTree on event ids), so a replay after a
crash, before offsets were committed, never double-counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from connectors.pseudonym import PREFIX, Pseudonymizer
from pipeline.metrics import Metrics
from schemas.errors import RecordError
from schemas.events import AuthorRole, Interaction, Post, Reaction
from schemas.records import DeadLetter, decode_batch

__all__ = ["COLUMNS", "DeadLetterRow", "RawSink", "Record", "dead_letter_row", "event_row"]

AnyEvent = Post | Interaction | Reaction
_COMMON = ("event_id", "platform", "agency_id", "account_id")
COLUMNS: dict[str, tuple[str, ...]] = {
    "posts": (*_COMMON, "post_id", "created_at", "text", "links", "source", "schema_version"),
    "interactions": (*_COMMON, "kind", "message_id", "root_id", "parent_id", "author_id", "author_role",
                     "parent_author_id", "created_at", "text", "links", "source", "schema_version"),
    "reactions": (*_COMMON, "mode", "target_id", "root_id", "reaction_type", "count", "author_id",
                  "created_at", "source", "schema_version"),
    "dead_letters": ("id", "source", "stage", "error_type", "reason", "raw", "received_at"),
}
_TABLE = {"post": "posts", "interaction": "interactions", "reaction": "reactions"}


class Inserter(Protocol):
    """What the sink needs of :class:`pipeline.store.Store`."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""


@dataclass(frozen=True)
class Record:
    """One Kafka record as the sink sees it."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class DeadLetterRow:
    """A failed input the worker found; the agent sends it to the dead-letter topic."""

    error_type: str
    reason: str
    raw: Any
    source: str


def event_row(event: AnyEvent) -> tuple[Any, ...]:
    """The row of an event in its raw table, in :data:`COLUMNS` order."""
    head = (event.event_id, event.platform.value, event.agency_id, event.account_id)
    tail = (event.source, event.schema_version)
    if isinstance(event, Post):
        return (*head, event.post_id, event.created_at, event.text or "", list(event.links), *tail)
    if isinstance(event, Interaction):
        return (*head, event.kind.value, event.message_id, event.root_id, event.parent_id, event.author_id,
                event.author_role.value, event.parent_author_id, event.created_at, event.text or "",
                list(event.links), *tail)
    return (*head, event.mode.value, event.target_id, event.root_id, event.reaction_type, event.count,
            event.author_id, event.created_at, *tail)


def dead_letter_row(value: bytes, received_at: datetime) -> tuple[Any, ...]:
    """The dead_letters row of a record from the dead-letter topic (kept even when malformed)."""
    try:
        letter = DeadLetter.model_validate(orjson.loads(value))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raw = Pseudonymizer.mask_text(value.decode("utf-8", "replace"))
        reason = f"malformed dead letter: {str(exc).splitlines()[0]}"
        row_id = DeadLetter.make_id("worker:deadletter", raw, reason)
        return (row_id, "worker:deadletter", "worker", "bad_dead_letter", reason, raw, received_at)
    return (letter.id, letter.source, letter.stage, letter.error_type, letter.reason, letter.raw,
            letter.received_at)


@dataclass(frozen=True)
class WriteResult:
    """What one write stored and what it could not."""

    failures: list[DeadLetterRow]
    interactions: list[Interaction]


@dataclass
class RawSink:
    """Writes batch records to the raw tables and counts the rows it stored."""

    store: Inserter
    metrics: Metrics
    rows_total: int = 0

    def write(self, records: Iterable[Record]) -> WriteResult:
        """Insert every valid event of ``records``; return the stored interactions and the failures."""
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _TABLE.values()}
        failures: list[DeadLetterRow] = []
        interactions: list[Interaction] = []
        for record in records:
            try:
                events, bad = decode_batch(record.value)
            except RecordError as exc:
                failures.append(DeadLetterRow("undecodable", str(exc), record.value, _where(record)))
                continue
            failures.extend(DeadLetterRow("schema", reason, raw, _where(record)) for reason, raw in bad)
            for event in events:
                if _clear_citizen(event):
                    failures.append(DeadLetterRow("not_pseudonymised", _CLEAR_REASON,
                                                  event.model_dump(mode="json"), _where(record)))
                    continue
                rows[_TABLE[event.type]].append(event_row(event))
                if isinstance(event, Interaction):
                    interactions.append(event)
        self._insert(rows)
        return WriteResult(failures, interactions)

    def _insert(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        started = time.perf_counter()
        for table, table_rows in rows.items():
            if table_rows:
                self.store.insert(table, COLUMNS[table], table_rows)
                self.metrics.rows_stored.labels(table).inc(len(table_rows))
                self.rows_total += len(table_rows)
        self.metrics.sink_batches.inc()
        self.metrics.sink_insert_seconds.observe(time.perf_counter() - started)


_CLEAR_REASON = "citizen author_id is not a pseudonym: the producer must use connectors.base.Publisher"


def _clear_citizen(event: AnyEvent) -> bool:
    # Defence in depth: a producer that bypassed the Publisher must not put citizen ids in ClickHouse.
    return (isinstance(event, Interaction) and event.author_role is AuthorRole.CITIZEN
            and not event.author_id.startswith(PREFIX))


def _where(record: Record) -> str:
    return f"worker:events/p{record.partition}@{record.offset}"
