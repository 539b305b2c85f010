"""What the worker does with a batch of records: raw rows, reply matching, response facts.

:meth:`Processor.prepare` decodes a chunk of records (:func:`pipeline.stream.decode.decode`), feeds its
interactions to the :class:`pipeline.domain.matching.Matcher` and encodes every row; :meth:`Processor.commit`
inserts them. Open conversations live in memory; ClickHouse is the durable copy, read back lazily: before a
chunk is matched, the stored interactions of every conversation of the chunk the matcher does not hold (never
seen by this process, e.g. after a restart, or evicted) are loaded in one query (:class:`History`). So a reply
matches whatever its lateness and whichever partition it is on, and a restart restores, per conversation,
every message stored before it: exactly what the committed offsets stand for (more, if a chunk was stored but
not yet acknowledged; it is replayed, and the matcher's result depends only on the set of messages).
Inserts are upserts, so replays never double-count. A chunk that fails for an unexpected reason is split in
halves until the records that fail are isolated: they are dead-lettered (``poison``) and the others processed,
so one bad record never stops the worker. The processor reaches storage only through three small Protocols
(:class:`Inserter`, :class:`AgencyLookup`, :class:`History`), so its logic is unit-tested with in-memory fakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pipeline.domain.businesstime import business_seconds
from pipeline.domain.matching import ConversationKey, Matchable, Matcher, MatchNews, ResponseFact, conversation_key
from pipeline.domain.progress import Progress
from pipeline.domain.tally import UnansweredTally
from pipeline.metrics import Metrics
from pipeline.storage.rows import cursor_row, encode_rows, fact_row
from pipeline.stream.decode import Accepted, DeadLetterRow, Decoded, Record, decode
from schemas.agency import Agency
from schemas.fastdecode import HotMatchable, event_dict
from schemas.records import POISON, poison_reason
from schemas.tables import CURSOR_COLUMNS, FACT_COLUMNS, RESPONSE_FACTS, SOURCE_CURSORS, STORED_COLUMNS
from schemas.timeutil import EventBounds

__all__ = ["AgencyLookup", "History", "Inserter", "Prepared", "Processor", "StageTimes", "TableRows"]

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
    """Stored interactions to load the matcher from (:class:`pipeline.storage.history.InteractionHistory`)."""

    def conversations(self, keys: Collection[ConversationKey]) -> Sequence[Matchable]:
        """Every stored interaction and removal of the conversations ``keys`` (``(platform, account_id, root_id)``).

        Any order.
        """

    def recent(
        self, lateness: timedelta, until: datetime, partitions: Collection[int] | None = None
    ) -> Sequence[Matchable]:
        """Stored interactions of the conversations active within ``lateness``, oldest first.

        The window ends at the latest stored interaction not after ``until`` (a clock from the future must
        not hide the recent past). ``partitions``: only conversations read from these events-topic partitions
        (``None``: all).
        """


@dataclass
class StageTimes:
    """Wall seconds the processor spent per stage, summed over chunks (the benchmark's breakdown).

    Stages: ``decode`` (records to rows and events: JSON, validation, privacy checks, row lines), ``reload``
    (stored conversations read back), ``match`` (the matcher), ``evict`` (watermarks and eviction), ``encode``
    (fact and cursor rows, the chunk's bodies), ``insert`` (ClickHouse, in :meth:`Processor.commit`'s thread).
    """

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        """Add the time since ``since`` (``time.perf_counter()``) to ``stage``; return now."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


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
    news: MatchNews | None = None
    latest: dict[int, datetime] = field(default_factory=dict)


@dataclass
class Processor:
    """Stores raw events, matches replies and stores response facts, for one worker process.

    Args:
        inserter: where rows go (the :class:`pipeline.storage.store.Store`).
        metrics: rows stored, batches, insert time, the last successful insert, events accepted by kind and
            platform, first-response times and open conversations are counted here.
        agencies: calendars for business time; which accounts are agencies' own.
        history: stored interactions of the conversations not in memory (and for :meth:`rebuild`).
        lateness: how long (event time) an idle conversation stays in memory; default 7 days. Only memory
            depends on it: a later reply reloads its conversation from ``history``.
        clock: wall clock (default ``datetime.now(UTC)``); it bounds clocks from the future and tells
            idle partitions apart.
        bounds: event times stored (default 2006-01-01 to a day ahead of ``clock``); others are dead-lettered
            (``out_of_range``). The stack passes ``SERAMBI_EARLIEST_EVENT`` and ``SERAMBI_MAX_FUTURE_HOURS``.
        tally: the surge detector's counts (``None``: not counted). A chunk counts once it is stored
            (:meth:`count`), so a chunk prepared but never stored (the worker stopped) counts when replayed.
        max_conversations: open conversations kept in memory at most (0: no cap; the stack passes
            ``SERAMBI_MATCHER_MAX_CONVERSATIONS``). Above it the oldest idle ones are dropped, never those of the
            chunk in hand; a dropped conversation is reloaded from ClickHouse when next met, so the cap bounds
            memory at the cost of reads, never correctness.

    Attributes: ``matcher`` (the open conversations), ``uncommitted`` (chunks prepared but not committed yet;
    see :attr:`settled`), ``rows_total`` (raw rows stored by this process),
    ``facts_total`` (response facts stored; an improved fact counts again) and ``observers`` (called with a
    chunk's records once its rows are stored, e.g. by the benchmark's freshness probe).

    :meth:`prepare` is Python work (decode, match, encode); :meth:`commit` is ClickHouse work, which releases
    the GIL, so the worker overlaps the commit of one chunk with the preparation of the next. Call
    :meth:`prepare` in record order, one chunk at a time; commit every prepared chunk, and finish committing
    chunk k before preparing chunk k + 2 (the conversations of a chunk stay in memory while the next one is
    prepared, as its rows may not be stored yet; after that they may be evicted and reloaded from storage).
    :meth:`prepare` reads ``history``: if that raises, nothing has changed and the chunk may be prepared again.

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
    bounds: EventBounds = field(default_factory=EventBounds)
    tally: UnansweredTally | None = None
    max_conversations: int = 0
    rows_total: int = field(default=0, init=False)
    facts_total: int = field(default=0, init=False)
    observers: list[Callable[[Sequence[Record]], None]] = field(default_factory=list, init=False)
    stages: StageTimes | None = field(default=None, init=False)
    """Set by the benchmark: seconds spent per stage, summed (``None``: not measured)."""

    def __post_init__(self) -> None:
        # The matcher changes only in prepare(), rebuild() and forget(), under _lock. A rebalance calls assign() and
        # revoke() from the event loop, which must return at once (a callback slower than the group's timeouts gets
        # the worker evicted): they only record what to do, under _flags (never held for long), and the next
        # prepare() applies it. prepare() and commit() (in another thread) count chunks in two counters, each
        # written by one thread, so no update is lost.
        self._lock = threading.RLock()
        self._flags = threading.Lock()
        self._owned: frozenset[int] | None = None  # None: every partition (one consumer: the embedded stack)
        self._reset_due = False
        self._warm_due: set[int] = set()
        # Partitions whose open conversations are in memory (warmed up, or met since): an assignment that gives
        # them back without a revocation in between (the embedded stack's start: rebuild() then the group's
        # first assignment) loads nothing twice, and seeds the surge backlog once. A revocation starts a new
        # epoch: a warm-up that began before it marks nothing.
        self._warmed_all = False
        self._warmed: set[int] = set()
        self._epoch = 0
        self._prepared = 0
        self._committed = 0
        self.forget()

    @property
    def owned(self) -> frozenset[int] | None:
        """The events-topic partitions this processor consumes (``None``: all, no group assignment known)."""
        return self._owned

    @property
    def uncommitted(self) -> int:
        """Chunks prepared but not committed yet (see :attr:`settled`)."""
        return max(0, self._prepared - self._committed)

    def forget(self) -> None:
        """Drop the in-memory state: what the matcher saw but did not store is gone (reloaded as met).

        A worker restarted in the same process (the embedded broker's rotation) replays records whose
        rows were not stored; the matcher must meet them as the first time, as after a restart.
        """
        with self._lock:
            # The surge backlog stays: what it counted was stored, and the records replayed are met afresh.
            self._drop_state()
            self._committed = self._prepared

    def _drop_state(self) -> None:
        self._progress = Progress(self.clock, _IDLE_PARTITION)
        self.matcher = Matcher(business=self._business, lateness=self.lateness)
        self.metrics.matcher_open_conversations.set(0)

    def assign(self, partitions: Collection[int], *, warm_now: bool = True) -> int:
        """The consumer group gave this worker ``partitions``: warm up their open conversations.

        Called on every assignment (the start included). The conversations active within the lateness on
        exactly these partitions are loaded from ClickHouse (:meth:`rebuild`), and their unanswered messages start
        the surge tally's backlog. While a chunk prepared before is not stored yet, the warm-up waits for the next
        :meth:`prepare` (its rows must be readable first); either way no record is prepared before it, which is
        what pausing the partitions would give. ``warm_now=False`` always leaves it to the next :meth:`prepare`
        (the worker's rebalance callback must return quickly). Returns the stored interactions loaded (0 when
        deferred).
        """
        with self._flags:
            self._owned = frozenset(partitions)
            self._warm_due = set() if self._warmed_all else set(partitions) - self._warmed
        if not warm_now:
            return 0
        with self._lock:
            return self._reconfigure()

    def revoke(self, partitions: Collection[int]) -> None:
        """The consumer group took ``partitions`` away: drop the in-memory state and those partitions' watermarks.

        Another worker stores their next messages; a conversation held here would miss them and match late replies
        against a stale copy. Every conversation is dropped, not only the revoked partitions': Kafka's eager
        rebalancing (aiokafka's) revokes every partition before each assignment anyway, and :meth:`assign` warms up
        what is given back. The drop waits while a prepared chunk is not stored yet, or while a chunk is being
        prepared (the next :meth:`prepare` does it, before any record): the rest of a batch taken before the
        revocation is still this worker's to finish (its offsets are not committed until stored, so the new owner
        replays it too; inserts are upserts). The surge backlog is forgotten at once: the new owner reports it.
        """
        with self._flags:
            revoked = frozenset(partitions)
            self._owned = frozenset() if self._owned is None else self._owned - revoked
            self._warm_due = set(self._owned)  # what stays is warmed up again after the drop
            self._warmed_all, self._warmed = False, set()
            self._epoch += 1
            self._reset_due = True
        if self.tally is not None:
            self.tally.reset_backlog()
        if self._lock.acquire(blocking=False):  # idle: drop now; busy preparing: that prepare's successor drops
            try:
                self._reconfigure(warm=False)
            finally:
                self._lock.release()

    def _reconfigure(self, *, warm: bool = True) -> int:
        # Holding _lock. Only when settled: a prepared chunk's conversations must stay until its rows are stored.
        if self.uncommitted:
            return 0
        with self._flags:
            reset, self._reset_due = self._reset_due, False
            due = self._warm_due if warm else set()
            if warm:
                self._warm_due = set()
        if reset:
            self._drop_state()
            log.info("partitions revoked: in-memory conversations dropped")
        if not due:
            return 0
        try:
            return self._rebuild(sorted(due))
        except Exception:
            with self._flags:  # a failed read (ClickHouse down): warm up again at the retry
                self._warm_due |= due
            raise

    @property
    def settled(self) -> bool:
        """True when every prepared chunk was committed: the matcher holds only what ClickHouse holds.

        Then a worker restarted in the same process may keep the matcher (no :meth:`forget`): records it
        meets again are stored already and the matcher takes a message it holds once.
        """
        return self.uncommitted == 0

    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Decode, match replies and encode rows; call in record order, one chunk at a time."""
        with self._lock:
            self._reconfigure()
            return self._prepare(records)

    def _prepare(self, records: Sequence[Record]) -> Prepared:
        stages, started = self.stages, time.perf_counter()
        decoded = self._decode(records, self.clock() + _MAX_CLOCK_SKEW)
        keys = {conversation_key(event) for event in decoded.interactions}
        if stages is not None:
            started = stages.add("decode", started)
        # The stored past of the conversations not in memory comes first, so the chunk matches against every
        # message seen before it; its facts are stored again (upserts: equal or better), which also restores
        # a fact lost when a crash came between a chunk's raw rows and its facts. The read happens before any
        # state changes, so a failed read leaves the chunk preparable again.
        missing = [key for key in keys if not self.matcher.holds(key)]
        facts = {fact.message_id: fact for fact in self._replay(self.history.conversations(missing) if missing else [])}
        if stages is not None:
            started = stages.add("reload", started)
        # Matching isolates each interaction itself: one that raises is dead-lettered (its row is valid and
        # stored all the same), and every fact found before or after it is kept (see Matcher.add). A chunk's
        # fact improves on a reloaded one of the same message, so it replaces it.
        failed: list[tuple[HotMatchable, Exception]] = []
        news = None if self.tally is None else MatchNews()
        found = self.matcher.add(decoded.interactions, failed, news)
        facts.update((fact.message_id, fact) for fact in found)
        self._observe(decoded, found)
        self._prepared += 1  # the matcher changed: settled again once this chunk is committed
        failures = decoded.failures + [_matching_failure(event, exc) for event, exc in failed]
        if stages is not None:
            started = stages.add("match", started)
        watermark = self._watermark(decoded.latest)
        if watermark is not None:
            # This chunk's rows are not stored yet (the worker commits chunk k while it prepares k + 1): its
            # conversations could not be reloaded by the next chunk, so they stay in memory until then.
            self._evict(watermark, keep=keys)
        self.metrics.matcher_open_conversations.set(len(self.matcher))
        if stages is not None:
            started = stages.add("evict", started)
        tables = [
            TableRows(table, STORED_COLUMNS[table], len(rows), b"\n".join(rows))
            for table, rows in decoded.rows.items()
            if rows
        ]
        if facts:
            body = encode_rows(FACT_COLUMNS, [fact_row(f) for f in facts.values()])
            tables.append(TableRows(RESPONSE_FACTS, FACT_COLUMNS, len(facts), body))
        if decoded.cursors:  # last: a stored cursor part stands for its record's events, stored before it
            body = encode_rows(CURSOR_COLUMNS, [cursor_row(c) for c in decoded.cursors])
            tables.append(TableRows(SOURCE_CURSORS, CURSOR_COLUMNS, len(decoded.cursors), body))
        if stages is not None:
            stages.add("encode", started)
        return Prepared(tables, failures, records, news, decoded.latest)

    def commit(self, prepared: Prepared) -> None:
        """Insert a prepared chunk (idempotent: safe to retry after a failure)."""
        started = time.perf_counter()
        for rows in prepared.tables:
            self.inserter.insert_encoded(rows.table, rows.columns, rows.body)
            self._count(rows.table, rows.rows)
        self.metrics.sink_batches.inc()
        self.metrics.sink_insert_seconds.observe(time.perf_counter() - started)
        if self.stages is not None:
            self.stages.add("insert", started)
        self.metrics.sink_last_success.set_to_current_time()
        self._committed += 1  # this thread's counter alone (prepare() writes the other)
        for observer in self.observers:
            observer(prepared.records)

    def count(self, prepared: Prepared) -> None:
        """Count a stored chunk's first meetings and first replies in :attr:`tally` (call after :meth:`commit`).

        On the event loop, not in :meth:`commit`'s thread: the tally is drained there.
        """
        tally, news = self.tally, prepared.news
        if tally is None or news is None:
            return
        # The Platform itself, a str: reading .value of an enum costs more than the count of the message.
        tally.asked_many((m.agency_id, m.platform, m.message_id, m.created_at) for m in news.asked)
        for fact in news.answered:
            tally.answered(fact.agency_id, fact.platform, fact.asked_at, fact.answered_at)
        for partition, latest in prepared.latest.items():
            tally.seen(partition, latest)

    def rebuild(self, partitions: Collection[int] | None = None) -> int:
        """Warm up: replay stored interactions of the lateness window into the matcher; return how many.

        ``partitions``: only the conversations read from these events-topic partitions (``None``: all).
        Correctness does not depend on it (:meth:`prepare` reloads any conversation it does not hold); it
        loads the conversations most likely to get replies in one query instead of one per chunk. Facts the
        replay finds (e.g. a reply stored before a crash whose fact was not) are stored too, and the surge
        tally's backlog starts from the unanswered messages loaded.
        """
        with self._lock:
            return self._rebuild(partitions)

    def _rebuild(self, partitions: Collection[int] | None) -> int:
        epoch = self._epoch
        until = self.clock() + _MAX_CLOCK_SKEW
        events = self.history.recent(self.lateness, until=until, partitions=partitions)
        before = len(self.matcher)
        facts = self._replay(events)
        if facts:
            self.inserter.insert(RESPONSE_FACTS, FACT_COLUMNS, [fact_row(f) for f in facts])
            self._count(RESPONSE_FACTS, len(facts))
        with self._flags:
            current = epoch == self._epoch  # else revoked meanwhile: the next prepare drops what this loaded
            if current and partitions is None:
                self._warmed_all = True
            elif current and partitions is not None:
                self._warmed.update(partitions)
        if current and self.tally is not None and events:
            self.tally.seed(self.matcher.unanswered(keys={conversation_key(event) for event in events}))
        if self.max_conversations and len(self.matcher) > self.max_conversations:
            # The cap holds from the warm-up on (everything loaded is stored, so anything may go): the oldest idle
            # conversations are dropped now rather than at the first chunk.
            self._evict(None)
        self.metrics.matcher_open_conversations.set(len(self.matcher))
        where = "every partition" if partitions is None else f"partitions {_ranges(partitions)}"
        log.info(
            "warmed up %d conversations of %s from %d stored interactions",
            len(self.matcher) - before,
            where,
            len(events),
        )
        return len(events)

    def _evict(self, watermark: datetime | None, keep: Container[ConversationKey] = ()) -> None:
        # Idle conversations, and above the cap the oldest idle ones (the spill path: their next message reloads
        # them from ClickHouse); never those in ``keep``.
        evicted = self.matcher.evict(watermark, keep=keep, limit=self.max_conversations or None)
        if evicted.idle:
            self.metrics.matcher_evicted.labels("idle").inc(evicted.idle)
        if evicted.capped:
            self.metrics.matcher_evicted.labels("cap").inc(evicted.capped)

    def _replay(self, events: Iterable[Matchable]) -> list[ResponseFact]:
        # A stored interaction the matcher cannot take was dead-lettered when it arrived: skip it, or every
        # reload of its conversation would dead-letter it again.
        failed: list[tuple[Matchable, Exception]] = []
        facts = self.matcher.add(events, failed)
        for event, exc in failed:
            log.warning("reload skipped stored interaction %s: %s", event.event_id, poison_reason(exc))
        return facts

    def _decode(self, records: Sequence[Record], ceiling: datetime) -> Decoded:
        # Decoding has no side effects, so a failed attempt can be redone on each half: a chunk with k poison
        # records costs about k * log2(len) extra decodes of shrinking halves, and only when something failed.
        try:
            accepted = Accepted(self.bounds, self.clock())
            return decode(records, ceiling=ceiling, is_agency_account=self.agencies.is_account, accepted=accepted)
        except Exception as exc:
            if len(records) > 1:
                middle = len(records) // 2
                return self._decode(records[:middle], ceiling).then(self._decode(records[middle:], ceiling))
            if not records:
                raise  # failing on nothing is a bug of the decoder, not a bad record
            log.error("record %s dead-lettered: %s", records[0].where, poison_reason(exc))
            return Decoded.poison(records[0], exc)

    def _observe(self, decoded: Decoded, found: Sequence[ResponseFact]) -> None:
        # Only the chunk's own facts: reloaded conversations give their old facts again, which were observed
        # when first found (by this process or an earlier one). An improved fact (an earlier reply that came
        # late) is observed again: rare, and the histogram then counts that message twice.
        for fact in found:
            if fact.answered:  # a removal is no response
                self.metrics.response_seconds.observe(fact.response_seconds)
        for (kind, platform), count in decoded.kinds.items():
            self.metrics.events.labels(kind, platform).inc(count)

    def _count(self, table: str, rows: int) -> None:
        self.metrics.rows_stored.labels(table).inc(rows)
        if table == RESPONSE_FACTS:
            self.facts_total += rows
        elif table != SOURCE_CURSORS:  # a cursor is no event
            self.rows_total += rows

    def _watermark(self, latest: dict[int, datetime]) -> datetime | None:
        # The slowest *active* partition bounds eviction: a backlog may run days ahead in one partition,
        # while a partition that has been silent for a while must not hold eviction (and memory) forever.
        for partition, moment in latest.items():
            self._progress.seen(partition, moment)
        return self._progress.slowest_active()

    def _business(self, agency_id: str, start: datetime, end: datetime) -> float:
        return business_seconds(self.agencies.get(agency_id), start, end)


def _ranges(partitions: Collection[int]) -> str:
    """``0-3,7``: partitions as ranges, for a log line."""
    parts: list[str] = []
    for number in sorted(partitions):
        if parts and parts[-1].split("-")[-1] == str(number - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{number}"
        else:
            parts.append(str(number))
    return ",".join(parts) or "none"


def _matching_failure(event: HotMatchable, exc: Exception) -> DeadLetterRow:
    log.error("interaction %s not matched: %s", event.event_id, poison_reason(exc))
    reason = f"reply matching failed (the event is stored): {poison_reason(exc)}"
    return DeadLetterRow(POISON, reason, event_dict(event), "worker:matcher")
