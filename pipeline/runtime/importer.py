"""``serambi import FORMAT FILE``: files through Kafka and the worker like live data, until drained."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from connectors.core.contracts import EventSink, FileSource, Progress
from connectors.core.pacing import ReplayPacer, check_speed
from connectors.files.registry import file_source
from pipeline.errors import PipelineError
from pipeline.metrics import Metrics
from pipeline.runtime.client import StackClient, running_stack
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.spool import broker_epoch
from pipeline.runtime.stack import open_stack
from pipeline.settings import Settings
from schemas.agency import Agency, Directory, load_directory

__all__ = ["ImportResult", "run_import"]

_DRAIN_TIMEOUT_S = 600.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import published; it returns only once ClickHouse holds all of it (or its dead letters)."""

    events: int
    rejected: int

    def summary(self, path: Path) -> str:
        """The closing line for the user."""
        rejected = f"; {self.rejected:,} rejected input(s) dead-lettered with the reason" if self.rejected else ""
        return (
            f"imported {self.events:,} events from {path}{rejected}. ClickHouse holds every one of them; "
            "running the import again stores nothing twice"
        )


def run_import(settings: Settings, fmt: str, path: Path, speed: float | None, say: Say) -> ImportResult:
    """Import ``path`` as format ``fmt`` (a key of ``FILE_SOURCES``); say what was published and stored.

    ``speed`` (none or 0: as fast as possible) replays the original spacing divided by it. Waits until
    ClickHouse holds the events, through the running stack if one is up, else an embedded one.
    """
    source = file_source(fmt, path)
    if speed:
        check_speed(speed)
    directory = load_directory(settings.agencies_file)
    running = running_stack(settings)
    if running is not None:
        state, client = running
        say(f"using the running stack (pid {state.pid})")
        client.check_key(settings.pseudonym_key)
        epoch = broker_epoch(state.bootstrap_servers, state.broker_pid)
        result = _publish(settings, (state.bootstrap_servers, epoch), directory, source, speed, say, client.register)
        _wait_remote(client, say)
        return result
    say(f"no running stack on {settings.data_dir}: starting one for this import (it stops when drained)")
    return asyncio.run(_embedded(settings, directory, source, speed, say))


async def _embedded(
    settings: Settings,
    directory: Directory,
    source: FileSource,
    speed: float | None,
    say: Say,
) -> ImportResult:
    async with open_stack(settings, Metrics(), say) as stack:
        result = await asyncio.to_thread(
            _publish,
            settings,
            (stack.bootstrap_servers, stack.spool_epoch),
            directory,
            source,
            speed,
            say,
            functools.partial(stack.agencies.register, source="import"),
        )
        say("waiting until ClickHouse holds every event...")
        state = await stack.wait_drained(_DRAIN_TIMEOUT_S, interruptible=True)
        if stack.stop_requested.is_set() and not state.drained:
            msg = f"interrupted before the pipeline drained (lag {state.lag}); run the import again: it is idempotent"
            raise PipelineError(msg)
        if not state.drained:
            msg = f"pipeline did not drain within {_DRAIN_TIMEOUT_S:.0f} s (lag {state.lag})"
            raise PipelineError(msg)
        say(f"drained: {stack.processor.rows_total:,} rows stored, {stack.processor.facts_total:,} response facts")
        return result


def _publish(  # noqa: PLR0913 - the whole import, positional for to_thread
    settings: Settings,
    broker: tuple[str, str | None],
    directory: Directory,
    source: FileSource,
    speed: float | None,
    say: Say,
    register: Callable[[list[Agency]], None],
) -> ImportResult:
    """Publish the file; ``broker`` is the bootstrap servers and the spool epoch (see ``kafka_publisher``)."""
    full = source.prepare(directory)
    added = _added(directory, full)
    if added:  # the worker must know them before their events arrive
        register(added)
    say(source.summary)
    bootstrap, epoch = broker
    with kafka_publisher(settings, bootstrap, full, Metrics(), source.format, epoch=epoch) as publisher:
        sink: EventSink = ReplayPacer(publisher, speed) if speed else publisher
        events = source.publish(sink, progress=_progress(say))
    return ImportResult(events, publisher.dead_lettered)


def _added(before: Directory, after: Directory) -> list[Agency]:
    """Agencies of ``after`` that ``before`` lacks or holds differently (e.g. with fewer accounts)."""
    known = {agency.id: agency for agency in before.agencies}
    return [agency for agency in after.agencies if known.get(agency.id) != agency]


def _progress(say: Say) -> Progress:
    started = time.monotonic()

    def progress(count: int) -> None:
        say(f"  published {count:,} events ({count / max(time.monotonic() - started, 1e-9):,.0f}/s)")

    return progress


def _wait_remote(client: StackClient, say: Say) -> None:
    deadline = time.monotonic() + _DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        state = client.drained()
        if state["drained"]:
            say("drained: ClickHouse holds every event")
            return
        time.sleep(0.25)  # polling the running stack's drain state
    msg = f"pipeline did not drain within {_DRAIN_TIMEOUT_S:.0f} s"
    raise PipelineError(msg)
