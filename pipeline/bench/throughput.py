"""``serambi bench``: events/s through broker -> worker -> ClickHouse, freshness, RSS, and a bare baseline.

Phases, each measured on its own so the single Python core is not shared between them:
1. preload N synthetic events (batch records, as connectors send them) onto the events topic;
2. a bare aiokafka consumer reads the same topic and only decodes JSON (the ceiling);
3. the real worker (Faust + matcher + chDB sink) consumes the preloaded topic until drained;
4. freshness: events produced at a steady rate while the worker runs; produced -> visible in ClickHouse.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import hot_path_us_per_event
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.metrics import Metrics
from pipeline.runtime.interrupt import Interrupt, on_loop
from pipeline.runtime.procstat import memory_mb
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from pipeline.stream.decode import Record
from schemas.topics import EVENTS

__all__ = ["BenchOptions", "BenchResult", "run_bench"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What to measure: ``events`` through the worker; ``fresh_rate`` events/s for ``fresh_seconds``.

    ``hot_path_events`` go through the processor alone first (CPU time per event, no broker or ClickHouse).
    """

    events: int = 1_000_000
    batch_events: int = 500
    fresh_rate: int = 5000
    fresh_seconds: float = 20.0
    seed: int = 1
    hot_path_events: int = 200_000


@dataclass(frozen=True)
class BenchResult:
    """The figures ``serambi bench`` prints (and writes as JSON)."""

    events: int
    produce_events_per_s: float
    bare_events_per_s: float
    worker_events_per_s: float
    ratio_to_bare: float
    fresh_rate: int
    fresh_events: int
    freshness_p50_s: float
    freshness_p99_s: float
    peak_rss_worker_mb: float
    peak_rss_broker_mb: float
    hot_path_events: int
    hot_path_us_per_event: float

    def as_json(self) -> str:
        """Pretty JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()


def run_bench(settings: Settings, options: BenchOptions, say: Say, interrupt: Interrupt | None = None) -> BenchResult:
    """Run every phase on a throw-away data dir and embedded broker; return the figures."""
    say(f"0/4 hot path: prepare + commit of {options.hot_path_events:,} events, CPU time, no I/O...")
    hot_path = hot_path_us_per_event(
        SyntheticEvents(settings.partitions, options.batch_events, options.seed), options.hot_path_events
    )
    say(f"    {hot_path:.2f} us/event")
    with tempfile.TemporaryDirectory(prefix="serambi-bench-") as tmp:
        bench_settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "clickhouse_url": settings.clickhouse_url
                if not settings.uses_chdb
                else type(settings.clickhouse_url)(""),
            }
        )
        with EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
            bench_settings = bench_settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
            ensure_topics(broker.bootstrap_servers, settings.partitions)
            data = SyntheticEvents(settings.partitions, options.batch_events, options.seed)
            produce_rate = _preload(broker.bootstrap_servers, data, options.events, say)
            bare = asyncio.run(_bare_consume(broker.bootstrap_servers, options.events, say))
            worker, fresh = asyncio.run(_worker_phases(bench_settings, data, options, say, interrupt))
            broker_rss = _broker_peak_rss_mb(broker.pid)
    return BenchResult(
        events=options.events,
        produce_events_per_s=produce_rate,
        bare_events_per_s=bare,
        worker_events_per_s=worker,
        ratio_to_bare=worker / bare if bare else 0.0,
        fresh_rate=options.fresh_rate,
        fresh_events=len(fresh),
        freshness_p50_s=_quantile(fresh, 0.5),
        freshness_p99_s=_quantile(fresh, 0.99),
        peak_rss_worker_mb=_peak_rss_mb(),
        peak_rss_broker_mb=broker_rss,
        hot_path_events=options.hot_path_events,
        hot_path_us_per_event=hot_path,
    )


def _preload(bootstrap: str, data: SyntheticEvents, events: int, say: Say) -> float:
    say(f"1/4 preloading {events:,} events onto {EVENTS.name}...")
    started = time.perf_counter()
    data.produce(bootstrap, events)
    rate = events / (time.perf_counter() - started)
    say(f"    produced at {rate:,.0f} events/s")
    return rate


async def _bare_consume(bootstrap: str, events: int, say: Say) -> float:
    say("2/4 bare aiokafka consumer, decoding JSON only...")
    consumer = AIOKafkaConsumer(
        EVENTS.name, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < events:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                started = started or time.perf_counter()
                seen += sum(len(orjson.loads(r.value)["events"]) for r in records)
    finally:
        await consumer.stop()
    rate = seen / (time.perf_counter() - (started or time.perf_counter()))
    say(f"    {rate:,.0f} events/s")
    return rate


async def _worker_phases(
    settings: Settings, data: SyntheticEvents, options: BenchOptions, say: Say, interrupt: Interrupt | None
) -> tuple[float, list[float]]:
    probe = _Probe()
    say("3/4 worker: Faust + reply matching + chDB sink, until drained...")
    async with open_stack(
        settings,
        Metrics(),
        lambda line: say("    " + line),
        prepare=lambda running: running.processor.observers.append(probe.observe),
    ) as stack:
        if interrupt is not None:
            on_loop(interrupt, stack.stop_requested)
        await stack.wait_drained(timeout_s=3600, poll_s=2.0, interruptible=True)
        _stop_if_requested(stack)
        # From the first batch stored to the last: the worker's rate, without its ~4 s group join.
        elapsed = probe.last - probe.first
        rate = (stack.processor.rows_total - probe.first_rows) / elapsed if elapsed > 0 else 0.0
        say(f"    {stack.processor.rows_total:,} events at {rate:,.0f} events/s, {stack.processor.facts_total:,} facts")
        fresh = await _freshness(stack, data, options, probe, say)
    return rate, fresh


async def _freshness(
    stack: RunningStack, data: SyntheticEvents, options: BenchOptions, probe: _Probe, say: Say
) -> list[float]:
    say(f"4/4 freshness at {options.fresh_rate:,} events/s for {options.fresh_seconds:g} s...")
    probe.freshness.clear()
    probe.tracking = True
    # A daemon: a Ctrl-C ends the benchmark without waiting for the paced producer to finish its seconds.
    producer = threading.Thread(
        target=data.produce_paced,
        args=(stack.bootstrap_servers, options.fresh_rate, options.fresh_seconds),
        daemon=True,
    )
    producer.start()
    while producer.is_alive():
        await asyncio.to_thread(producer.join, 0.5)
        _stop_if_requested(stack)
    await stack.wait_drained(timeout_s=600, poll_s=0.5, interruptible=True)
    _stop_if_requested(stack)
    fresh = sorted(probe.freshness)
    say(f"    p50 {_quantile(fresh, 0.5):.3f} s, p99 {_quantile(fresh, 0.99):.3f} s over {len(fresh):,} records")
    return fresh


def _stop_if_requested(stack: RunningStack) -> None:
    # Ctrl-C/SIGTERM reach the stack's handler while it runs: the phase ends and the stack shuts down on the way
    # out, as a signal outside the stack does (pipeline.runtime.interrupt.raise_on_signals).
    if stack.stop_requested.is_set():
        raise KeyboardInterrupt


class _Probe:
    """Records when batches became visible in ClickHouse."""

    def __init__(self) -> None:
        self.first = 0.0
        self.first_rows = 0
        self.last = 0.0
        self.tracking = False
        self.freshness: list[float] = []

    def observe(self, records: Sequence[Record]) -> None:
        now = time.perf_counter()
        if not self.first:
            self.first = now
            self.first_rows = sum(len(orjson.loads(r.value)["events"]) for r in records)
        self.last = now
        if self.tracking:
            wall_ms = time.time() * 1000
            self.freshness.extend((wall_ms - r.timestamp_ms) / 1000 for r in records)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _broker_peak_rss_mb(pid: int | None) -> float:
    return memory_mb(pid, "VmHWM") or 0.0
