"""``serambi import FORMAT FILE``: files through Kafka and the worker like live data, until drained."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.core.publisher import Publisher
from connectors.files.jsonl import JsonlConnector
from connectors.files.twcs import TwcsConnector, directory_with
from pipeline.errors import PipelineError
from pipeline.metrics import Metrics
from pipeline.runtime.client import StackClient
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import open_stack
from pipeline.runtime.statefile import read_state
from pipeline.settings import Settings
from schemas.agency import Agency, Directory, load_directory

__all__ = ["FORMATS", "run_import"]

FORMATS = ("jsonl", "twcs")
_DRAIN_TIMEOUT_S = 600.0
Say = Callable[[str], None]


@dataclass
class _Pacer:
    """Wraps a publisher to replay events with their original spacing divided by ``speed``."""

    inner: Publisher
    speed: float
    _origin: tuple[float, datetime] | None = field(default=None)

    def publish(self, event: Any) -> bool:
        moment = event.created_at
        if self._origin is None:
            self._origin = (time.monotonic(), moment)
        due = self._origin[0] + (moment - self._origin[1]).total_seconds() / self.speed
        if due > time.monotonic():
            self.inner.flush()
            time.sleep(due - time.monotonic())  # pacing a replay, by design
        return self.inner.publish(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run_import(settings: Settings, fmt: str, path: Path, speed: float | None, say: Say) -> int:
    """Import a file; return the number of events published. Waits until ClickHouse holds them."""
    directory = load_directory(settings.agencies_file)
    state = read_state(settings.state_file)
    if state is not None:
        say(f"using the running stack (pid {state.pid})")
        client = StackClient(state.api_url)
        client.check_key(settings.pseudonym_key)
        count = _publish(settings, state.bootstrap_servers, directory, fmt, path, speed, say, client.register)
        _wait_remote(client, say)
        return count
    return asyncio.run(_embedded(settings, directory, fmt, path, speed, say))


async def _embedded(  # noqa: PLR0913 - the whole import
    settings: Settings,
    directory: Directory,
    fmt: str,
    path: Path,
    speed: float | None,
    say: Say,
) -> int:
    async with open_stack(settings, Metrics(), say) as stack:
        count = await asyncio.to_thread(
            _publish, settings, stack.bootstrap_servers, directory, fmt, path, speed, say, stack.agencies.register
        )
        say("waiting until ClickHouse holds every event...")
        state = await stack.wait_drained(_DRAIN_TIMEOUT_S, interruptible=True)
        if stack.stop_requested.is_set() and not state.drained:
            msg = f"interrupted before the pipeline drained (lag {state.lag}); run the import again: it is idempotent"
            raise PipelineError(msg)
        if not state.drained:
            msg = f"pipeline did not drain within {_DRAIN_TIMEOUT_S:.0f} s (lag {state.lag})"
            raise PipelineError(msg)
        say(f"drained: {stack.sink.rows_total:,} rows stored, {stack.processor.facts_total:,} response facts")
        return count


def _publish(  # noqa: PLR0913 - the whole import, positional for to_thread
    settings: Settings,
    bootstrap: str,
    directory: Directory,
    fmt: str,
    path: Path,
    speed: float | None,
    say: Say,
    register: Callable[[list[Agency]], None],
) -> int:
    started = time.monotonic()

    def progress(count: int) -> None:
        say(f"  published {count:,} events ({count / max(time.monotonic() - started, 1e-9):,.0f}/s)")

    if fmt == "twcs":
        connector = TwcsConnector(path)
        result = connector.read(directory=directory)
        full = directory_with(directory, result.agencies)
        register([a for a in full.agencies if a not in directory.agencies])
        say(
            f"{path}: {len(result.events):,} tweets to import, {len(result.agencies)} companies, "
            f"{result.skipped:,} skipped (no company), {len(result.invalid):,} invalid rows (dead-lettered)"
        )
        with kafka_publisher(settings, bootstrap, full, Metrics(), "twcs") as publisher:
            return connector.publish(_paced(publisher, speed), result, progress=progress)  # type: ignore[arg-type]
    with kafka_publisher(settings, bootstrap, directory, Metrics(), "jsonl") as publisher:
        return JsonlConnector(path).publish(_paced(publisher, speed), progress=progress)  # type: ignore[arg-type]


def _paced(publisher: Publisher, speed: float | None) -> Publisher | _Pacer:
    return _Pacer(publisher, speed) if speed else publisher


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
