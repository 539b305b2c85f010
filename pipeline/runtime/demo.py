"""``serambi demo`` and ``serambi run``: the embedded stack with live progress, optionally simulated.

The demo replays a week of simulated history (every working day of every agency's calendar, whatever day
it is run on) fast, then runs live: :func:`plan_demo` decides the span from an injected ``now``. It starts
Prometheus and Alertmanager when they are installed (:mod:`pipeline.runtime.monitoring`) and prints the surge
alerts the worker stores as they are raised, updated and resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.simulator.source import Simulation, SimulatorConnector
from pipeline.metrics import Metrics
from pipeline.runtime.alert_lines import AlertLines
from pipeline.runtime.ingest import IngressServer, start_ingress
from pipeline.runtime.monitoring import INSTALL_HINT, MonitoringError, MonitoringStack, find_binaries
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from pipeline.web.board_server import BoardServer, serve_board
from schemas.agency import Agency, Directory, load_directory
from schemas.timeutil import require_aware
from schemas.workcalendar import WorkingCalendar

__all__ = ["HISTORY", "INCIDENT_AGENCY", "DemoOptions", "DemoPlan", "plan_demo", "run_stack", "start_monitoring"]

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 120.0
# A full week: every agency's working days (Mon-Fri, Sun-Thu) are in it, so replies show on any day.
HISTORY = timedelta(days=7)
# The flood incident: 14:00 in Kuala Lumpur on the latest working day of the incident agency where it is at least
# eight hours old (its questions and the surge they raise are history, resolved included: two hours were not enough
# for the surge to resolve before the replay reached now) and the replayed week holds that hour on enough earlier
# working days for the surge detector's baseline; the same from 14:00 UTC on, so a demo run again that afternoon
# replays the same incident.
_INCIDENT_UTC_HOUR = 6
_INCIDENT_MIN_AGE = timedelta(hours=8)
INCIDENT_AGENCY = "metmy"
"""The agency of the flood incident (the simulator's default); a directory without it uses its first agency."""

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
    incident_agency: str = INCIDENT_AGENCY

    @property
    def replay_seconds(self) -> float:
        """Wall seconds the history takes to replay."""
        return (self.now - self.start).total_seconds() / self.speed


def plan_demo(
    now: datetime,
    speed: float,
    start: datetime | None = None,
    directory: Directory | None = None,
    min_samples: int = 3,
) -> DemoPlan:
    """The demo's span ending ``now``: from ``start`` (default a week earlier), with the flood incident.

    The incident is at 14:00 Kuala Lumpur time on the latest working day of :data:`INCIDENT_AGENCY` (of
    ``directory``, default the packaged sample) where it is at least 8 hours old and the history holds that hour
    on ``min_samples`` earlier working days (``SERAMBI_SURGE_MIN_SAMPLES``: the detector's baseline); else
    on the latest working day, else at 60 % of a short history.
    ``ValueError`` when ``start`` is not before ``now`` (the simulator never emits a future event).
    """
    now = require_aware(now, "now")
    start = now - HISTORY if start is None else require_aware(start, "--start")
    if start >= now:
        msg = f"--start {start:%Y-%m-%d %H:%M} UTC is not in the past: the demo replays history up to now"
        raise ValueError(msg)
    agency = _incident_agency(directory or load_directory())
    incident_at = _incident(start, now, WorkingCalendar.of(agency), min_samples)
    return DemoPlan(start=start, now=now, incident_at=incident_at, speed=speed, incident_agency=agency.id)


def _incident_agency(directory: Directory) -> Agency:
    ids = {agency.id for agency in directory.agencies}
    return directory.get(INCIDENT_AGENCY if INCIDENT_AGENCY in ids else directory.agencies[0].id)


def _incident(start: datetime, now: datetime, calendar: WorkingCalendar, min_samples: int) -> datetime:
    latest = now - _INCIDENT_MIN_AGE
    at = latest.replace(hour=_INCIDENT_UTC_HOUR, minute=0, second=0, microsecond=0)
    if at > latest:
        at -= timedelta(days=1)
    days = [at - timedelta(days=n) for n in range(HISTORY.days + 1) if at - timedelta(days=n) > start]
    working = [day for day in days if _working(calendar, day)]
    for day in working:
        if _earlier_working_days(calendar, day, start) >= min_samples:
            return day
    if working or days:  # no baseline possible (a short history, holidays): the latest working day, or day
        return (working or days)[0]
    # A history shorter than a day: the incident at 60 % of it, on a whole minute.
    return (start + (now - start) * 0.6).replace(second=0, microsecond=0)


def _working(calendar: WorkingCalendar, at: datetime) -> bool:
    return calendar.is_working_day(at.astimezone(calendar.zone).date())


def _earlier_working_days(calendar: WorkingCalendar, at: datetime, start: datetime) -> int:
    """Working days before ``at`` whose same hour (24 h apart, as the detector takes them) lies in the history."""
    earlier = (at - timedelta(days=n) for n in range(1, HISTORY.days + 1))
    return sum(1 for day in earlier if day >= start and _working(calendar, day))


async def run_stack(
    settings: Settings, options: DemoOptions, say: Callable[[str], None], report: Report | None = None
) -> int:
    """Run the stack until the duration passes or Ctrl-C; drain; ``report`` the stored data; return the exit code."""
    directory = load_directory(settings.agencies_file)
    plan = None
    if options.simulate:
        plan = plan_demo(datetime.now(UTC), options.speed, options.start, directory, settings.surge_min_samples)
    metrics = Metrics()
    stop = threading.Event()
    started: list[tuple[asyncio.Task[None], SimulatorConnector]] = []
    monitoring: list[MonitoringStack] = []
    boards: list[BoardServer | IngressServer] = []

    def prepare(stack: RunningStack) -> None:
        # The board first: `run` fails on a busy port before anything publishes; the demo takes a free one.
        boards.append(serve_board(settings, stack.store, stack.store.database, fallback=options.simulate))
        say(boards[0].describe())
        if settings.webhooks_configured:  # platforms push here; acknowledged once the broker (and spool) has it
            ingress = start_ingress(
                settings, stack.bootstrap_servers, directory, stack.metrics, epoch=stack.spool_epoch,
                fallback=options.simulate,
            )  # fmt: skip
            boards.append(ingress)
            say(ingress.describe())
        # The worker takes seconds to join its consumer group: the simulator publishes meanwhile (the
        # spool and the broker hold it), and the user hears why nothing is stored yet.
        if plan is not None:
            started.append(_start_simulator(stack, directory, options.seed, plan, stop, say))
            # Here, on the thread that runs the stack: Linux kills the children when the thread that started
            # them ends, and this one outlives them.
            monitoring.extend(start_monitoring(stack, say))
        say("starting the worker: joining the Kafka consumer group takes a few seconds...")

    try:
        async with open_stack(settings, metrics, say, prepare) as stack, _closing(boards):
            producer = started[0] if started else None
            alerts = AlertLines(stack.store, stack.store.database, say) if plan is not None else None
            await _progress(stack, options, producer, say, alerts)
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
            if alerts is not None:
                await asyncio.to_thread(alerts.poll)
                say(alerts.summary())
            if report is not None:
                await asyncio.to_thread(report, stack.store, stack.store.database)
            return 0 if state.drained else 1
    finally:
        stop.set()  # a start-up that failed after the simulator started must not leave it publishing
        for task, _ in started:
            with contextlib.suppress(Exception):
                await task
        for child in monitoring:
            await asyncio.to_thread(child.stop)
        await _close_boards(boards)  # a start-up that failed after the board started


@contextlib.asynccontextmanager
async def _closing(boards: list[BoardServer | IngressServer]) -> AsyncIterator[None]:
    """Stop the board before the stack closes its store (no request then meets a closed store)."""
    try:
        yield
    finally:
        await _close_boards(boards)


async def _close_boards(boards: list[BoardServer | IngressServer]) -> None:
    for board in boards:
        await asyncio.to_thread(board.stop)


def start_monitoring(stack: RunningStack, say: Callable[[str], None]) -> list[MonitoringStack]:
    """Prometheus and Alertmanager on the stack, under ``<data_dir>/monitoring``, when installed; else a hint."""
    binaries = find_binaries()
    if binaries is None:
        say(
            f"Prometheus and Alertmanager are not installed, so the demo runs without them; to get them: {INSTALL_HINT}"
        )
        return []
    directory = stack.settings.data_dir / "monitoring"
    monitoring = MonitoringStack(binaries, directory, stack.api.url, token=stack.settings.api_token)
    try:
        monitoring.start()
    except (MonitoringError, OSError) as exc:
        say(f"running without Prometheus and Alertmanager: {exc}")
        return []
    say(
        f"Prometheus on {monitoring.prometheus_url} (scrapes the worker, evaluates Serambi's alert rules; "
        f"alerts at {monitoring.prometheus_url}/alerts), Alertmanager on {monitoring.alertmanager_url} "
        f"(data and logs in {directory})"
    )
    return [monitoring]


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
    simulation = Simulation(
        directory, seed=seed, start=plan.start, incident_at=plan.incident_at, incident_agency_id=plan.incident_agency
    )
    connector = SimulatorConnector(publisher, simulation, start=plan.start, speed=plan.speed)
    say(
        f"simulator: {len(directory.agencies)} agencies, seed {seed}, history from {plan.start:%a %Y-%m-%d %H:%M} "
        f"UTC replayed at {plan.speed:g}x (~{plan.replay_seconds:,.0f} s), then live; "
        f"flood incident at {plan.incident_agency}, {plan.incident_at:%a %H:%M} UTC"
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
    alerts: AlertLines | None = None,
) -> None:
    started = last_time = time.monotonic()
    last_rows = 0
    if alerts is not None:
        await asyncio.to_thread(alerts.prime)
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
        if alerts is not None:
            await asyncio.to_thread(alerts.poll)
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
