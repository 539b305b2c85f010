"""``serambi bench soak``: live-like load for a long time; do worker and broker memory stay flat?

Events of :meth:`pipeline.bench.data.SyntheticEvents.live_events` (accounts of the agency directory, event
time = wall clock, replies that produce response facts) go through the real publisher path
(:func:`pipeline.runtime.publishing.kafka_publisher`, the embedded broker's spool included) at ``rate``
events/s, from a thread of the process that runs the stack. Every ``sample_every_s`` a sample records
what was published and stored, the lag, both processes' RSS, the spool and the matcher's conversations.

"Flat" means: the least-squares slope of RSS over the second half of the run (after warm-up) is below
``flat_mb_per_min``. The worker RSS is this whole process: worker, chDB, API *and* the load generator.
The matcher keeps conversations for ``lateness_hours`` of event time; at live event time a run shorter
than that measures the matcher filling up, not a leak (``SERAMBI_LATENESS_HOURS`` shortens it).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from pipeline.bench.data import SyntheticEvents
from pipeline.metrics import Metrics
from pipeline.runtime.procstat import memory_mb
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from schemas.agency import load_directory
from schemas.tables import RAW_TABLES, RESPONSE_FACTS

__all__ = ["RssTrend", "SoakOptions", "SoakResult", "SoakSample", "rss_trend", "run_soak"]

Say = Callable[[str], None]
_EDGE_S = 300.0  # "first" and "last" windows: 5 minutes, or a third of a shorter run
_STEP_S = 0.025  # publish what is due this often: a live connector's small, frequent records
_MB = 1024 * 1024


@dataclass(frozen=True)
class SoakOptions:
    """How long and how hard: ``rate`` events/s for ``minutes``, a sample every ``sample_every_s``.

    ``flat_mb_per_min``: the highest second-half RSS slope still called flat (default 1 MB/min).
    ``data_dir``: run on this data dir (its settings' ClickHouse); ``None``: a throw-away one with chDB.
    ``drain_timeout_s``: how long to wait at the end until everything published is stored.
    """

    minutes: float = 30
    rate: int = 2000
    sample_every_s: float = 10
    seed: int = 11
    flat_mb_per_min: float = 1.0
    data_dir: Path | None = None
    drain_timeout_s: float = 600.0


@dataclass(frozen=True)
class SoakSample:
    """One sample; ``broker_rss_mb`` and ``spool_bytes`` are ``None`` with an external Kafka."""

    elapsed_s: float
    published: int
    stored: int
    lag: int
    worker_rss_mb: float
    broker_rss_mb: float | None
    spool_bytes: int | None
    conversations: int


@dataclass(frozen=True)
class RssTrend:
    """One process's RSS over the run, in MB.

    ``first_median_mb`` / ``last_median_mb``: medians of the first and last 5 minutes (a third of a shorter
    run); ``slope_mb_per_min``: least-squares slope over the second half (``None``: fewer than two samples
    there); ``flat``: that slope is known and below the threshold (shrinking counts as flat).
    """

    first_median_mb: float
    last_median_mb: float
    max_mb: float
    slope_mb_per_min: float | None
    flat: bool


@dataclass(frozen=True)
class SoakResult:
    """The figures ``serambi bench soak`` prints (and writes as JSON); ``broker_rss`` is ``None`` if external."""

    minutes: float
    rate: int
    duration_s: float
    events_published: int
    events_stored: int
    facts_stored: int
    dead_lettered: int
    achieved_events_per_s: float
    drained: bool
    lateness_hours: float
    flat_mb_per_min: float
    worker_rss: RssTrend
    broker_rss: RssTrend | None
    flat_worker: bool
    flat_broker: bool
    samples: list[SoakSample]

    def as_json(self) -> str:
        """Pretty JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2).decode()


def rss_trend(points: Sequence[tuple[float, float]], duration_s: float, flat_mb_per_min: float) -> RssTrend:
    """The trend of ``(elapsed s, MB)`` points of a run that lasted ``duration_s`` (see :class:`RssTrend`)."""
    edge = min(_EDGE_S, duration_s / 3)
    values = [mb for _, mb in points]
    first = [mb for t, mb in points if t <= edge] or values[:1]
    last = [mb for t, mb in points if t >= duration_s - edge] or values[-1:]
    slope = _slope_per_s([(t, mb) for t, mb in points if t >= duration_s / 2])
    per_min = None if slope is None else slope * 60
    return RssTrend(
        first_median_mb=statistics.median(first) if first else 0.0,
        last_median_mb=statistics.median(last) if last else 0.0,
        max_mb=max(values, default=0.0),
        slope_mb_per_min=per_min,
        flat=per_min is not None and per_min < flat_mb_per_min,
    )


def _slope_per_s(points: Sequence[tuple[float, float]]) -> float | None:
    if len({t for t, _ in points}) < 2:
        return None
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def run_soak(settings: Settings, options: SoakOptions, say: Say) -> SoakResult:
    """Run the soak on the embedded stack (a throw-away data dir unless ``options.data_dir``); return figures."""
    with ExitStack() as cleanup:
        if options.data_dir is not None:
            soak_settings = settings.model_copy(update={"data_dir": options.data_dir})
        else:
            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="serambi-soak-")))
            url = settings.clickhouse_url if not settings.uses_chdb else type(settings.clickhouse_url)("")
            soak_settings = settings.model_copy(update={"data_dir": tmp, "clickhouse_url": url})
        return asyncio.run(_soak(soak_settings, options, say))


async def _soak(settings: Settings, options: SoakOptions, say: Say) -> SoakResult:
    say(f"soak: {options.rate:,} events/s for {options.minutes:g} min, a sample every {options.sample_every_s:g} s")
    async with open_stack(settings, Metrics(CollectorRegistry()), lambda line: say("    " + line)) as stack:
        broker_pid = stack.broker_pid
        feed = _Feed(stack, options)
        samples, duration_s = await _load(stack, feed, broker_pid, options, say)
        say("draining: waiting until ClickHouse holds every event...")
        drained = (await stack.wait_drained(options.drain_timeout_s, poll_s=1.0)).drained
        stored, facts = await asyncio.to_thread(_distinct_stored, stack)
    say(f"drained: {drained}; published {feed.published:,}, stored {stored:,} events and {facts:,} response facts")
    worker = rss_trend([(s.elapsed_s, s.worker_rss_mb) for s in samples], duration_s, options.flat_mb_per_min)
    broker_points = [(s.elapsed_s, s.broker_rss_mb) for s in samples if s.broker_rss_mb is not None]
    broker = rss_trend(broker_points, duration_s, options.flat_mb_per_min) if broker_points else None
    return SoakResult(
        minutes=options.minutes,
        rate=options.rate,
        duration_s=duration_s,
        events_published=feed.published,
        events_stored=stored,
        facts_stored=facts,
        dead_lettered=feed.dead_lettered,
        achieved_events_per_s=feed.published / duration_s if duration_s > 0 else 0.0,
        drained=drained,
        lateness_hours=settings.lateness_hours,
        flat_mb_per_min=options.flat_mb_per_min,
        worker_rss=worker,
        broker_rss=broker,
        flat_worker=worker.flat,
        flat_broker=broker is not None and broker.flat,
        samples=samples,
    )


def _distinct_stored(stack: RunningStack) -> tuple[int, int]:
    """Events and response facts ClickHouse holds, each once (a replay inserts rows again; FINAL merges them)."""
    store = stack.store

    def count(table: str) -> int:
        [(rows,)] = store.query(f"SELECT count() FROM {store.database}.{table} FINAL").rows
        return int(rows)

    return sum(count(table) for table in RAW_TABLES), count(RESPONSE_FACTS)


async def _load(
    stack: RunningStack, feed: _Feed, broker_pid: int | None, options: SoakOptions, say: Say
) -> tuple[list[SoakSample], float]:
    """Publish in a thread while sampling here; return the samples and how long the load ran."""
    started, seconds = time.monotonic(), options.minutes * 60
    # The end of the load gets its own sample below: no regular one just before it.
    last_regular = started + seconds - options.sample_every_s / 2
    next_at = started + options.sample_every_s
    task = asyncio.create_task(asyncio.to_thread(feed.run, seconds))
    try:
        samples = [await _sample(stack, feed, broker_pid, 0.0)]
        while not task.done():
            # Wake at least every second: a Ctrl-C (stop_requested) or a failed worker ends the load early.
            wait_s = next_at - time.monotonic() if next_at <= last_regular else 1.0
            await asyncio.wait({task}, timeout=min(1.0, max(0.0, wait_s)))
            if stack.stop_requested.is_set() or stack.failed:
                feed.stop.set()
            if next_at <= last_regular and next_at <= time.monotonic() and not task.done():
                samples.append(await _sample(stack, feed, broker_pid, time.monotonic() - started))
                say(_progress(samples[-1]))
                next_at += options.sample_every_s
    finally:
        feed.stop.set()
        await task  # the publisher's error, if any, ends the soak here
    duration_s = time.monotonic() - started
    samples.append(await _sample(stack, feed, broker_pid, duration_s))
    say(_progress(samples[-1]))
    return samples, duration_s


class _Feed:
    """Publishes live-like events at a steady rate through the real publisher path (runs in a thread)."""

    def __init__(self, stack: RunningStack, options: SoakOptions) -> None:
        directory = load_directory(stack.settings.agencies_file)
        accounts = [
            (str(a.platform), agency.id, a.account_id) for agency in directory.agencies for a in agency.accounts
        ]
        self._events: Iterator[dict[str, Any]] = SyntheticEvents(
            stack.settings.partitions, 500, options.seed
        ).live_events(accounts, lambda: datetime.now(UTC))
        self._publisher = kafka_publisher(
            stack.settings, stack.bootstrap_servers, directory, stack.metrics, "soak", epoch=stack.spool_epoch
        )
        self._rate = options.rate
        self.stop = threading.Event()
        self._taken = 0
        self.published = 0
        self.dead_lettered = 0

    def run(self, seconds: float) -> None:
        """Publish ``rate`` events/s for ``seconds`` (or until :attr:`stop`), flushing every step."""
        started, due_total = time.monotonic(), int(self._rate * seconds)
        try:
            while not self.stop.is_set() and (now := time.monotonic()) - started < seconds:
                due = min(int((now - started + _STEP_S) * self._rate), due_total)
                for _ in range(due - self._taken):
                    if not self._publisher.publish(next(self._events)):
                        self.dead_lettered += 1
                self._taken = max(due, self._taken)
                self._publisher.flush()  # acknowledged (and spooled) before it counts as published
                self.published = self._publisher.published
                time.sleep(max(0.0, _STEP_S - (time.monotonic() - now)))  # pacing the load, by design
        finally:
            self._publisher.close()
            self.published = self._publisher.published


async def _sample(stack: RunningStack, feed: _Feed, broker_pid: int | None, elapsed_s: float) -> SoakSample:
    state = await stack.drain_state()
    spool = None if stack.spool is None else await asyncio.to_thread(stack.spool.pending_bytes)
    return SoakSample(
        elapsed_s=round(elapsed_s, 1),
        published=feed.published,
        stored=stack.processor.rows_total,
        lag=sum(state.lag.values()),
        worker_rss_mb=memory_mb("self") or 0.0,
        broker_rss_mb=memory_mb(broker_pid),
        spool_bytes=spool,
        conversations=len(stack.processor.matcher),
    )


def _progress(sample: SoakSample) -> str:
    broker = "-" if sample.broker_rss_mb is None else f"{sample.broker_rss_mb:,.0f} MB"
    spool = "-" if sample.spool_bytes is None else f"{sample.spool_bytes / _MB:,.1f} MB"
    return (
        f"[{sample.elapsed_s:6.0f}s] published {sample.published:,} stored {sample.stored:,} lag {sample.lag:,} | "
        f"RSS worker {sample.worker_rss_mb:,.0f} MB broker {broker} | spool {spool} | "
        f"{sample.conversations:,} conversations in memory"
    )
