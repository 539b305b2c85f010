"""``serambi import FORMAT FILE``: files through Kafka and the worker like live data, until drained.

The file is read and checked before anything starts (a file that is not of its format is refused with one
line). Ctrl-C or SIGTERM stops publishing at once (:mod:`pipeline.runtime.interrupt`): what was published
is flushed and drained, and the result says so; event ids make a re-run store nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.core.contracts import EventSink, FileSource, Progress
from connectors.core.pacing import ReplayPacer, StoppableSink, Stopped, check_speed
from connectors.files.registry import file_source
from pipeline.errors import PipelineError
from pipeline.metrics import Metrics
from pipeline.runtime.client import StackClient, running_stack
from pipeline.runtime.interrupt import Interrupt, on_loop, stop_on_signals
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.spool import broker_epoch
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from schemas.agency import Agency, Directory, load_directory
from schemas.events import Event

__all__ = ["ImportResult", "run_import"]

_DRAIN_TIMEOUT_S = 600.0
_INTERRUPTED_DRAIN_TIMEOUT_S = 60.0  # what was published before a Ctrl-C: seconds of work, not minutes
_PACED_PROGRESS_EVERY_S = 10.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import published and dead-lettered, whether it was interrupted, and whether ClickHouse holds it.

    Args:
        events: events published.
        dead_lettered: inputs sent to the dead-letter topic.
        reasons: dead letters per error type (``not_json``, ``schema``, ``invalid_row``, ...).
        interrupt: the stop request, if a signal stopped the import.
        stored: ClickHouse holds every published event and dead letter.
        pending: what happens to the rest when not ``stored``.
    """

    events: int
    dead_lettered: int
    reasons: dict[str, int] = field(default_factory=dict)
    interrupt: Interrupt | None = None
    stored: bool = True
    pending: str = ""

    @property
    def exit_code(self) -> int:
        """0 done; 130/143 interrupted by SIGINT/SIGTERM; 1 when the file held no valid event at all."""
        if self.interrupt is not None and self.interrupt.requested:
            return self.interrupt.exit_code
        return 0 if self.events else 1

    def counts(self) -> str:
        """``imported N, dead-lettered M (reasons: type=count, ...)``."""
        reasons = ", ".join(f"{reason}={count:,}" for reason, count in sorted(self.reasons.items()))
        return f"imported {self.events:,}, dead-lettered {self.dead_lettered:,}" + (
            f" (reasons: {reasons})" if reasons else ""
        )

    def summary(self, path: Path, fmt: str) -> str:
        """The closing line(s) for the user: the counts, then what state the import left."""
        where = "ClickHouse holds all of them"
        if not self.stored:
            where = f"ClickHouse does not hold all of them yet: {self.pending}"
        if self.interrupt is not None and self.interrupt.requested:
            return (
                f"interrupted by {self.interrupt.name}: {self.counts()} from {path} so far; {where}. "
                f"Run the import again to finish: re-running stores nothing twice"
            )
        line = f"{self.counts()} from {path}; {where}; running the import again stores nothing twice"
        if self.dead_lettered:
            line += "\n`serambi deadletters` shows each rejected input with its reason"
        if not self.events:
            line += (
                f"\nno valid event in {path}: is it really a {fmt} file? "
                "`serambi import --help` lists the formats; `serambi deadletters --limit 5` shows why lines failed"
            )
        return line


_SPOOLED = "the data dir's spool keeps them and the next stack start (any import, demo or run) stores them"
_RUNNING = "the running stack goes on storing them"


def run_import(settings: Settings, fmt: str, path: Path, speed: float | None, say: Say) -> ImportResult:
    """Import ``path`` as format ``fmt`` (a key of ``FILE_SOURCES``); say what was published and stored.

    ``speed`` (none: as fast as possible) replays the original spacing divided by it (> 0). The file is
    read and checked first; then ClickHouse is waited for, through the running stack if one is up, else an
    embedded one. SIGINT/SIGTERM stop publishing at once; the result then says so (``interrupt``).
    """
    source = file_source(fmt, path)
    if speed is not None:
        check_speed(speed)
    directory = load_directory(settings.agencies_file)
    full = source.prepare(directory)  # reads and checks the file: a wrong one is refused before anything starts
    say(source.summary)
    interrupt = Interrupt()
    running = running_stack(settings)
    if running is not None:
        state, client = running
        say(f"using the running stack (pid {state.pid})")
        client.check_key(settings.pseudonym_key)
        epoch = broker_epoch(state.bootstrap_servers, state.broker_pid)
        plan = _Plan(settings, (state.bootstrap_servers, epoch), directory, full, source, speed)
        with stop_on_signals(interrupt):
            published = _publish(plan, interrupt, say, client.register)
            stored = _wait_remote(client, interrupt, say)
        return _result(published, interrupt, stored=stored, pending=_RUNNING)
    say(f"no running stack on {settings.data_dir}: starting one for this import (it stops when drained)")
    return asyncio.run(_embedded(settings, directory, full, source, speed, say, interrupt))


@dataclass(frozen=True)
class _Plan:
    """Everything :func:`_publish` needs besides the stop and the output."""

    settings: Settings
    broker: tuple[str, str | None]  # bootstrap servers and the spool epoch (see ``kafka_publisher``)
    directory: Directory
    full: Directory  # the directory plus the agencies the file brings
    source: FileSource
    speed: float | None


@dataclass(frozen=True)
class _Published:
    events: int
    dead_lettered: int
    reasons: dict[str, int]


async def _embedded(  # noqa: PLR0913 - the whole import, positional like run_import
    settings: Settings,
    directory: Directory,
    full: Directory,
    source: FileSource,
    speed: float | None,
    say: Say,
    interrupt: Interrupt,
) -> ImportResult:
    async with open_stack(settings, Metrics(), say) as stack:
        if stack.stop_requested.is_set():  # a signal while the stack started
            interrupt.request()
        on_loop(interrupt, stack.stop_requested)
        plan = _Plan(settings, (stack.bootstrap_servers, stack.spool_epoch), directory, full, source, speed)
        register = functools.partial(stack.agencies.register, source="import")
        async with _stopping_on_failure(stack, interrupt):
            published = await asyncio.to_thread(_publish, plan, interrupt, say, register)
        return _result(published, interrupt, stored=await _drained(stack, interrupt, say), pending=_SPOOLED)


@contextlib.asynccontextmanager
async def _stopping_on_failure(stack: RunningStack, interrupt: Interrupt) -> AsyncIterator[None]:
    """Stop publishing when the stack stops for its own reason (a worker failure)."""

    async def watch() -> None:
        await stack.stop_requested.wait()
        interrupt.stop.set()

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()


async def _drained(stack: RunningStack, interrupt: Interrupt, say: Say) -> bool:
    """Wait until ClickHouse holds what was published: bounded after a stop, else interruptible."""
    if interrupt.requested:
        say(f"{interrupt.name}: stopped publishing; waiting until ClickHouse holds what was published...")
        state = await stack.wait_drained(_INTERRUPTED_DRAIN_TIMEOUT_S)
    else:
        say("waiting until ClickHouse holds every event...")
        state = await stack.wait_drained(_DRAIN_TIMEOUT_S, interruptible=True)
    if stack.failed:
        msg = "the worker failed while storing the import; see the log, then run the import again (it is idempotent)"
        raise PipelineError(msg)
    if not state.drained and not interrupt.requested:
        msg = f"pipeline did not drain within {_DRAIN_TIMEOUT_S:.0f} s (lag {state.lag})"
        raise PipelineError(msg)
    if state.drained:
        say(f"drained: {stack.processor.rows_total:,} rows stored, {stack.processor.facts_total:,} response facts")
    return state.drained


def _publish(
    plan: _Plan,
    interrupt: Interrupt,
    say: Say,
    register: Callable[[list[Agency]], None],
) -> _Published:
    """Publish the file until its end or a stop; what was handed over is flushed either way."""
    added = _added(plan.directory, plan.full)
    if added:  # the worker must know them before their events arrive
        register(added)
    bootstrap, epoch = plan.broker
    metrics = Metrics()
    with kafka_publisher(plan.settings, bootstrap, plan.full, metrics, plan.source.format, epoch=epoch) as publisher:
        paced: EventSink = ReplayPacer(publisher, plan.speed, stop=interrupt.stop) if plan.speed else publisher
        sink = _Reporting(StoppableSink(paced, interrupt.stop), say, paced=plan.speed is not None)
        with contextlib.suppress(Stopped):  # the publisher's close below flushes what was handed over
            plan.source.publish(sink, progress=_progress(say))
    return _Published(publisher.published, publisher.dead_lettered, _reasons(metrics))


class _Reporting:
    """Passes events on; says when the first one went and, for a paced replay, how far it got now and then."""

    def __init__(self, inner: EventSink, say: Say, *, paced: bool) -> None:
        self._inner = inner
        self._say = say
        self._paced = paced
        self._count = 0
        self._last = time.monotonic()

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        accepted = self._inner.publish(event)
        self._count += accepted
        if self._count == 1 and accepted:
            self._say("  published the first event (Ctrl-C stops; what was published is kept)")
        elif self._paced and time.monotonic() - self._last >= _PACED_PROGRESS_EVERY_S:
            self._say(f"  published {self._count:,} events so far (paced replay)")
        else:
            return accepted
        self._last = time.monotonic()
        return accepted

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        self._inner.dead_letter(reason, raw, error_type=error_type)

    def flush(self) -> None:
        self._inner.flush()


def _reasons(metrics: Metrics) -> dict[str, int]:
    """Dead letters this import's publisher sent, per error type (from its own metrics registry)."""
    counts: dict[str, int] = {}
    for sample in (s for family in metrics.registry.collect() for s in family.samples):
        if sample.name == "serambi_dead_letters_total" and sample.labels.get("stage") == "connector":
            counts[sample.labels["error_type"]] = counts.get(sample.labels["error_type"], 0) + int(sample.value)
    return {reason: count for reason, count in counts.items() if count}


def _result(published: _Published, interrupt: Interrupt, *, stored: bool, pending: str) -> ImportResult:
    stop = interrupt if interrupt.requested else None
    return ImportResult(published.events, published.dead_lettered, published.reasons, stop, stored, pending)


def _added(before: Directory, after: Directory) -> list[Agency]:
    """Agencies of ``after`` that ``before`` lacks or holds differently (e.g. with fewer accounts)."""
    known = {agency.id: agency for agency in before.agencies}
    return [agency for agency in after.agencies if known.get(agency.id) != agency]


def _progress(say: Say) -> Progress:
    started = time.monotonic()

    def progress(count: int) -> None:
        say(f"  published {count:,} events ({count / max(time.monotonic() - started, 1e-9):,.0f}/s)")

    return progress


def _wait_remote(client: StackClient, interrupt: Interrupt, say: Say) -> bool:
    """Wait until the running stack stored what was published; after a stop, for a bounded time."""
    stopped_before = interrupt.requested
    timeout_s = _INTERRUPTED_DRAIN_TIMEOUT_S if stopped_before else _DRAIN_TIMEOUT_S
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.drained()["drained"]:
            say("drained: ClickHouse holds every event")
            return True
        if stopped_before:
            time.sleep(0.25)  # polling the running stack's drain state
        elif interrupt.stop.wait(0.25):  # polling too; a stop ends the wait: the running stack goes on storing
            return False
    if stopped_before:
        return False
    msg = f"pipeline did not drain within {timeout_s:.0f} s"
    raise PipelineError(msg)
