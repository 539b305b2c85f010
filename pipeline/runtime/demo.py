"""``serambi demo`` and ``serambi run``: the embedded stack with live progress, optionally simulated."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.simulator.source import Simulation, SimulatorConnector, default_window
from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from schemas.agency import Directory, load_directory

__all__ = ["DemoOptions", "run_stack"]

_DRAIN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DemoOptions:
    """What ``serambi demo`` was asked for; ``simulate=False`` is ``serambi run``."""

    duration_s: float | None
    speed: float
    seed: int
    simulate: bool = True
    progress_every_s: float = 2.0


async def run_stack(settings: Settings, options: DemoOptions, say: Callable[[str], None]) -> int:
    """Run the stack until the duration passes or Ctrl-C; drain; print totals. Returns the exit code."""
    directory = load_directory(settings.agencies_file)
    metrics = Metrics()
    async with open_stack(settings, metrics, say) as stack:
        stop = threading.Event()
        producer = _start_simulator(stack, directory, options, stop, say) if options.simulate else None
        await _progress(stack, options, producer, say)
        stop.set()
        if producer is not None:
            await producer
        if stack.failed:
            say("the worker failed while storing a batch (see the log above); stopped without draining")
            return 2
        say("draining: waiting until ClickHouse holds every event...")
        state = await stack.wait_drained(_DRAIN_TIMEOUT_S)
        say(f"drained: {state.drained} (lag {state.lag}); rows stored: {stack.processor.rows_total}")
        return 0 if state.drained else 1


def _start_simulator(
    stack: RunningStack,
    directory: Directory,
    options: DemoOptions,
    stop: threading.Event,
    say: Callable[[str], None],
) -> asyncio.Task[None]:
    publisher = kafka_publisher(
        stack.settings, stack.bootstrap_servers, directory, stack.metrics, "simulator", epoch=stack.spool_epoch
    )
    start, incident = default_window(options.duration_s, options.speed, datetime.now(UTC))
    simulation = Simulation(directory, seed=options.seed, start=start, incident_at=incident)
    connector = SimulatorConnector(publisher, simulation, start=start, speed=options.speed)
    say(
        f"simulator: {len(directory.agencies)} agencies from {start:%Y-%m-%d %H:%M} UTC at {options.speed:g}x, "
        f"flood incident at {incident:%H:%M} UTC"
    )

    def produce() -> None:
        try:
            connector.run(stop, options.duration_s)
        finally:
            publisher.close()

    return asyncio.create_task(asyncio.to_thread(produce))


async def _progress(
    stack: RunningStack, options: DemoOptions, producer: asyncio.Task[None] | None, say: Callable[[str], None]
) -> None:
    started = last_time = time.monotonic()
    last_rows = 0
    deadline = started + options.duration_s if options.duration_s else None
    while not stack.stop_requested.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            break
        if producer is not None and producer.done():
            break
        with_timeout = asyncio.wait_for(stack.stop_requested.wait(), options.progress_every_s)
        with contextlib.suppress(TimeoutError):
            await with_timeout
        now, rows = time.monotonic(), stack.processor.rows_total
        state = await stack.drain_state()
        rate = (rows - last_rows) / max(now - last_time, 1e-9)
        say(
            f"[{now - started:6.0f}s] stored {rows:,} events ({rate:,.0f}/s) "
            f"{_per_table(stack)} | lag {sum(state.lag.values())} records"
        )
        last_time, last_rows = now, rows


def _per_table(stack: RunningStack) -> str:
    counts = {}
    for metric in stack.metrics.rows_stored.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["table"]] = int(sample.value)
    return " ".join(f"{table}={count:,}" for table, count in sorted(counts.items()))
