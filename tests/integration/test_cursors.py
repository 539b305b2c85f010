"""Connectors' cursors: stored by the worker with the page's events; resumed from the newest whole page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.core.publisher import PageMark
from pipeline.runtime.publishing import kafka_publisher
from pipeline.storage.sql.cursors import cursor_status, stored_cursor
from pipeline.storage.store import Store
from schemas.agency import Directory
from schemas.tables import CURSOR_COLUMNS, SOURCE_CURSORS
from tests.helpers.events import EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import run_on_stack

FETCHED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _part(seq: int, part: int, parts: int, state: str) -> tuple[Any, ...]:
    return ("poll:test", "x:1", seq, part, parts, state, FETCHED)


def test_the_newest_whole_page_is_where_a_connector_resumes(store: Store) -> None:
    rows = [
        _part(1, 0, 1, '{"page": 1}'),
        _part(2, 0, 2, '{"page": 2}'),
        _part(2, 1, 2, '{"page": 2}'),
        _part(2, 1, 2, '{"page": 2}'),  # a part stored twice (a replayed record) is one part
        _part(3, 0, 3, '{"page": 3}'),  # page 3: one of its three records not stored yet
        _part(3, 2, 3, '{"page": 3}'),
    ]
    store.insert(SOURCE_CURSORS, CURSOR_COLUMNS, rows)
    assert stored_cursor(store, store.database, "poll:test", "x:1") == {"page": 2}
    assert stored_cursor(store, store.database, "poll:test", "x:2") is None
    [status] = cursor_status(store, store.database)
    assert (status.source, status.account, status.fetched_at, status.pages, status.incomplete) == (
        "poll:test", "x:1", FETCHED, 3, 1,
    )  # fmt: skip
    store.insert(SOURCE_CURSORS, CURSOR_COLUMNS, [_part(3, 1, 3, '{"page": 3}')])
    assert stored_cursor(store, store.database, "poll:test", "x:1") == {"page": 3}


def test_the_worker_stores_a_page_s_cursor_with_its_events(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    events = [event_factory("comment", root_id=f"c{n}", author_id="ps1:" + "e" * 32) for n in range(40)]
    settings = settings_factory(partitions=4)

    async def scenario(stack: Any) -> tuple[Any, int]:
        with kafka_publisher(
            settings, stack.bootstrap_servers, tiny_directory, stack.metrics, "poll:test", epoch=stack.spool_epoch
        ) as publisher:
            publisher.publish_page(events, PageMark("poll:test", "x:1", {"next": "p2"}, FETCHED))
            publisher.publish_page([], PageMark("poll:test", "x:1", {"next": "p3"}, FETCHED))
        state = await stack.wait_drained(timeout_s=90)
        assert state.drained
        stored = stack.store.query(
            f"SELECT uniqExact(event_id) FROM {stack.store.database}.interactions WHERE source = 'test'"
        ).rows[0][0]
        return stored_cursor(stack.store, stack.store.database, "poll:test", "x:1"), int(stored)

    cursor, stored = run_on_stack(settings, scenario)
    assert cursor == {"next": "p3"}
    assert stored == len(events)
