"""A running stack loaded with simulator data ending now, for the views catalog, the dashboards and the board.

The data goes the whole way (broker, worker, chDB), with redeliveries, so views are tested on what the
pipeline really stores: duplicated raw rows before merges, facts revised by late replies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from connectors.simulator.model import Simulation
from pipeline.settings import load_settings
from pipeline.storage.store import Store
from schemas.agency import Directory
from schemas.events import Event
from tests.helpers.live import LiveStack

__all__ = ["LoadedStack", "load_simulation"]


@dataclass
class LoadedStack:
    """The live stack, its store and what was published (``until`` is the simulated end, close to now)."""

    live: LiveStack
    events: Sequence[Event]
    since: datetime
    until: datetime

    @property
    def store(self) -> Store:
        """The stack's store (the only chDB session of this process)."""
        return self.live.stack.store

    @property
    def database(self) -> str:
        """The stack's ClickHouse database."""
        return self.store.database

    def stop(self) -> None:
        """Stop the stack."""
        self.live.stop()


def load_simulation(
    data_dir: Path, chdb_dir: Path, directory: Directory, *, days: float = 2.0, seed: int = 5
) -> LoadedStack:
    """Start a stack and feed it ``days`` of simulation ending about now (plus 10 % redelivered); drained."""
    settings = load_settings(
        data_dir=data_dir,
        clickhouse_url=SecretStr(f"chdb://{chdb_dir}"),
        clickhouse_database=f"views_{uuid.uuid4().hex[:8]}",
        partitions=2,
        pseudonym_key=SecretStr("catalog"),
        sink_batch_seconds=0.1,
        rollup_refresh_seconds=0,  # tests derive rollups themselves, when they choose
    )
    until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    since = until - timedelta(days=days)
    simulation = Simulation(directory, seed=seed, start=since, incident_at=until - timedelta(hours=3))
    events = simulation.advance(until)
    live = LiveStack(settings).start()
    try:
        live.publish(directory, [*events, *events[: len(events) // 10]])
        live.drain()
    except BaseException:
        live.stop()
        raise
    return LoadedStack(live, events, since, until)
