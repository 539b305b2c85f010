"""``serambi bench inserts``: what storing the worker's rows costs chDB alone, per event, without any Python work.

The worker's CPU per event is Python's (decode, match, encode: one core at most, the interpreter lock) plus
ClickHouse's (parsing the rows, the materialized views, the projections, writing parts, merging them), which
with the embedded default runs in the same process on the other core. This benchmark isolates the second: it
prepares ``events`` events of ``serambi bench``'s synthetic traffic with the worker's own processor, keeps each
chunk's encoded inserts, then replays them into a fresh chDB (every migration applied) and measures the process
CPU time of the inserts per table with merges stopped, then the merges of what was inserted (until none is
left), then the fixed cost of one insert (a one-row insert into each table, the median of several, merges
stopped). Nothing else runs in the process then, so its CPU time is chDB's. Merges into a fresh database are a
lower bound of a long-running one's, whose parts are larger.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import bench_processor, bench_records, replay
from pipeline.errors import PipelineError
from pipeline.settings import Settings
from pipeline.storage.store import Store
from schemas.tables import RAW_TABLES

__all__ = ["InsertBenchError", "InsertCost", "capture_inserts", "measure_inserts", "unexpected_counts"]

_ONE_ROW_REPEATS = 7
_MERGES_SQL = "SELECT count() FROM system.merges WHERE database = {db:String}"
_MERGE_POLL_S = 0.2
_MERGE_IDLE_POLLS = 5  # merges are scheduled a moment after they become possible: idle for 1 s means done
_MERGE_WAIT_S = 600.0


class InsertBenchError(PipelineError):
    """The replay did not store what the worker inserted, or chDB kept merging: report it with the figures shown."""


@dataclass(frozen=True)
class Insert:
    """One insert the worker made: the table, its columns and the encoded rows (JSONEachRow)."""

    table: str
    columns: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class InsertCost:
    """chDB's CPU per event of storing ``events`` events; ``tables_us_per_event``: the inserts' share per table.

    ``insert_us_per_event``: the inserts with merges stopped (the calling thread and chDB's own threads);
    ``merges_us_per_event``: the merges of what was inserted, started after the last insert, until none was left;
    ``one_row_insert_ms``: per table, the median CPU of a one-row insert (the fixed cost of any insert);
    ``inserts``: insert queries in all; ``rows``: rows per table.
    """

    events: int
    inserts: int
    insert_us_per_event: float
    merges_us_per_event: float
    tables_us_per_event: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    one_row_insert_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_us_per_event(self) -> float:
        """Inserts and their merges."""
        return self.insert_us_per_event + self.merges_us_per_event

    def cores_at(self, events_per_s: float) -> float:
        """The cores chDB alone would keep busy at ``events_per_s``."""
        return self.total_us_per_event * events_per_s / 1e6

    def lines(self) -> list[str]:
        """The figures for the terminal."""
        out = [
            f"{self.events:,} events in {self.inserts:,} inserts: {self.insert_us_per_event:.2f} us CPU/event "
            f"inserting, {self.merges_us_per_event:.2f} merging; {self.total_us_per_event:.2f} in all "
            f"(at 75,000 events/s: {self.cores_at(75_000):.2f} cores for chDB alone)",
            f"{'table':<16}{'rows':>10}{'us/event':>10}{'one-row insert ms':>19}",
        ]
        out += [
            f"{table:<16}{self.rows.get(table, 0):>10,}{us:>10.2f}{self.one_row_insert_ms.get(table, 0.0):>19.1f}"
            for table, us in self.tables_us_per_event.items()
        ]
        return out


class _Capture:
    """An inserter that keeps what the processor inserts, encoded as the worker sends it."""

    def __init__(self) -> None:
        self.inserts: list[Insert] = []

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Only a rebuild inserts unencoded rows; the benchmark never rebuilds."""
        msg = f"unexpected unencoded insert into {table} (the benchmark's processor never rebuilds): report it"
        raise InsertBenchError(msg)

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Keep the insert."""
        self.inserts.append(Insert(table, tuple(columns), body))


def capture_inserts(data: SyntheticEvents, events: int) -> list[Insert]:
    """The inserts the worker's processor makes for ``events`` events of ``data``, chunk by chunk, in order."""
    capture = _Capture()
    replay(bench_processor(capture), bench_records(data, events))
    return capture.inserts


def measure_inserts(
    settings: Settings, data: SyntheticEvents, events: int, say: Callable[[str], None] = lambda _: None
) -> InsertCost:
    """Replay the worker's inserts for ``events`` events into a fresh chDB (a temporary data dir): the CPU they cost."""
    say(f"preparing {events:,} events with the worker's processor...")
    inserts = capture_inserts(data, events)
    rows: dict[str, int] = {}
    for insert in inserts:
        rows[insert.table] = rows.get(insert.table, 0) + insert.body.count(b"\n") + 1
    with tempfile.TemporaryDirectory(prefix="serambi-bench-inserts-") as tmp:
        # Always a throw-away chDB on one server's schema and no TTL: replaying into a configured server would add
        # the benchmark's rows to its data, and a TTL could drop the synthetic rows (their dates are fixed).
        update = {"data_dir": Path(tmp), "clickhouse_url": SecretStr(""), "clickhouse_cluster": "", "raw_ttl_days": 0}
        store = Store(settings.model_copy(update=update))
        try:
            store.migrate()
            store.purge_every_s = None  # the worker's allocator purges are not the inserts' cost
            say(f"replaying {len(inserts):,} inserts into a fresh chDB (merges stopped)...")
            store.command("SYSTEM STOP MERGES")  # timed on their own, after the inserts
            tables: dict[str, float] = {}
            started = time.process_time()
            for insert in inserts:
                before = time.process_time()
                store.insert_encoded(insert.table, insert.columns, insert.body)
                tables[insert.table] = tables.get(insert.table, 0.0) + time.process_time() - before
            inserted = time.process_time()
            # Counted before any merge (no raw row may be missing) and before the one-row inserts add theirs.
            wrong = unexpected_counts({table: _count(store, table) for table in rows}, rows)
            if wrong:
                msg = f"the replay did not store what the worker inserted: {'; '.join(wrong)}; report it"
                raise InsertBenchError(msg)
            say("merging what was inserted...")
            merging = time.process_time()
            store.command("SYSTEM START MERGES")
            _wait_for_merges(store)
            merged = time.process_time()
            say("timing one-row inserts (merges stopped)...")
            store.command("SYSTEM STOP MERGES")  # the one-row parts' merges are not an insert's fixed cost
            one_row = {table: _one_row_ms(store, inserts, table) for table in rows}
        finally:
            store.close()
    scale = 1e6 / max(events, 1)
    return InsertCost(
        events=events,
        inserts=len(inserts),
        insert_us_per_event=(inserted - started) * scale,
        merges_us_per_event=(merged - merging) * scale,
        tables_us_per_event={table: seconds * scale for table, seconds in tables.items()},
        rows=rows,
        one_row_insert_ms=one_row,
    )


def unexpected_counts(stored: dict[str, int], inserted: dict[str, int]) -> list[str]:
    """What is wrong with the rows ``stored`` per table after a replay of ``inserted`` rows; empty when nothing.

    Every synthetic event is unique, so a raw table holds exactly the rows inserted; another table (the response
    facts: a later row of a message improves its fact) may hold fewer once a merge replaced rows, never more.
    """
    wrong = []
    for table, rows in inserted.items():
        held = stored.get(table, 0)
        if held > rows or (held < rows and table in RAW_TABLES):
            wrong.append(f"{table} holds {held:,} rows of {rows:,} inserted")
    return wrong


def _wait_for_merges(store: Store) -> None:
    deadline, idle = time.monotonic() + _MERGE_WAIT_S, 0
    while idle < _MERGE_IDLE_POLLS:
        if time.monotonic() > deadline:
            msg = f"chDB still merged after {_MERGE_WAIT_S:g} s; run the benchmark again with fewer --events"
            raise InsertBenchError(msg)
        time.sleep(_MERGE_POLL_S)  # polling chDB's merge list, not synchronising the benchmark's own work
        idle = idle + 1 if not store.query(_MERGES_SQL, {"db": store.database}).rows[0][0] else 0


def _count(store: Store, table: str) -> int:
    bound = {"db": store.database, "table": table}
    return int(store.query("SELECT count() FROM {db:Identifier}.{table:Identifier}", bound).rows[0][0])


def _one_row_ms(store: Store, inserts: Sequence[Insert], table: str) -> float:
    first = next(insert for insert in inserts if insert.table == table)
    row = first.body.split(b"\n", 1)[0]
    seconds = []
    for _ in range(_ONE_ROW_REPEATS):  # the same row again: ReplacingMergeTree keeps one, the cost is the insert's
        before = time.process_time()
        store.insert_encoded(table, first.columns, row)
        seconds.append(time.process_time() - before)
    return statistics.median(seconds) * 1e3
