"""``serambi bench``: events/s through broker -> worker -> ClickHouse, freshness, RSS, and a bare baseline.

Phases, each measured on its own so the single Python core is not shared between them:
0. the hot path: the processor alone on the same kind of data (CPU per event and per stage, memory per
   open conversation; :mod:`pipeline.bench.hotpath`);
1. preload N synthetic events (:class:`pipeline.bench.data.SyntheticEvents`: conversations with replies over
   ``span_days`` of event time, in batch records as connectors send them) onto the events topic;
2. a bare aiokafka consumer reads the same topic and only decodes JSON (the ceiling);
3. the real worker (Faust + matcher + chDB sink) consumes the preloaded topic until drained: events/s, facts,
   open conversations, the process's CPU per event and the time per stage;
4. freshness: events produced at a steady rate while the worker runs; produced -> visible in ClickHouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import PYTHON_STAGES, GcTime, HotPath, measure_hot_path, per_event_us
from pipeline.bench.state_memory import bytes_per_conversation
from pipeline.errors import PipelineError
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.metrics import Metrics
from pipeline.runtime.interrupt import Interrupt, on_loop, stop_on_signals
from pipeline.runtime.procstat import memory_mb, reset_peak_rss, tune_malloc
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from pipeline.stream.decode import Record
from pipeline.stream.processor import StageTimes
from schemas.tables import RESPONSE_FACTS
from schemas.topics import EVENTS

__all__ = ["BenchOptions", "BenchResult", "WorkerRun", "run_bench"]

Say = Callable[[str], None]
# The rows of the stage table: (key in the breakdown, label).
_TABLE_ROWS = (
    *((stage, stage) for stage in PYTHON_STAGES[:1]),
    ("classify", "of which needs-reply classify (in decode)"),
    *((stage, stage) for stage in PYTHON_STAGES[1:]),
    ("insert", "insert (ClickHouse, overlapped)"),
    ("gc", "of which gc (inside the stages)"),
    ("event_loop", "CPU: event loop (Faust agents, surge det.)"),
    ("kafka_threads", "CPU: Kafka fetch thread, other Py threads"),
    ("processor_threads", "CPU: processor's threads (and chDB calls)"),
    ("other", "CPU: the rest (e2e: ClickHouse's threads)"),
)


@dataclass(frozen=True)
class BenchOptions:
    """What to measure: ``events`` through the worker; ``fresh_rate`` events/s for ``fresh_seconds``.

    ``hot_path_events`` go through the processor alone first (CPU time per event, no broker or ClickHouse).
    ``span_days``: event time the synthetic events of each run cover (default 10 days: more than the matcher's
    7-day lateness, so idle conversations are evicted during the run).
    """

    events: int = 1_000_000
    batch_events: int = 500
    fresh_rate: int = 5000
    fresh_seconds: float = 20.0
    seed: int = 1
    hot_path_events: int = 200_000
    span_days: float = 10.0

    def data(self, partitions: int, events: int) -> SyntheticEvents:
        """The synthetic events of a run of ``events`` events on ``partitions`` partitions."""
        return SyntheticEvents(
            partitions, self.batch_events, self.seed, events=events, span=timedelta(days=self.span_days)
        )


@dataclass(frozen=True)
class WorkerRun:
    """The worker's end-to-end run: from its first stored batch until the preloaded topic was drained.

    ``cpu_us_per_event``: CPU time of the whole process (every thread: Faust, the processor, chDB) per event;
    ``stages_us``: microseconds per event by stage (:func:`pipeline.bench.hotpath.per_event_us`); ``facts``:
    response facts in ClickHouse (one per citizen message closed); ``fact_rows``: fact rows the worker inserted
    (an improved fact, or one found again in a reloaded conversation, counts again; depends on chunking);
    ``open_conversations``: the matcher's, once drained.
    """

    events_per_s: float
    facts: int
    fact_rows: int
    open_conversations: int
    cpu_us_per_event: float
    stages_us: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchResult:
    """The figures ``serambi bench`` prints (and writes as JSON)."""

    events: int
    span_days: float
    surge_detection: bool
    produce_events_per_s: float
    bare_events_per_s: float
    worker_events_per_s: float
    ratio_to_bare: float
    facts: int
    fact_rows: int
    open_conversations: int
    bytes_per_conversation: float
    hot_path_bytes_per_conversation: float
    worker_cpu_us_per_event: float
    stages_us_per_event: dict[str, float]
    fresh_rate: int
    fresh_events: int
    freshness_p50_s: float
    freshness_p99_s: float
    peak_rss_worker_mb: float
    peak_rss_broker_mb: float
    hot_path_events: int
    hot_path_us_per_event: float
    hot_path_stages_us_per_event: dict[str, float]
    hot_path_facts: int
    hot_path_open_conversations: int
    # The needs-a-reply classification of the hot path's citizen messages (per event: its stages' "classify").
    hot_path_citizen_messages: int = 0
    classify_us_per_citizen_message: float = 0.0
    classify_cold_us_per_citizen_message: float = 0.0

    @classmethod
    def of(  # noqa: PLR0913 - one per phase
        cls,
        options: BenchOptions,
        hot: HotPath,
        worker: WorkerRun,
        rates: tuple[float, float],
        fresh: Sequence[float],
        memory: tuple[float, float, float],
        *,
        surge_detection: bool = True,
    ) -> BenchResult:
        """The result of a run: ``rates`` are (produce, bare) events/s.

        ``memory``: the matcher's bytes per open conversation on the realistic mix of
        :func:`pipeline.bench.state_memory.bytes_per_conversation`, then the peak RSS of the worker and the broker.
        ``surge_detection``: whether the worker ran the surge detector (``SERAMBI_SURGE_DETECTION``); it judges
        every minute of event time, so on a replay of days in a minute it costs far more per event than live.
        """
        produce, bare = rates
        return cls(
            events=options.events,
            span_days=options.span_days,
            surge_detection=surge_detection,
            produce_events_per_s=produce,
            bare_events_per_s=bare,
            worker_events_per_s=worker.events_per_s,
            ratio_to_bare=worker.events_per_s / bare if bare else 0.0,
            facts=worker.facts,
            fact_rows=worker.fact_rows,
            open_conversations=worker.open_conversations,
            bytes_per_conversation=memory[0],
            hot_path_bytes_per_conversation=hot.bytes_per_conversation,
            worker_cpu_us_per_event=worker.cpu_us_per_event,
            stages_us_per_event=worker.stages_us,
            fresh_rate=options.fresh_rate,
            fresh_events=len(fresh),
            freshness_p50_s=_quantile(fresh, 0.5),
            freshness_p99_s=_quantile(fresh, 0.99),
            peak_rss_worker_mb=memory[1],
            peak_rss_broker_mb=memory[2],
            hot_path_events=hot.events,
            hot_path_us_per_event=hot.us_per_event,
            # The classification is inside decode: a row of its own in the table, not a stage of the sum.
            hot_path_stages_us_per_event={**hot.stages_us, "classify": hot.classify_us_per_event},
            hot_path_facts=hot.facts,
            hot_path_open_conversations=hot.open_conversations,
            hot_path_citizen_messages=hot.citizen_messages,
            classify_us_per_citizen_message=hot.classify_us_per_message,
            classify_cold_us_per_citizen_message=hot.classify_cold_us_per_message,
        )

    def as_json(self) -> str:
        """Pretty JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()

    def table(self) -> list[str]:
        """The stages in us/event, hot path against end to end, then the state figures, as text lines."""
        hot, end = self.hot_path_stages_us_per_event, self.stages_us_per_event
        lines = [f"{'us/event (stages: wall time)':<44}{'hot path':>10}{'end to end':>12}"]
        lines += [f"{label:<44}{_cell(hot, key):>10}{_cell(end, key):>12}" for key, label in _TABLE_ROWS]
        lines.append(
            f"{'CPU of the process':<44}{self.hot_path_us_per_event:>10.2f}{self.worker_cpu_us_per_event:>12.2f}"
        )
        lines.append(
            f"needs-reply classification: {self.classify_us_per_citizen_message:.2f} us per citizen message "
            f"({self.classify_cold_us_per_citizen_message:.2f} with a cold cache), "
            f"{self.hot_path_stages_us_per_event.get('classify', 0.0):.2f} us/event "
            f"({self.hot_path_citizen_messages:,} citizen messages in {self.hot_path_events:,} events); "
            "`serambi bench classify` measures it on the labelled corpus"
        )
        lines.append(
            f"facts {self.facts:,} ({self.fact_rows:,} rows inserted; {self.hot_path_facts:,} in the hot path); "
            "open conversations "
            f"{self.open_conversations:,} ({self.hot_path_open_conversations:,}); bytes per open conversation: "
            f"{self.bytes_per_conversation:,.0f} on the matcher's realistic mix, "
            f"{self.hot_path_bytes_per_conversation:,.0f} on this data (longer post threads)"
        )
        return lines


def run_bench(settings: Settings, options: BenchOptions, say: Say, interrupt: Interrupt | None = None) -> BenchResult:
    """Run every phase on a throw-away data dir and embedded broker; return the figures."""
    tune_malloc()  # as the stack does (open_stack), before this process starts any thread
    say(f"0/4 hot path: prepare + commit of {options.hot_path_events:,} events, CPU time, no I/O...")
    hot = measure_hot_path(options.data(settings.partitions, options.hot_path_events), options.hot_path_events)
    say(
        f"    {hot.us_per_event:.2f} us/event, {hot.facts:,} facts, {hot.open_conversations:,} open conversations "
        f"of {hot.bytes_per_conversation:,.0f} bytes; needs-reply classification {hot.classify_us_per_message:.2f} "
        f"us per citizen message"
    )
    mix = bytes_per_conversation(shapes=["mix"])["mix"]
    say(f"    the matcher alone on its realistic mix: {mix:,.0f} bytes per open conversation")
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
            data = options.data(settings.partitions, options.events)
            produce_rate = _preload(broker.bootstrap_servers, data, options.events, say)
            bare = _bare_phase(broker.bootstrap_servers, options.events, say, interrupt)
            worker, fresh = asyncio.run(_worker_phases(bench_settings, data, options, say, interrupt))
            broker_rss = _broker_peak_rss_mb(broker.pid)
    # Since reset_peak_rss() in _worker_phases; getrusage's lifetime peak where /proc cannot tell.
    memory = (mix, memory_mb("self", "VmHWM") or _peak_rss_mb(), broker_rss)
    return BenchResult.of(
        options, hot, worker, (produce_rate, bare), fresh, memory, surge_detection=settings.surge_detection
    )


def _preload(bootstrap: str, data: SyntheticEvents, events: int, say: Say) -> float:
    say(f"1/4 preloading {events:,} events onto {EVENTS.name}...")
    started = time.perf_counter()
    data.produce(bootstrap, events)
    rate = events / (time.perf_counter() - started)
    say(f"    produced at {rate:,.0f} events/s")
    return rate


def _bare_phase(bootstrap: str, events: int, say: Say, interrupt: Interrupt | None) -> float:
    if interrupt is None:
        return asyncio.run(_bare_consume(bootstrap, events, say))
    # A signal only asks the phase to stop; the consumer then stops cleanly. Raised as KeyboardInterrupt in the
    # middle of the consumer's connect, it closed the event loop under aiokafka, which printed a traceback.
    with stop_on_signals(interrupt):
        rate = asyncio.run(_bare_consume(bootstrap, events, say, interrupt.stop))
    if interrupt.requested:
        raise KeyboardInterrupt
    return rate


async def _bare_consume(bootstrap: str, events: int, say: Say, stop: threading.Event | None = None) -> float:
    say("2/4 bare aiokafka consumer, decoding JSON only...")
    consumer = AIOKafkaConsumer(
        EVENTS.name, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < events and not (stop is not None and stop.is_set()):
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
) -> tuple[WorkerRun, list[float]]:
    # This coroutine runs on the stack's event loop, Faust's agents' (Faust fetches from Kafka in a thread of its own).
    probe = _Probe(threading.get_ident())

    def prepare(running: RunningStack) -> None:
        running.processor.stages = probe.stages
        running.processor.observers.append(probe.observe)

    say("3/4 worker: Faust + reply matching + chDB sink, until drained...")
    # The worker's peak RSS is this phase's (and freshness's): not the hot-path phase's or the preload's, which
    # run in this process first. What they freed goes back to the system before the peak is reset.
    gc.collect()
    tune_malloc()
    reset_peak_rss()
    with GcTime() as collector:
        probe.collector = collector
        async with open_stack(settings, Metrics(), lambda line: say("    " + line), prepare=prepare) as stack:
            if interrupt is not None:
                on_loop(interrupt, stack.stop_requested)
            await stack.wait_drained(timeout_s=3600, poll_s=2.0, interruptible=True)
            _stop_if_requested(stack)
            rate, cpu_us, stages_us = probe.figures(stack.processor.rows_total)
            worker = WorkerRun(
                events_per_s=rate,
                facts=await asyncio.to_thread(_stored_facts, stack),
                fact_rows=stack.processor.facts_total,
                open_conversations=len(stack.processor.matcher),
                cpu_us_per_event=cpu_us,
                stages_us=stages_us,
            )
            say(
                f"    {stack.processor.rows_total:,} events at {worker.events_per_s:,.0f} events/s, "
                f"{worker.facts:,} facts, {worker.open_conversations:,} open conversations, "
                f"{worker.cpu_us_per_event:.2f} us CPU/event"
            )
            fresh = await _freshness(stack, data, options, probe, say)
    return worker, fresh


async def _freshness(
    stack: RunningStack, data: SyntheticEvents, options: BenchOptions, probe: _Probe, say: Say
) -> list[float]:
    say(f"4/4 freshness at {options.fresh_rate:,} events/s for {options.fresh_seconds:g} s...")
    probe.freshness.clear()
    probe.tracking = True
    # The load comes from a process of its own (pipeline.bench.paced_load), as connectors' does: a producer thread
    # here would take the worker's interpreter lock and be counted in its latency. It goes on with the same
    # conversations: the events' generator, state and all, is handed over in a file.
    with tempfile.TemporaryDirectory(prefix="serambi-bench-load-") as tmp:
        events = Path(tmp) / "events.pickle"
        events.write_bytes(pickle.dumps(data))
        # -P: the current directory is not put on the path (a ./pipeline there would be imported instead of ours);
        # a session of its own: a terminal's Ctrl-C reaches the benchmark, which stops this process itself.
        command = [sys.executable, "-P", "-m", "pipeline.bench.paced_load", str(events), stack.bootstrap_servers]
        command += [str(options.fresh_rate), str(options.fresh_seconds)]
        producer = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our own module
        try:
            while producer.poll() is None:
                await asyncio.to_thread(_wait, producer, 0.5)
                _stop_if_requested(stack)
        finally:
            if producer.poll() is None:  # interrupted: the load stops with the benchmark
                producer.terminate()
                await asyncio.to_thread(producer.wait)
    _stop_if_requested(stack)  # a signal to the whole process group ended the load too: the benchmark's stop
    if producer.returncode != 0:
        how = f"exit code {producer.returncode}, its error is above"
        if producer.returncode < 0:
            how = f"killed by signal {-producer.returncode}"
        msg = f"the freshness phase's load generator failed ({how}); run the benchmark again"
        raise PipelineError(msg)
    await stack.wait_drained(timeout_s=600, poll_s=0.5, interruptible=True)
    _stop_if_requested(stack)
    fresh = sorted(probe.freshness)
    say(f"    p50 {_quantile(fresh, 0.5):.3f} s, p99 {_quantile(fresh, 0.99):.3f} s over {len(fresh):,} records")
    return fresh


def _wait(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(seconds)


def _stop_if_requested(stack: RunningStack) -> None:
    # Ctrl-C/SIGTERM reach the stack's handler while it runs: the phase ends and the stack shuts down on the way
    # out, as a signal outside the stack does (pipeline.runtime.interrupt.raise_on_signals).
    if stack.stop_requested.is_set():
        raise KeyboardInterrupt


@dataclass
class _Mark:
    """The counters at one moment: wall, process CPU, CPU per Python thread, stage seconds, gc seconds."""

    wall: float = 0.0
    cpu: float = 0.0
    threads: dict[int, tuple[str, float]] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    gc: float = 0.0


class _Probe:
    """Records when batches became visible in ClickHouse, and the counters at the first and the last one."""

    def __init__(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        self.stages = StageTimes()
        self.collector: GcTime | None = None
        self.first: _Mark | None = None
        self.first_rows = 0
        self.last = _Mark()
        self.tracking = False
        self.freshness: list[float] = []

    def observe(self, records: Sequence[Record]) -> None:
        # In the commit thread, once per chunk: a few clock reads per thread and a copy of six numbers.
        mark = _Mark(
            time.perf_counter(),
            time.process_time(),
            _python_threads_cpu(),
            dict(self.stages.seconds),
            self.collector.seconds if self.collector is not None else 0.0,
        )
        if self.first is None:
            self.first = mark
            self.first_rows = sum(len(orjson.loads(r.value)["events"]) for r in records)
        if self.tracking:
            wall_ms = time.time() * 1000
            self.freshness.extend((wall_ms - r.timestamp_ms) / 1000 for r in records)
        else:  # the freshness phase's chunks are not the measured run's
            self.last = mark

    def figures(self, rows: int) -> tuple[float, float, dict[str, float]]:
        """Events/s, CPU us/event and us/event by stage of the measured run, ``rows`` events stored in all.

        The run goes from the first batch stored to the last, without the worker's ~4 s group join.
        """
        first, last = self.first or _Mark(), self.last
        events = rows - self.first_rows
        elapsed = last.wall - first.wall
        stages = {stage: last.stages.get(stage, 0.0) - first.stages.get(stage, 0.0) for stage in last.stages}
        cpu = last.cpu - first.cpu
        # By role: the event loop (Faust's agents, the surge detector, the stack's timers); the default executor's
        # threads (asyncio_N: the processor's prepare and commit, chDB's calls); the others (Faust's aiokafka
        # consumer thread, kafka-python's, the API). A thread that ended during the run takes its CPU along: it
        # is counted in "other", with ClickHouse's own threads.
        threads = dict.fromkeys(("event_loop", "kafka_threads", "processor_threads"), 0.0)
        for ident, (name, seconds) in last.threads.items():
            role = (
                "event_loop"
                if ident == self.loop_thread
                else "processor_threads"
                if name.startswith("asyncio_")
                else "kafka_threads"
            )
            threads[role] += seconds - first.threads.get(ident, (name, 0.0))[1]
        return (
            events / elapsed if elapsed > 0 else 0.0,
            cpu / events * 1e6 if events > 0 else 0.0,
            per_event_us(stages, last.gc - first.gc, cpu, events, threads),
        )


def _stored_facts(stack: RunningStack) -> int:
    """Response facts in ClickHouse, one per message (``FINAL`` merges the improved ones)."""
    database = stack.store.database
    return int(stack.store.query(f"SELECT count() FROM {database}.{RESPONSE_FACTS} FINAL").rows[0][0])


def _python_threads_cpu() -> dict[int, tuple[str, float]]:
    """Name and CPU seconds of every running Python thread, by ident."""
    spent = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            spent[thread.ident] = (thread.name, time.clock_gettime(time.pthread_getcpuclockid(thread.ident)))
        except OSError:  # it ended meanwhile
            continue
    return spent


def _cell(figures: dict[str, float], key: str) -> str:
    return f"{figures[key]:.2f}" if key in figures else "-"


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _broker_peak_rss_mb(pid: int | None) -> float:
    return memory_mb(pid, "VmHWM") or 0.0
