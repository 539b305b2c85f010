"""``serambi demo`` and ``serambi run``: the embedded stack with live progress, optionally simulated.

The demo replays a week of simulated history (every working day of every agency's calendar, whatever day
it is run on) fast, then runs live: :func:`plan_demo` decides the span from an injected ``now``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.simulator.source import Simulation, SimulatorConnector
from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from schemas.agency import Directory, load_directory
from schemas.timeutil import require_aware

__all__ = ["HISTORY", "DemoOptions", "DemoPlan", "plan_demo", "run_stack"]

_DRAIN_TIMEOUT_S = 120.0
# A full week: every agency's working days (Mon-Fri, Sun-Thu) are in it, so replies show on any day.
HISTORY = timedelta(days=7)
# The flood incident: 14:00 in Kuala Lumpur, the latest one at least two hours old (its hour of questions is
# history); the same all day, so a demo run again that day replays the same incident, not a second one.
_INCIDENT_UTC_HOUR = 6
_INCIDENT_MIN_AGE = timedelta(hours=2)

Report = Callable[[QueryEngine, str], None]


@dataclass(frozen=True)
class DemoOptions:
    """What ``serambi demo`` was asked for; ``simulate=False`` is ``serambi run``.

    Args:
        duration_s: stop after this many wall seconds (``None``: until Ctrl-C or SIGTERM).
        speed: simulated seconds per wall second while the history replays; live afterwards.
        seed: the simulator's seed.
        start: simulated history starts here (default: :data:`HISTORY` before now).
        simulate: ``False`` for ``serambi run``.
        progress_every_s: wall seconds between progress lines.
    """

    duration_s: float | None
    speed: float
    seed: int
    start: datetime | None = None
    simulate: bool = True
    progress_every_s: float = 2.0


@dataclass(frozen=True)
class DemoPlan:
    """The simulated span: history from ``start`` replayed at ``speed`` until it reaches ``now``, then live."""

    start: datetime
    now: datetime
    incident_at: datetime
    speed: float

    @property
    def replay_seconds(self) -> float:
        """Wall seconds the history takes to replay."""
        return (self.now - self.start).total_seconds() / self.speed


def plan_demo(now: datetime, speed: float, start: datetime | None = None) -> DemoPlan:
    """The demo's span ending ``now``: from ``start`` (default a week earlier), with the flood incident.

    ``ValueError`` when ``start`` is not before ``now`` (the simulator never emits a future event).
    """
    now = require_aware(now, "now")
    start = now - HISTORY if start is None else require_aware(start, "--start")
    if start >= now:
        msg = f"--start {start:%Y-%m-%d %H:%M} UTC is not in the past: the demo replays history up to now"
        raise ValueError(msg)
    return DemoPlan(start=start, now=now, incident_at=_incident(start, now), speed=speed)


def _incident(start: datetime, now: datetime) -> datetime:
    latest = now - _INCIDENT_MIN_AGE
    at = latest.replace(hour=_INCIDENT_UTC_HOUR, minute=0, second=0, microsecond=0)
    if at > latest:
        at -= timedelta(days=1)
    if at > start:
        return at
    # A short history: the incident at 60 % of it, on a whole minute.
    return (start + (now - start) * 0.6).replace(second=0, microsecond=0)


async def run_stack(
    settings: Settings, options: DemoOptions, say: Callable[[str], None], report: Report | None = None
) -> int:
    """Run the stack until the duration passes or Ctrl-C; drain; ``report`` the stored data; return the exit code."""
    directory = load_directory(settings.agencies_file)
    plan = plan_demo(datetime.now(UTC), options.speed, options.start) if options.simulate else None
    metrics = Metrics()
    stop = threading.Event()
    started: list[tuple[asyncio.Task[None], SimulatorConnector]] = []

    def prepare(stack: RunningStack) -> None:
        # The worker takes seconds to join its consumer group: the simulator publishes meanwhile (the
        # spool and the broker hold it), and the user hears why nothing is stored yet.
        if plan is not None:
            started.append(_start_simulator(stack, directory, options.seed, plan, stop, say))
        say("starting the worker: joining the Kafka consumer group takes a few seconds...")

    try:
        async with open_stack(settings, metrics, say, prepare) as stack:
            producer = started[0] if started else None
            await _progress(stack, options, producer, say)
            stop.set()
            if producer is not None:
                await producer[0]
                _say_simulated(producer[1], plan, say)
            if stack.failed:
                say("the worker failed while storing a batch (see the log above); stopped without draining")
                return 2
            say("draining: waiting until ClickHouse holds every event...")
            state = await stack.wait_drained(_DRAIN_TIMEOUT_S)
            say(f"drained: {state.drained} (lag {state.lag}); rows stored: {stack.processor.rows_total}")
            if report is not None:
                await asyncio.to_thread(report, stack.store, stack.store.database)
            return 0 if state.drained else 1
    finally:
        stop.set()  # a start-up that failed after the simulator started must not leave it publishing
        for task, _ in started:
            with contextlib.suppress(Exception):
                await task


def _start_simulator(  # noqa: PLR0913 - the simulator's whole context
    stack: RunningStack,
    directory: Directory,
    seed: int,
    plan: DemoPlan,
    stop: threading.Event,
    say: Callable[[str], None],
) -> tuple[asyncio.Task[None], SimulatorConnector]:
    publisher = kafka_publisher(
        stack.settings, stack.bootstrap_servers, directory, stack.metrics, "simulator", epoch=stack.spool_epoch
    )
    simulation = Simulation(directory, seed=seed, start=plan.start, incident_at=plan.incident_at)
    connector = SimulatorConnector(publisher, simulation, start=plan.start, speed=plan.speed)
    say(
        f"simulator: {len(directory.agencies)} agencies, seed {seed}, history from {plan.start:%a %Y-%m-%d %H:%M} "
        f"UTC replayed at {plan.speed:g}x (~{plan.replay_seconds:,.0f} s), then live; "
        f"flood incident at {plan.incident_at:%a %H:%M} UTC"
    )

    def produce() -> None:
        try:
            connector.run(stop)
        finally:
            publisher.close()

    return asyncio.create_task(asyncio.to_thread(produce)), connector


def _say_simulated(connector: SimulatorConnector, plan: DemoPlan | None, say: Callable[[str], None]) -> None:
    until = connector.emitted_until
    if until is None or plan is None:
        return
    caught_up = "" if until >= plan.now else " (history not fully replayed: raise --speed or --duration)"
    say(
        f"simulated {connector.events_emitted:,} events from {plan.start.isoformat()} to {until.isoformat()}, "
        f"flood incident at {plan.incident_at.isoformat()}{caught_up}"
    )


async def _progress(
    stack: RunningStack,
    options: DemoOptions,
    producer: tuple[asyncio.Task[None], SimulatorConnector] | None,
    say: Callable[[str], None],
) -> None:
    started = last_time = time.monotonic()
    last_rows = 0
    deadline = started + options.duration_s if options.duration_s else None
    while not stack.stop_requested.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            break
        if producer is not None and producer[0].done():
            break
        timeout = (
            options.progress_every_s if deadline is None else min(options.progress_every_s, deadline - time.monotonic())
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stack.stop_requested.wait(), max(timeout, 0.0))
        now, rows = time.monotonic(), stack.processor.rows_total
        state = await stack.drain_state()
        rate = (rows - last_rows) / max(now - last_time, 1e-9)
        simulated = _simulated_time(producer[1]) if producer is not None else ""
        say(
            f"[{now - started:6.0f}s] {simulated}stored {rows:,} events ({rate:,.0f}/s) "
            f"{_per_table(stack)} | lag {sum(state.lag.values())} records"
        )
        last_time, last_rows = now, rows


def _simulated_time(connector: SimulatorConnector) -> str:
    until = connector.emitted_until
    return "" if until is None else f"simulated to {until:%a %d %b %H:%M} UTC | "


def _per_table(stack: RunningStack) -> str:
    counts = {}
    for metric in stack.metrics.rows_stored.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["table"]] = int(sample.value)
    return " ".join(f"{table}={count:,}" for table, count in sorted(counts.items()))
