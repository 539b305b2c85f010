"""Store every agency's topic lists for the board and Grafana while the stack runs.

Every ``SERAMBI_LISTENING_INTERVAL_SECONDS`` (900 s) the leader worker (the one the rollup refresher runs on)
computes, for each registered agency, what its citizens ask about this week and its rising pain points
(:mod:`pipeline.storage.topic_lists`, the code path of ``serambi listen topics``) and inserts them into
``citizen_topics``. An agency's lists end when they are computed, and that time is their ``computed_at``: every
computation has keys of its own, so the readers (each agency's latest computation) never mix two of them, even
when two workers lead for a moment during a rebalance. A computation identical to the agency's previous one is
not stored again unless that one is :data:`RESTATE_AFTER` old (quiet agencies add no rows; the board's windows
still find one).

The texts are read through a :class:`TextReader` of the job's own (a read session: weeks of texts per agency
must not hold the worker's read lock, which its conversation reloads wait on); without one, through ``store``.
Each read is capped per period (:data:`pipeline.storage.sql.topics.MAX_TEXTS`, the newest).
An agency that fails is logged and skipped (the others are stored); a failed round is logged and retried at
the next one: the board then shows the previous computation, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from pipeline.runtime.periodic import in_background
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.topic_lists import CITIZEN_TOPICS, COLUMNS, compute_lists, directory_agencies, list_rows

__all__ = ["RESTATE_AFTER", "ListeningJob", "ListeningStats", "ListeningStore", "TextReader", "listening"]

log = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 30.0  # a round's queries run in a thread and cannot be cancelled
RESTATE_AFTER: Final = timedelta(hours=1)
"""An unchanged computation is stored again once the stored one is this old, so a window this long shows it."""
_COMPUTED_AT = COLUMNS.index("computed_at")


class TextReader(Protocol):
    """Where the job reads texts: a ClickHouse read session of its own (see the module docstring)."""

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        """Run one read-only query."""
        ...


class ListeningStore(TextReader, Protocol):
    """What the job needs of :class:`pipeline.storage.store.Store`: its database, inserts (and reads, by default)."""

    database: str

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""
        ...


@dataclass(frozen=True)
class ListeningStats:
    """One round: when it started, the agencies stored, unchanged or failed, the rows inserted, how long it took."""

    started: datetime
    agencies: int
    failed: tuple[str, ...]
    rows: int
    seconds: float
    unchanged: int = 0


@dataclass
class ListeningJob:
    """Computes and stores every registered agency's topic lists (see the module docstring).

    Args:
        store: where the lists are inserted (and the texts read, without ``reader``).
        interval: the time between two rounds.
        leader: with several workers, only the leader computes (``None``: always).
        clock: wall clock; default ``datetime.now(UTC)``.
        agencies: the agencies to compute; default the ``agencies`` table (the registered ones).
        reader: where the texts are read: a read session of the job's own; default ``store``.

    Example::

        job = ListeningJob(store, timedelta(minutes=15), reader=session)
        job.refresh()  # blocking; the stack runs it every interval in a thread
    """

    store: ListeningStore
    interval: timedelta
    leader: Callable[[], bool] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    agencies: Callable[[], Sequence[str]] | None = None
    reader: TextReader | None = None
    rounds: int = field(default=0, init=False)
    """Completed rounds, for tests and health."""
    failures: int = field(default=0, init=False)
    """Rounds that failed whole, plus agencies that failed within a round."""
    last: ListeningStats | None = field(default=None, init=False)
    _stored: dict[str, tuple[int, datetime]] = field(default_factory=dict, init=False, repr=False)
    # agency -> (the digest of its last stored computation without its time, that time)
    _halt: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def stop(self) -> None:
        """Give up the round in progress at the next agency (a round runs in a thread, which cannot be cancelled)."""
        self._halt.set()

    def refresh(self) -> ListeningStats:
        """One blocking round: compute every agency's lists now and insert the changed ones in one insert."""
        started = self.clock().astimezone(UTC)
        database = self.store.database
        reader = self.store if self.reader is None else self.reader
        agencies = self.agencies() if self.agencies is not None else directory_agencies(reader, database)
        rows: list[tuple[Any, ...]] = []
        stored: dict[str, tuple[int, datetime]] = {}
        failed: list[str] = []
        for agency in agencies:
            if self._halt.is_set():  # the stack stops: the round is given up, the next start computes it anew
                return ListeningStats(started, 0, (), 0, (self.clock() - started).total_seconds(), 0)
            try:
                at = self.clock().astimezone(UTC)  # the lists end, and are stamped, when computed
                computed = list_rows(agency, at, compute_lists(reader, database, agency, at))
            except Exception:  # one agency's failure must not cost the others their lists
                if not failed:  # the first with its traceback; the rest are named in the round's line
                    log.exception("listening: computing the topic lists of %s failed", agency)
                failed.append(agency)
                continue
            digest = _digest(computed)
            previous = self._stored.get(agency)
            if previous is not None and previous[0] == digest and at - previous[1] < RESTATE_AFTER:
                continue
            rows += computed
            stored[agency] = (digest, at)
        self.store.insert(CITIZEN_TOPICS, COLUMNS, rows)
        self._stored.update(stored)  # only once inserted: a failed insert is retried in full next round
        seconds = (self.clock() - started).total_seconds()
        unchanged = len(agencies) - len(failed) - len(stored)
        stats = ListeningStats(started, len(agencies) - len(failed), tuple(failed), len(rows), seconds, unchanged)
        self.failures += len(failed)
        self.rounds += 1
        self.last = stats
        if failed:
            log.warning("listening: no topic lists for %d agencies this round: %s", len(failed), ", ".join(failed))
        log.info(
            "listening: topic lists of %d agencies (%d unchanged, not stored again) in %.1f s",
            stats.agencies,
            unchanged,
            seconds,
        )
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


def _digest(rows: list[tuple[Any, ...]]) -> int:
    """What a computation says, without when: equal for a recomputation that found the same lists."""
    return hash(tuple(tuple(_frozen(v) for i, v in enumerate(row) if i != _COMPUTED_AT) for row in rows))


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@contextlib.asynccontextmanager
async def listening(job: ListeningJob) -> AsyncIterator[ListeningJob]:
    """Run ``job`` while the block runs (an interval of 0: never); the stop is bounded."""
    if job.interval <= timedelta(0):
        yield job
        return
    try:
        async with in_background(job.run(), "the listening job", _STOP_TIMEOUT_S):
            yield job
    finally:
        job.stop()
