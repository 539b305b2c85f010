"""What the worker does with a batch of records: raw rows, reply matching, response facts.

Open conversations live in memory (a :class:`pipeline.domain.matching.Matcher`); ClickHouse is the durable
copy. After a restart (or with a broker that kept nothing) :meth:`Processor.rebuild` replays the stored
interactions of the lateness window into the matcher, so a reply that arrives after the restart still
matches a message seen before it. Facts are upserts, so replays never double-count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.domain.businesstime import business_seconds
from pipeline.domain.matching import Matcher, ResponseFact
from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.rows import encode_rows, fact_row
from pipeline.storage.store import Store
from pipeline.stream.decode import DeadLetterRow, RawSink, Record
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform
from schemas.tables import COLUMNS, FACT_COLUMNS

__all__ = ["Prepared", "Processor"]

log = logging.getLogger(__name__)
_MAX_CLOCK_SKEW = timedelta(hours=1)
_IDLE_PARTITION = timedelta(minutes=10)
_REBUILD_COLUMNS = (
    "event_id",
    "platform",
    "agency_id",
    "account_id",
    "kind",
    "message_id",
    "root_id",
    "parent_id",
    "author_id",
    "author_role",
    "created_at",
)


@dataclass(frozen=True)
class Prepared:
    """A batch ready to insert: JSONEachRow bodies per table (raw tables first, facts last)."""

    bodies: dict[str, tuple[int, bytes]]
    failures: list[DeadLetterRow]
    records: Sequence[Record]


@dataclass
class Processor:
    """Stores raw events, matches replies and stores response facts, for one worker process.

    :meth:`prepare` is Python work (decode, match, encode); :meth:`commit` is ClickHouse work, which
    releases the GIL, so the worker overlaps the commit of one chunk with the preparation of the next.
    """

    store: Store
    metrics: Metrics
    agencies: AgencyRegistry
    lateness: timedelta = timedelta(days=7)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._partition_marks: dict[int, datetime] = {}
        self._partition_seen: dict[int, datetime] = {}
        self.sink = RawSink(self.store, self.metrics, is_agency_account=self.agencies.is_account)
        self.matcher = Matcher(business=self._business, lateness=self.lateness)
        self.facts_total = 0
        self.observers: list[Callable[[Sequence[Record]], None]] = []

    def process(self, records: Sequence[Record]) -> list[DeadLetterRow]:
        """Prepare and commit one batch; return the failures to dead-letter."""
        prepared = self.prepare(records)
        self.commit(prepared)
        return prepared.failures

    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Decode, match replies and encode rows; call in record order, one batch at a time."""
        decoded = self.sink.decode(records, ceiling=self.clock() + _MAX_CLOCK_SKEW)
        facts = self.matcher.add(decoded.interactions)
        watermark = self._watermark(decoded.latest)
        if watermark is not None:
            self.matcher.evict(watermark)
        bodies = {table: (len(rows), b"\n".join(rows)) for table, rows in decoded.rows.items() if rows}
        if facts:
            bodies["response_facts"] = (len(facts), encode_rows(FACT_COLUMNS, [fact_row(f) for f in facts]))
        return Prepared(bodies, decoded.failures, records)

    def commit(self, prepared: Prepared) -> None:
        """Insert a prepared batch (idempotent: safe to retry)."""
        started = time.perf_counter()
        for table, (count, body) in prepared.bodies.items():
            self.store.insert_encoded(table, FACT_COLUMNS if table == "response_facts" else COLUMNS[table], body)
            if table == "response_facts":
                self.facts_total += count
                self.metrics.rows_stored.labels(table).inc(count)
            else:
                self.sink.counted(table, count)
        self.metrics.sink_batches.inc()
        self.metrics.sink_insert_seconds.observe(time.perf_counter() - started)
        for observer in self.observers:  # e.g. the benchmark's freshness probe: records now visible
            observer(prepared.records)

    def rebuild(self) -> int:
        """Replay stored interactions of the lateness window into the matcher; return how many."""
        db = self.store.database
        # Whole conversations with activity inside the lateness window (their older messages too), counted
        # back from the latest event that is not in the future.
        lateness = f"toIntervalSecond({int(self.lateness.total_seconds())})"
        recent = (
            f"SELECT DISTINCT platform, account_id, root_id FROM {db}.interactions WHERE created_at >= "
            f"(SELECT max(created_at) FROM {db}.interactions WHERE created_at <= now64(3) + "
            f"toIntervalSecond({int(_MAX_CLOCK_SKEW.total_seconds())})) - {lateness}"
        )
        rows = self.store.query(
            f"SELECT {', '.join(_REBUILD_COLUMNS)} FROM {db}.interactions FINAL "
            f"WHERE (platform, account_id, root_id) IN ({recent}) ORDER BY created_at"
        ).rows
        events = [_interaction(dict(zip(_REBUILD_COLUMNS, row, strict=True))) for row in rows]
        self._store_facts(self.matcher.add(events))
        log.info("rebuilt %d conversations from %d stored interactions", len(self.matcher), len(events))
        return len(events)

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

    def _store_facts(self, facts: list[ResponseFact]) -> None:
        if facts:
            self.store.insert("response_facts", FACT_COLUMNS, [fact_row(f) for f in facts])
            self.metrics.rows_stored.labels("response_facts").inc(len(facts))
            self.facts_total += len(facts)

    def _business(self, agency_id: str, start: datetime, end: datetime) -> float:
        return business_seconds(self.agencies.get(agency_id), start, end)


def _interaction(row: dict[str, Any]) -> Interaction:
    created = row["created_at"]
    return Interaction.model_construct(
        event_id=row["event_id"],
        platform=Platform(row["platform"]),
        agency_id=row["agency_id"],
        account_id=row["account_id"],
        kind=InteractionKind(row["kind"]),
        message_id=row["message_id"],
        root_id=row["root_id"],
        parent_id=row["parent_id"],
        author_id=row["author_id"],
        author_role=AuthorRole(row["author_role"]),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )
