"""What the worker does with a batch of records: raw rows, reply matching, response facts.

:meth:`Processor.prepare` decodes a chunk of records (:func:`pipeline.stream.decode.decode`), feeds its
interactions to the :class:`pipeline.domain.matching.Matcher` and encodes every row; :meth:`Processor.commit`
inserts them. Open conversations live in memory; ClickHouse is the durable copy: after a restart
:meth:`Processor.rebuild` replays the stored interactions of the lateness window into the matcher, so a reply
that arrives after the restart still matches a message seen before it. Inserts are upserts, so replays never
double-count. A chunk that fails for an unexpected reason is split in halves until the records that fail are
isolated: they are dead-lettered (``poison``) and the others processed, so one bad record never stops the worker.
The processor reaches storage only through three small Protocols (:class:`Inserter`,
:class:`AgencyLookup`, :class:`History`), so its logic is unit-tested with in-memory fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pipeline.domain.businesstime import business_seconds
from pipeline.domain.matching import Matcher
from pipeline.metrics import Metrics
from pipeline.storage.rows import encode_rows, fact_row
from pipeline.stream.decode import DeadLetterRow, Decoded, Record, decode
from schemas.agency import Agency
from schemas.events import Interaction
from schemas.records import POISON, poison_reason
from schemas.tables import COLUMNS, FACT_COLUMNS, RESPONSE_FACTS

__all__ = ["AgencyLookup", "History", "Inserter", "Prepared", "Processor", "TableRows"]

log = logging.getLogger(__name__)
# A producer's clock may run ahead; an event further ahead than this must not move eviction watermarks.
_MAX_CLOCK_SKEW = timedelta(hours=1)
# A partition silent this long (wall clock) no longer holds eviction back.
_IDLE_PARTITION = timedelta(minutes=10)


class Inserter(Protocol):
    """Where rows go (:class:`pipeline.storage.store.Store`); inserts must be idempotent upserts."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (tuples in ``columns`` order)."""

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Insert JSONEachRow lines."""


class AgencyLookup(Protocol):
    """The agencies the worker knows (:class:`pipeline.storage.agencies.AgencyRegistry`)."""

    def get(self, agency_id: str) -> Agency:
        """The agency (its calendar counts business time); a default one when unknown."""

    def is_account(self, platform: str, account_id: str) -> bool:
        """True when an agency owns this account, so its id may be stored in clear."""


class History(Protocol):
    """Stored interactions to rebuild the matcher from (:class:`pipeline.storage.history.InteractionHistory`)."""

    def recent(self, lateness: timedelta, until: datetime) -> Sequence[Interaction]:
        """Stored interactions of the conversations active within ``lateness``, oldest first.

        The window ends at the latest stored interaction not after ``until`` (a clock from the future must
        not hide the recent past).
        """


@dataclass(frozen=True, slots=True)
class TableRows:
    """``rows`` rows of one table, encoded as JSONEachRow lines in ``body``."""

    table: str
    columns: tuple[str, ...]
    rows: int
    body: bytes


@dataclass(frozen=True)
class Prepared:
    """A chunk ready to insert: rows per table (raw tables first, facts last) and the failures to dead-letter."""

    tables: list[TableRows]
    failures: list[DeadLetterRow]
    records: Sequence[Record]


@dataclass
class Processor:
    """Stores raw events, matches replies and stores response facts, for one worker process.

    Args:
        inserter: where rows go (the :class:`pipeline.storage.store.Store`).
        metrics: rows stored, batches and insert time are counted here.
        agencies: calendars for business time; which accounts are agencies' own.
        history: stored interactions for :meth:`rebuild`.
        lateness: how long (event time) an idle conversation stays open; default 7 days.
        clock: wall clock (default ``datetime.now(UTC)``); it bounds clocks from the future and tells
            idle partitions apart.

    Attributes: ``matcher`` (the open conversations), ``rows_total`` (raw rows stored by this process),
    ``facts_total`` (response facts stored; an improved fact counts again) and ``observers`` (called with a
    chunk's records once its rows are stored, e.g. by the benchmark's freshness probe).

    :meth:`prepare` is Python work (decode, match, encode); :meth:`commit` is ClickHouse work, which releases
    the GIL, so the worker overlaps the commit of one chunk with the preparation of the next. Call
    :meth:`prepare` in record order, one chunk at a time; commit every prepared chunk.

    Example::

        processor = Processor(store, metrics, registry, InteractionHistory(store))
        processor.rebuild()
        prepared = processor.prepare(records)
        processor.commit(prepared)          # then dead-letter prepared.failures
    """

    inserter: Inserter
    metrics: Metrics
    agencies: AgencyLookup
    history: History
    lateness: timedelta = timedelta(days=7)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    rows_total: int = field(default=0, init=False)
    facts_total: int = field(default=0, init=False)
    observers: list[Callable[[Sequence[Record]], None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._partition_marks: dict[int, datetime] = {}
        self._partition_seen: dict[int, datetime] = {}
        self.matcher = Matcher(business=self._business, lateness=self.lateness)

    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Decode, match replies and encode rows; call in record order, one chunk at a time."""
        decoded = self._decode(records, self.clock() + _MAX_CLOCK_SKEW)
        # Matching isolates each interaction itself: one that raises is dead-lettered (its row is valid and
        # stored all the same), and every fact found before or after it is kept (see Matcher.add).
        failed: list[tuple[Interaction, Exception]] = []
        facts = self.matcher.add(decoded.interactions, failed)
        failures = decoded.failures + [_matching_failure(event, exc) for event, exc in failed]
        watermark = self._watermark(decoded.latest)
        if watermark is not None:
            self.matcher.evict(watermark)
        tables = [
            TableRows(table, COLUMNS[table], len(rows), b"\n".join(rows))
            for table, rows in decoded.rows.items()
            if rows
        ]
        if facts:
            body = encode_rows(FACT_COLUMNS, [fact_row(f) for f in facts])
            tables.append(TableRows(RESPONSE_FACTS, FACT_COLUMNS, len(facts), body))
        return Prepared(tables, failures, records)

    def commit(self, prepared: Prepared) -> None:
        """Insert a prepared chunk (idempotent: safe to retry after a failure)."""
        started = time.perf_counter()
        for rows in prepared.tables:
            self.inserter.insert_encoded(rows.table, rows.columns, rows.body)
            self._count(rows.table, rows.rows)
        self.metrics.sink_batches.inc()
        self.metrics.sink_insert_seconds.observe(time.perf_counter() - started)
        for observer in self.observers:
            observer(prepared.records)

    def rebuild(self) -> int:
        """Replay stored interactions of the lateness window into the matcher; return how many.

        Facts the replay finds (e.g. a reply stored before a crash whose fact was not) are stored too.
        """
        events = self.history.recent(self.lateness, until=self.clock() + _MAX_CLOCK_SKEW)
        failed: list[tuple[Interaction, Exception]] = []
        facts = self.matcher.add(events, failed)
        # A stored interaction the matcher cannot take was dead-lettered when it arrived: skip it, or every
        # restart would fail on it again.
        for event, exc in failed:
            log.warning("rebuild skipped interaction %s: %s", event.event_id, poison_reason(exc))
        if facts:
            self.inserter.insert(RESPONSE_FACTS, FACT_COLUMNS, [fact_row(f) for f in facts])
            self._count(RESPONSE_FACTS, len(facts))
        log.info("rebuilt %d conversations from %d stored interactions", len(self.matcher), len(events))
        return len(events)

    def _decode(self, records: Sequence[Record], ceiling: datetime) -> Decoded:
        # Decoding has no side effects, so a failed attempt can be redone on each half: a chunk with k poison
        # records costs about k * log2(len) extra decodes of shrinking halves, and only when something failed.
        try:
            return decode(records, ceiling=ceiling, is_agency_account=self.agencies.is_account)
        except Exception as exc:
            if len(records) > 1:
                middle = len(records) // 2
                return self._decode(records[:middle], ceiling).then(self._decode(records[middle:], ceiling))
            if not records:
                raise  # failing on nothing is a bug of the decoder, not a bad record
            log.error("record %s dead-lettered: %s", records[0].where, poison_reason(exc))
            return Decoded.poison(records[0], exc)

    def _count(self, table: str, rows: int) -> None:
        self.metrics.rows_stored.labels(table).inc(rows)
        if table == RESPONSE_FACTS:
            self.facts_total += rows
        else:
            self.rows_total += rows

    def _watermark(self, latest: dict[int, datetime]) -> datetime | None:
        # The slowest *active* partition bounds eviction: a backlog may run days ahead in one partition,
        # while a partition that has been silent for a while must not hold eviction (and memory) forever.
        now = self.clock()
        for partition, moment in latest.items():
            self._partition_marks[partition] = max(moment, self._partition_marks.get(partition, moment))
            self._partition_seen[partition] = now
        active = [
            mark
            for partition, mark in self._partition_marks.items()
            if now - self._partition_seen[partition] <= _IDLE_PARTITION
        ]
        return min(active) if active else None

    def _business(self, agency_id: str, start: datetime, end: datetime) -> float:
        return business_seconds(self.agencies.get(agency_id), start, end)


def _matching_failure(event: Interaction, exc: Exception) -> DeadLetterRow:
    log.error("interaction %s not matched: %s", event.event_id, poison_reason(exc))
    reason = f"reply matching failed (the event is stored): {poison_reason(exc)}"
    return DeadLetterRow(POISON, reason, event.model_dump(mode="json"), "worker:matcher")
