"""``serambi web``: the board over ClickHouse, decided once: a server, the running stack, or stored chDB data."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pipeline.runtime.engine import open_read_engine
from pipeline.settings import Settings
from pipeline.storage.migrations import require_current_schema
from pipeline.storage.store import Store
from pipeline.web.board_server import serve_board

__all__ = ["serving_board"]


@contextlib.contextmanager
def serving_board(settings: Settings) -> Iterator[str]:
    """Serve the board while the block runs; yields the line that says where and over what.

    With a ClickHouse server the board reads it directly, and the schema must be current (the board's user
    is read-only: it never migrates). With chDB it reads through the stack running on the data dir, else the
    stored data (chDB is one process per data dir).
    """
    if settings.uses_chdb:
        with open_read_engine(settings) as engine:
            server = serve_board(settings, engine.queries, engine.database)
            try:
                yield f"{server.describe()} (over the {engine.source})"
            finally:
                server.stop()
        return
    store = Store(settings)
    try:
        require_current_schema(store)
        server = serve_board(settings, store, store.database)
        try:
            yield f"{server.describe()} (over ClickHouse database {settings.clickhouse_database})"
        finally:
            server.stop()
    finally:
        store.close()
