"""``serambi bench scale``: events/s of K worker processes on P partitions, and that each event is stored once.

Synthetic events (:class:`pipeline.bench.data.SyntheticEvents`, the throughput benchmark's) are preloaded onto
the events topic of an embedded broker with P partitions and counted (per partition, per table, every event id).
Then, for each K, K processes start together; process k reads partitions p with ``p % K == k`` (manual
assignment, no consumer group: the measure is the processing, not the group protocol) and runs the worker's
path on them: :meth:`Processor.prepare` then :meth:`Processor.commit`, the commit of one chunk overlapping the
preparation of the next, as the worker's agent does. Each process writes to its OWN chDB data dir, since chDB
allows one process per data dir; a deployment's workers write to ClickHouse shards over HTTP instead, so
ClickHouse's work here shares the benchmark's cores. The rate runs from the first record any process read to
the last chunk any process stored. Afterwards every process counts what it stored, so the run also checks that
each event was stored exactly once across the data dirs.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KafkaTopicPartition
from prometheus_client import CollectorRegistry

from pipeline.bench.capacity import throughput
from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import CHUNK_RECORDS
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.metrics import Metrics
from pipeline.runtime.gctune import tune_gc
from pipeline.settings import Settings, load_settings
from pipeline.storage.agencies import AgencyRegistry
from pipeline.storage.history import InteractionHistory
from pipeline.storage.store import Store
from pipeline.stream.decode import Record
from pipeline.stream.processor import Prepared, Processor
from schemas.agency import load_directory
from schemas.tables import RAW_TABLES, TABLE_OF_EVENT
from schemas.topics import EVENTS

__all__ = ["Census", "ScaleOptions", "ScaleResult", "ScaleRun", "run_scale_bench", "take_census"]

Say = Callable[[str], None]
# Start-up of one process (imports, chDB, migrations) on a loaded 2-core machine, and one run, with wide margins.
_READY_TIMEOUT_S = 300.0
_DONE_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class ScaleOptions:
    """``events`` preloaded on ``partitions`` partitions; each count of ``workers`` measured ``runs`` times."""

    workers: tuple[int, ...] = (1, 2)
    partitions: int = 4
    events: int = 200_000
    runs: int = 1
    batch_events: int = 500
    seed: int = 1


@dataclass(frozen=True)
class Census:
    """What is on the topic: events per partition and per table, bytes, and every event id (as counted)."""

    events: int
    records: int
    bytes: int
    per_partition: dict[int, int]
    per_table: dict[str, int]
    ids: Counter[str] = field(repr=False)


@dataclass(frozen=True)
class ScaleRun:
    """One run of K processes: rate, CPU and ClickHouse time, and what was stored against the census."""

    workers: int
    partitions: int
    events_per_s: float
    seconds: float
    cpu_us_per_event: float
    cores_used: float
    insert_rows_per_s: float
    rows_per_event: float
    stored_per_table: dict[str, int]
    duplicates: int
    missing: int
    bytes_on_disk: int

    @property
    def exact(self) -> bool:
        """True when every event on the topic was stored once, and nothing else."""
        return self.duplicates == 0 and self.missing == 0


@dataclass(frozen=True)
class ScaleResult:
    """The figures ``serambi bench scale`` prints (and writes as JSON): the median run of each K."""

    partitions: int
    events: int
    event_bytes: float
    per_partition: dict[int, int]
    per_table: dict[str, int]
    runs: list[ScaleRun]
    cores: int

    def median(self, workers: int) -> ScaleRun:
        """The run of ``workers`` processes with the median rate."""
        runs = sorted((r for r in self.runs if r.workers == workers), key=lambda r: r.events_per_s)
        return runs[(len(runs) - 1) // 2]

    @property
    def worker_counts(self) -> list[int]:
        """The K measured, ascending."""
        return sorted({r.workers for r in self.runs})

    @property
    def exact(self) -> bool:
        """True when every run stored every event exactly once."""
        return all(r.exact for r in self.runs)

    def table(self) -> list[str]:
        """Workers, partitions, events/s, per worker, efficiency, and the model's figure for comparison."""
        base = self.median(self.worker_counts[0])
        per_base = base.events_per_s / min(base.workers, self.partitions)
        lines = [
            f"{self.events:,} events on {self.partitions} partitions "
            f"({', '.join(f'p{p}: {n:,}' for p, n in sorted(self.per_partition.items()))}); {self.cores} cores",
            f"{'workers':>7} {'partitions':>10} {'events/s':>10} {'per worker':>10} {'efficiency':>10} "
            f"{'model':>10} {'cores used':>10} {'us/event':>8} {'runs':>5} {'stored once':>11}",
        ]
        for k in self.worker_counts:
            run, runs = self.median(k), [r for r in self.runs if r.workers == k]
            used = min(k, self.partitions)
            model = throughput(per_base, k, self.partitions)
            lines.append(
                f"{k:>7} {self.partitions:>10} {run.events_per_s:>10,.0f} {run.events_per_s / used:>10,.0f} "
                f"{run.events_per_s / (per_base * used):>10.2f} {model:>10,.0f} {run.cores_used:>10.2f} "
                f"{run.cpu_us_per_event:>8.1f} {len(runs):>5} "
                f"{'yes' if all(r.exact for r in runs) else 'NO':>11}"
            )
        lines.append(
            "efficiency = (events/s / min(K, P)) / the first row's per-worker rate; model = that rate x P / "
            "ceil(P / K) (one core per worker); cores used = CPU time of the worker processes / wall time, us/event ="
            " their CPU per event (the broker's not counted). Processes beyond the free cores share them: flat from "
            "there is the machine."
        )
        return lines

    def as_json(self) -> str:
        """Pretty JSON."""
        body = asdict(self)
        body["medians"] = {str(k): asdict(self.median(k)) for k in self.worker_counts}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def run_scale_bench(settings: Settings, options: ScaleOptions, say: Say) -> ScaleResult:
    """Preload, count, then run every K (``runs`` times each) on a throw-away broker and data dirs."""
    if any(k < 1 for k in options.workers) or options.partitions < 1 or options.runs < 1:
        msg = "workers, partitions and runs must be at least 1"
        raise ValueError(msg)
    with tempfile.TemporaryDirectory(prefix="serambi-bench-scale-") as tmp:
        root = Path(tmp)
        with EmbeddedBroker(log_path=root / "broker.log") as broker:
            bootstrap = broker.bootstrap_servers
            ensure_topics(bootstrap, options.partitions)
            say(f"1/3 preloading {options.events:,} events onto {options.partitions} partitions...")
            data = SyntheticEvents(options.partitions, options.batch_events, options.seed, events=options.events)
            data.produce(bootstrap, options.events)
            say("2/3 counting what is on the topic (per partition, per table, every event id)...")
            census = take_census(bootstrap, options.partitions)
            runs = []
            for k in options.workers:
                for n in range(options.runs):
                    say(f"3/3 {k} worker process(es) on {options.partitions} partitions, run {n + 1}/{options.runs}...")
                    run = _run(_Fleet(settings, bootstrap, options.partitions), census, k, root / f"k{k}-run{n}")
                    say(f"    {run.events_per_s:,.0f} events/s; stored once: {'yes' if run.exact else 'NO'}")
                    runs.append(run)
    return ScaleResult(
        partitions=options.partitions,
        events=census.events,
        event_bytes=census.bytes / census.events if census.events else 0.0,
        per_partition=census.per_partition,
        per_table={t: census.per_table.get(t, 0) for t in RAW_TABLES},
        runs=runs,
        cores=_cores(),
    )


def take_census(bootstrap: str, partitions: int) -> Census:
    """Read the events topic from the start to its end: the ground truth the stored rows are checked against."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = [KafkaTopicPartition(EVENTS.name, p) for p in range(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        per_partition, per_table, ids = dict.fromkeys(range(partitions), 0), Counter[str](), Counter[str]()
        records = size = 0
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for tp, messages in consumer.poll(timeout_ms=1000, max_records=10_000).items():
                for message in messages:
                    events = orjson.loads(message.value)["events"]
                    records, size = records + 1, size + len(message.value)
                    per_partition[tp.partition] += len(events)
                    per_table.update(TABLE_OF_EVENT[event["type"]] for event in events)
                    ids.update(event["event_id"] for event in events)
    finally:
        consumer.close()
    total = sum(per_partition.values())
    return Census(total, records, size, per_partition, dict(per_table), ids)


@dataclass(frozen=True)
class _Fleet:
    """What every run shares: the settings to derive each process's from, the broker, the partition count."""

    settings: Settings
    bootstrap: str
    partitions: int


def _run(fleet: _Fleet, census: Census, workers: int, root: Path) -> ScaleRun:
    root.mkdir(parents=True)
    homes = [root / f"w{k}" for k in range(workers)]
    processes = [_spawn(fleet, k, workers, home) for k, home in enumerate(homes)]
    try:
        for process, home in zip(processes, homes, strict=True):
            _expect(process, "ready", home, _READY_TIMEOUT_S)
        for process in processes:  # together: each times itself from its own first record
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = [_expect(p, "done", home, _DONE_TIMEOUT_S) for p, home in zip(processes, homes, strict=True)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    busy = [r for r in reports if r["first_at"] is not None]  # a process without partitions read nothing
    seconds = max(r["stored_at"] for r in busy) - min(r["first_at"] for r in busy) if busy else 0.0
    stored: Counter[str] = Counter()
    for home in homes:
        stored.update((home / "event_ids.txt").read_text(encoding="utf-8").split())
    events = sum(r["events"] for r in reports)
    return ScaleRun(
        workers=workers,
        partitions=fleet.partitions,
        events_per_s=_rate(events, seconds),
        seconds=seconds,
        cpu_us_per_event=sum(r["cpu_s"] for r in reports) / max(events, 1) * 1e6,
        cores_used=_rate(sum(r["cpu_s"] for r in reports), seconds),
        insert_rows_per_s=_rate(sum(r["rows"] for r in reports), sum(r["commit_s"] for r in reports)),
        rows_per_event=sum(r["rows"] for r in reports) / max(events, 1),
        stored_per_table={t: sum(r["per_table"].get(t, 0) for r in reports) for t in RAW_TABLES},
        duplicates=sum(n - 1 for n in stored.values() if n > 1) + sum(n - 1 for n in census.ids.values() if n > 1),
        missing=len(census.ids.keys() - stored.keys()) + len(stored.keys() - census.ids.keys()),
        bytes_on_disk=sum(r["bytes_on_disk"] for r in reports),
    )


def _spawn(fleet: _Fleet, k: int, workers: int, home: Path) -> subprocess.Popen[str]:
    home.mkdir()
    settings, partitions = fleet.settings, fleet.partitions
    plan = {
        "bootstrap": fleet.bootstrap,
        "worker": k,
        "workers": workers,
        "partitions": partitions,
        # Its own data dir and chDB; the rest as this process has it (directory, lateness, time bounds).
        "settings": {
            "data_dir": str(home / "data"),
            "clickhouse_url": "",
            "clickhouse_database": settings.clickhouse_database,
            "agencies_file": str(settings.agencies_file) if settings.agencies_file else None,
            "lateness_hours": settings.lateness_hours,
            "earliest_event": settings.earliest_event.isoformat(),
            "max_future_hours": settings.max_future_hours,
            "partitions": partitions,
        },
        "ids_file": str(home / "event_ids.txt"),
    }
    with (home / "worker.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(  # noqa: S603 - this module, with this interpreter
            [sys.executable, "-m", __spec__.name if __spec__ else "pipeline.bench.scale"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdin is not None
    process.stdin.write(json.dumps(plan) + "\n")
    process.stdin.flush()
    return process


def _expect(process: subprocess.Popen[str], step: str, home: Path, timeout_s: float) -> dict[str, Any]:
    # One JSON line per step on stdout; a process that died or hangs says why in its log.
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    line = process.stdout.readline() if ready else ""
    report: dict[str, Any] = json.loads(line) if line.strip() else {}
    if report.get("step") != step:
        log = (home / "worker.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        msg = f"worker process {home.name} did not report {step!r} (exit code {process.poll()}); its log:\n{log}"
        raise RuntimeError(msg)
    return report


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _cores() -> int:
    return len(os.sched_getaffinity(0))


# --- the worker process: `python -m pipeline.bench.scale`, a plan on stdin, one JSON line per step on stdout ---


class _Worker:
    """One worker process of the benchmark: its partitions, its own chDB and Metrics, the processor's public API."""

    def __init__(self, plan: dict[str, Any], out: IO[str]) -> None:
        self._plan, self._out = plan, out
        self._settings = load_settings(**plan["settings"])
        tune_gc()  # as the stack does
        self._store = Store(self._settings)
        self._store.migrate()
        registry = AgencyRegistry(self._store, load_directory(self._settings.agencies_file))
        registry.publish()
        lateness = timedelta(hours=self._settings.lateness_hours)
        metrics = Metrics(CollectorRegistry())
        history = InteractionHistory(self._store)
        self._processor = Processor(
            self._store, metrics, registry, history, lateness, bounds=self._settings.event_bounds
        )
        self._processor.rebuild()
        self._commit_s = 0.0

    def report(self, step: str, **figures: Any) -> None:
        """Tell the benchmark one step is done."""
        self._out.write(json.dumps({"step": step, **figures}) + "\n")
        self._out.flush()

    async def run(self) -> None:
        """Connect, say ready, wait for go, consume this process's partitions to their end, count what is stored."""
        plan = self._plan
        consumer = AIOKafkaConsumer(bootstrap_servers=plan["bootstrap"], group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            self.report("ready")
            await asyncio.to_thread(sys.stdin.readline)
            parts = [
                TopicPartition(EVENTS.name, p)
                for p in range(plan["partitions"])
                if p % plan["workers"] == plan["worker"]
            ]
            cpu = time.process_time()
            first_at, stored_at, rows = await self._consume(consumer, parts) if parts else (None, None, 0)
            cpu_s = time.process_time() - cpu
        finally:
            await consumer.stop()
        per_table, bytes_on_disk = self._count(Path(plan["ids_file"]))
        figures = {"first_at": first_at, "stored_at": stored_at, "events": self._processor.rows_total, "rows": rows}
        self.report(
            "done", **figures, cpu_s=cpu_s, commit_s=self._commit_s, per_table=per_table, bytes_on_disk=bytes_on_disk
        )
        self._store.close()

    async def _consume(self, consumer: Any, parts: list[TopicPartition]) -> tuple[float | None, float, int]:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        left = {tp.partition: end for tp, end in ends.items() if end > 0}
        first_at: float | None = None
        pending: asyncio.Future[None] | None = None
        rows = 0
        while left:
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            records = [Record(tp.partition, m.offset, m.value, m.timestamp) for tp, ms in batch.items() for m in ms]
            # Wall clock, not monotonic: the benchmark compares the times of several processes.
            first_at = first_at or (time.time() if records else None)
            for record in records:
                if record.offset + 1 >= left.get(record.partition, 0):
                    left.pop(record.partition, None)
            for start in range(0, len(records), CHUNK_RECORDS):
                # As the worker's agent: chunk k is inserted (ClickHouse, GIL released) while k + 1 is prepared.
                prepared = await asyncio.to_thread(self._processor.prepare, records[start : start + CHUNK_RECORDS])
                rows += sum(t.rows for t in prepared.tables)
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(self._commit(prepared))
        if pending is not None:
            await pending
        return first_at, time.time(), rows

    async def _commit(self, prepared: Prepared) -> None:
        started = time.perf_counter()
        await asyncio.to_thread(self._processor.commit, prepared)
        self._commit_s += time.perf_counter() - started

    def _count(self, ids_file: Path) -> tuple[dict[str, int], int]:
        # After the clock stopped: rows per raw table (no FINAL: a duplicate must count) and every event id.
        db, per_table, ids = self._store.database, {}, list[str]()
        for table in RAW_TABLES:
            found = self._store.query(f"SELECT event_id FROM {db}.{table}").rows
            per_table[table] = len(found)
            ids.extend(row[0] for row in found)
        ids_file.write_text("\n".join(ids), encoding="utf-8")
        parts = self._store.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db:String}", {"db": db}
        )
        return per_table, int(parts.rows[0][0] or 0)


def _worker_main() -> None:
    # The reports get a private copy of stdout; whatever a library prints goes to the log (stderr) instead.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    plan = json.loads(sys.stdin.readline())
    asyncio.run(_Worker(plan, out).run())


if __name__ == "__main__":
    _worker_main()
