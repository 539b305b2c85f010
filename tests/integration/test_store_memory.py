"""chDB's freed memory goes back to the system after inserts (the worker's RSS, issue 14)."""

from __future__ import annotations

from pipeline.storage.rows import event_json
from pipeline.storage.store import Store
from schemas.tables import COLUMNS
from tests.helpers.events import EventFactory

_MIB = 1024 * 1024


def test_an_insert_gives_back_what_chdb_freed(store: Store, event_factory: EventFactory) -> None:
    # A query that builds and drops a few hundred MB leaves the pages with chDB's jemalloc, which keeps them for
    # seconds on its own.
    store.query("SELECT length(groupArray(toString(number))) FROM numbers(4000000)")
    freed = store.engine_memory()
    assert freed is not None
    assert freed.unused_bytes > 64 * _MIB
    store.purge_every_s = 0.0  # due at the next insert
    store.insert_encoded("interactions", COLUMNS["interactions"], event_json(event_factory("comment")))
    after = store.engine_memory()
    assert after is not None
    assert after.unused_bytes < freed.unused_bytes / 2
