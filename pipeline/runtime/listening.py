"""Store every agency's topic lists for the board and Grafana while the stack runs.

Every ``SERAMBI_LISTENING_INTERVAL_SECONDS`` (300 s) the leader worker (the one the rollup refresher runs on)
computes, for each registered agency, what its citizens ask about this week and its rising pain points
(:mod:`pipeline.storage.topic_lists`, the code path of ``serambi listen topics``) and inserts them into
``citizen_topics``. A round's lists end at the start of its slot (now, rounded down to the interval), so two
workers leading for a moment during a rebalance write the same keys, which ReplacingMergeTree keeps once.
An agency that fails is logged and skipped (the others are stored); a failed round is logged and retried at
the next one: the board then shows the previous computation, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pipeline.runtime.periodic import in_background
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.topic_lists import CITIZEN_TOPICS, COLUMNS, compute_lists, directory_agencies, list_rows

__all__ = ["ListeningJob", "ListeningStats", "ListeningStore", "listening"]

log = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 30.0  # a round's queries run in a thread and cannot be cancelled
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ListeningStore(Protocol):
    """What the job needs of :class:`pipeline.storage.store.Store`: read queries and inserts."""

    database: str

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        """Run one read-only query."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""
        ...


@dataclass(frozen=True)
class ListeningStats:
    """One round: its slot, the agencies stored and those that failed, the rows inserted, how long it took."""

    slot: datetime
    agencies: int
    failed: tuple[str, ...]
    rows: int
    seconds: float


@dataclass
class ListeningJob:
    """Computes and stores every registered agency's topic lists (see the module docstring).

    Args:
        store: where the texts are read and the lists inserted.
        interval: the slot length; a round's lists end at the start of the slot it runs in.
        leader: with several workers, only the leader computes (``None``: always).
        clock: wall clock; default ``datetime.now(UTC)``.
        agencies: the agencies to compute; default the ``agencies`` table (the registered ones).

    Example::

        job = ListeningJob(store, timedelta(minutes=5))
        job.refresh()  # blocking; the stack runs it every interval in a thread
    """

    store: ListeningStore
    interval: timedelta
    leader: Callable[[], bool] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    agencies: Callable[[], Sequence[str]] | None = None
    rounds: int = field(default=0, init=False)
    """Completed rounds, for tests and health."""
    failures: int = field(default=0, init=False)
    """Rounds that failed whole, plus agencies that failed within a round."""
    last: ListeningStats | None = field(default=None, init=False)

    def slot(self) -> datetime:
        """The start of the current slot: now rounded down to the interval (UTC, from the epoch; now without one)."""
        now = self.clock().astimezone(UTC)
        return now - (now - _EPOCH) % self.interval if self.interval > timedelta(0) else now

    def refresh(self) -> ListeningStats:
        """One blocking round: compute every agency's lists at the current slot and insert them in one insert."""
        started, slot = self.clock(), self.slot()
        database = self.store.database
        agencies = self.agencies() if self.agencies is not None else directory_agencies(self.store, database)
        rows: list[tuple[Any, ...]] = []
        failed: list[str] = []
        for agency in agencies:
            try:
                rows += list_rows(agency, slot, compute_lists(self.store, database, agency, slot))
            except Exception:  # one agency's failure must not cost the others their lists
                if not failed:  # the first with its traceback; the rest are named in the round's line
                    log.exception("listening: computing the topic lists of %s failed", agency)
                failed.append(agency)
        self.store.insert(CITIZEN_TOPICS, COLUMNS, rows)
        seconds = (self.clock() - started).total_seconds()
        stats = ListeningStats(slot, len(agencies) - len(failed), tuple(failed), len(rows), seconds)
        self.failures += len(failed)
        self.rounds += 1
        self.last = stats
        if failed:
            log.warning("listening: no topic lists for %d agencies this round: %s", len(failed), ", ".join(failed))
        log.info("listening: topic lists of %d agencies at %s in %.1f s", stats.agencies, slot.isoformat(), seconds)
        return stats

    async def run(self) -> None:
        """A round every :attr:`interval` until cancelled; a failed round is logged and retried at the next."""
        while True:
            try:
                if self.leader is None or self.leader():
                    await asyncio.to_thread(self.refresh)
            except Exception:
                self.failures += 1
                log.exception("listening: storing the topic lists failed; the board shows the previous ones")
            await asyncio.sleep(self.interval.total_seconds())


@contextlib.asynccontextmanager
async def listening(job: ListeningJob) -> AsyncIterator[ListeningJob]:
    """Run ``job`` while the block runs (an interval of 0: never); the stop is bounded."""
    if job.interval <= timedelta(0):
        yield job
        return
    async with in_background(job.run(), "the listening job", _STOP_TIMEOUT_S):
        yield job
