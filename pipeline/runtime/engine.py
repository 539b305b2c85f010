"""Where read commands get their data: the running stack of this data dir, else the local store.

Decided once, here: ``serambi report`` and ``serambi status`` (and later the board) ask the stack's API
when a stack owns the data dir (chDB allows one process per data dir), and open ClickHouse themselves
otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from pipeline.runtime.client import running_stack
from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from pipeline.storage.store import Store

__all__ = ["ReadEngine", "open_read_engine"]


@dataclass(frozen=True)
class ReadEngine:
    """A query engine and where its data comes from (shown to the user)."""

    queries: QueryEngine
    source: str
    database: str


@contextlib.contextmanager
def open_read_engine(settings: Settings) -> Iterator[ReadEngine]:
    """The running stack's API if one runs on this data dir, else the local store (migrated, closed on exit)."""
    running = running_stack(settings)
    if running is not None:
        state, client = running
        yield ReadEngine(client, f"running stack pid {state.pid}", settings.clickhouse_database)
        return
    store = Store(settings)
    try:
        store.migrate()
        yield ReadEngine(store, f"stored data in {settings.data_dir} (no stack running)", settings.clickhouse_database)
    finally:
        store.close()
