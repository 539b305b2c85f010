"""The rollups' refresher: re-derive the days (and their hours) that new data touched.

The rules live in :mod:`pipeline.storage.sql.rollup_sql`; this module decides *which* days to derive and
when. A day is derived once nothing touched it for ``SERAMBI_ROLLUP_QUIET_SECONDS`` (60 s) and it holds data
whose current build is missing, older than its last touch (new data, a late reply, a redelivery), made under
another agency directory or rollup format (:data:`~pipeline.storage.sql.fragments.ROLLUP_FORMAT`, part of the
directory hash: a build of an older serambi lacks columns), or, for the current day, lacking hours that are over
by now. Readers never depend on the refresher for correctness: a day not derived yet is read from raw data (see
the module doc of :mod:`~pipeline.storage.sql.rollup_sql`), so running it late only makes queries slower.

Example::

    stats = refresh_rollups(store, default_sla_hours=settings.sla_hours)
    print(f"{len(stats.days)} days derived in {stats.seconds:.1f} s")
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from pipeline.storage.query import QueryResult
from pipeline.storage.sql.fragments import directory_hash_sql
from pipeline.storage.sql.rollup_sql import (
    build_days_sql,
    delete_old_builds_sql,
    garbage_sql,
    record_builds_sql,
    stale_days_sql,
)
from schemas.tables import DAY_ROLLUP, HOUR_ROLLUP
from schemas.timeutil import assume_utc

__all__ = ["BUILT_AT_MARGIN", "DEFAULT_QUIET", "RefreshStats", "RollupStore", "refresh_rollups"]

DEFAULT_QUIET = timedelta(seconds=60)
"""A day is derived once nothing touched it for this long: a day still being written is read raw meanwhile."""
BUILT_AT_MARGIN = timedelta(seconds=30)
"""A build counts as made this long before it started: an insert stamps its touch when it starts, and its rows
may become visible only later; a day touched within the margin is derived again on the next refresh."""
_GARBAGE_SHARE = 4
_CHUNK_DAYS = 7  # days per statement: bounded memory, and ingest waits at most one chunk for the writer session


class RollupStore(Protocol):
    """What the refresher needs of :class:`pipeline.storage.store.Store`."""

    database: str

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run one statement."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one query."""


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh did: the days derived (oldest first), under which build, in how many seconds."""

    days: tuple[date, ...]
    build: int
    seconds: float


def refresh_rollups(  # noqa: PLR0913 - keyword-only knobs of one operation
    store: RollupStore,
    *,
    default_sla_hours: float = 24.0,
    quiet: timedelta = DEFAULT_QUIET,
    now: datetime | None = None,
    margin: timedelta = BUILT_AT_MARGIN,
    progress: Callable[[str], None] | None = None,
) -> RefreshStats:
    """Derive every stale day that nothing touched for ``quiet``; return what was done.

    ``default_sla_hours`` must be the stack's ``SERAMBI_SLA_HOURS``: readers with another default treat the
    days as stale and read raw data. ``margin`` is :data:`BUILT_AT_MARGIN` except where nothing is being
    written (tests, after a drain).
    """
    started = time.perf_counter()
    db = store.database
    sla = {"default_sla_hours": float(default_sla_hours)}
    [(directory,)] = store.query(f"SELECT {directory_hash_sql(db, '{default_sla_hours:Float64}')}", sla).rows
    [(server_now,)] = store.query("SELECT now64(3)").rows
    moment = now or assume_utc(server_now)
    found = store.query(
        stale_days_sql(db), {"now": moment, "quiet_before": moment - quiet, "directory": int(directory)}
    ).rows
    stale = [_as_date(day) for (day,) in found]
    build = 0
    for chunk in _chunks(stale, _CHUNK_DAYS):
        [(server_now,)] = store.query("SELECT now64(3)").rows
        # Increasing across refreshes and restarts; the random low digits keep two workers' refreshers (each
        # `serambi run` has one) from sharing a number in the same millisecond.
        build = time.time_ns() // 1_000_000 * 1_000_000 + secrets.randbelow(1_000_000)
        read_at = assume_utc(server_now)
        built_at = read_at - margin
        days = {"days": list(chunk), "build": build}
        store.command(build_days_sql(db, DAY_ROLLUP), {**days, **sla})
        store.command(build_days_sql(db, HOUR_ROLLUP), {**days, **sla})
        store.command(
            record_builds_sql(db), {**days, "built_at": built_at, "read_at": read_at, "directory": int(directory)}
        )
        if progress is not None:
            progress(f"rollups: derived {chunk[0]} .. {chunk[-1]} ({len(chunk)} days)")
    if stale:
        _collect_garbage(store)
    return RefreshStats(tuple(stale), build, time.perf_counter() - started)


def _collect_garbage(store: RollupStore) -> None:
    # Readers skip old builds' rows, so deleting them only saves space and scan time; a delete is a mutation
    # (seconds), so it runs once old rows are a quarter of the table, not after every rebuilt day.
    [(old, current)] = store.query(garbage_sql(store.database)).rows
    if old > current // _GARBAGE_SHARE:
        for table in (DAY_ROLLUP, HOUR_ROLLUP):
            store.command(delete_old_builds_sql(store.database, table))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value))


def _chunks(days: Sequence[date], size: int) -> list[Sequence[date]]:
    return [days[i : i + size] for i in range(0, len(days), size)]
