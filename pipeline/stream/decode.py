"""Raw sink: batch records from the events topic become rows in ClickHouse's raw tables.

Framework-free: the Faust agent hands over ``(partition, offset, value)`` triples and gets back the
dead letters to route. Inserts are idempotent (ReplacingMergeTree on event ids), so a replay after a
crash, before offsets were committed, never double-counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pipeline.metrics import Metrics
from schemas.errors import RecordError
from schemas.events import AuthorRole, Event, Interaction, Reaction
from schemas.privacy import PREFIX
from schemas.records import decode_batch
from schemas.tables import COLUMNS, TABLE_OF_EVENT

__all__ = ["DeadLetterRow", "RawSink", "Record"]


class Inserter(Protocol):
    """What the sink needs of :class:`pipeline.storage.store.Store`."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Insert JSONEachRow lines."""


@dataclass(frozen=True)
class Record:
    """One Kafka record as the sink sees it."""

    partition: int
    offset: int
    value: bytes
    timestamp_ms: int = 0


@dataclass(frozen=True)
class DeadLetterRow:
    """A failed input the worker found; the agent sends it to the dead-letter topic."""

    error_type: str
    reason: str
    raw: Any
    source: str


@dataclass(frozen=True)
class Decoded:
    """Rows per raw table, the interactions among them, and what could not be used."""

    rows: dict[str, list[bytes]]
    interactions: list[Interaction]
    failures: list[DeadLetterRow]
    latest: dict[int, datetime]


@dataclass
class RawSink:
    """Turns batch records into raw-table rows (:meth:`decode`, pure) and counts what was stored."""

    store: Inserter
    metrics: Metrics
    rows_total: int = 0
    is_agency_account: Callable[[str, str], bool] = lambda platform, account_id: False

    def decode(self, records: Iterable[Record], ceiling: datetime | None = None) -> Decoded:
        """Rows of every valid event in ``records``; failures for everything else.

        ``latest`` holds, per partition, the latest interaction time not after ``ceiling`` (a clock from
        the future must not move watermarks).
        """
        rows: dict[str, list[bytes]] = {table: [] for table in TABLE_OF_EVENT.values()}
        failures: list[DeadLetterRow] = []
        interactions: list[Interaction] = []
        latest: dict[int, datetime] = {}
        for record in records:
            try:
                events, bad = decode_batch(record.value)
            except RecordError as exc:
                failures.append(DeadLetterRow("undecodable", str(exc), record.value, _where(record)))
                continue
            failures.extend(DeadLetterRow("schema", reason, raw, _where(record)) for reason, raw in bad)
            first = len(interactions)
            for event in events:
                if _clear_citizen(event, self.is_agency_account):
                    failures.append(
                        DeadLetterRow("not_pseudonymised", _CLEAR_REASON, event.model_dump(mode="json"), _where(record))
                    )
                    continue
                rows[TABLE_OF_EVENT[event.type]].append(event.__pydantic_serializer__.to_json(event))
                if event.type == "interaction":
                    interactions.append(event)
            _track_latest(latest, record.partition, interactions[first:], ceiling)
        return Decoded(rows, interactions, failures, latest)

    def write(self, records: Iterable[Record]) -> Decoded:
        """Decode and insert in one go (tests and small batches)."""
        decoded = self.decode(records)
        for table, table_rows in decoded.rows.items():
            if table_rows:
                self.store.insert_encoded(table, COLUMNS[table], b"\n".join(table_rows))
                self.counted(table, len(table_rows))
        return decoded

    def counted(self, table: str, rows: int) -> None:
        """Count rows stored in a raw table."""
        self.metrics.rows_stored.labels(table).inc(rows)
        self.rows_total += rows


def _track_latest(
    latest: dict[int, datetime], partition: int, events: list[Interaction], ceiling: datetime | None
) -> None:
    times = [e.created_at for e in events if ceiling is None or e.created_at <= ceiling]
    if times:
        newest = max(times)
        if partition not in latest or newest > latest[partition]:
            latest[partition] = newest


_CLEAR_REASON = (
    "a citizen id (author_id, parent_author_id or reaction author) is not a pseudonym: "
    "the producer must use connectors.core.publisher.Publisher"
)


def _clear_citizen(event: Event, is_agency_account: Callable[[str, str], bool]) -> bool:
    # Defence in depth: a producer that bypassed the Publisher must not put citizen ids in ClickHouse.
    if isinstance(event, Interaction):
        if event.author_role is AuthorRole.CITIZEN and not event.author_id.startswith(PREFIX):
            return True
        person = event.parent_author_id
    elif isinstance(event, Reaction):
        person = event.author_id
    else:
        return False
    return person is not None and not person.startswith(PREFIX) and not is_agency_account(event.platform, person)


def _where(record: Record) -> str:
    return f"worker:events/p{record.partition}@{record.offset}"
