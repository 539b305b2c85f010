"""Run a polling or streaming connector into a live embedded stack, and read back what Kafka and ClickHouse hold.

The connector talks to a :class:`tests.helpers.fake_platform.FakePlatform`; its pages go through the production
runner (:func:`connectors.core.runner.poll` / :func:`follow_stream`) and publisher, with their cursors, into the
real broker; the worker stores them in chDB.

Example::

    published = poll_into(live, directory, poller, account="youtube:UC...")
    live.drain()
    assert stored_event_ids(live, "poll:youtube") == {e.event_id for e in expected}
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import PollingSource, StreamSource
from connectors.core.metrics import ConnectorMetrics
from connectors.core.runner import follow_stream, poll
from connectors.core.testing import FakeClock
from pipeline.runtime.publishing import kafka_publisher
from pipeline.settings import load_settings
from pipeline.storage.sql.cursors import stored_cursor
from schemas.agency import Directory
from schemas.tables import RAW_TABLES, RESPONSE_FACTS
from schemas.topics import EVENTS
from tests.helpers.kafka import read_topic
from tests.helpers.live import LiveStack

__all__ = [
    "connect_stack",
    "kafka_event_ids",
    "one_fact",
    "one_row",
    "poll_into",
    "resume_state",
    "stored_event_ids",
    "stored_rows",
    "stream_into",
]


def connect_stack(
    tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, name: str, agencies: Path, key: SecretStr | None = None
) -> Iterator[LiveStack]:
    """A module's live stack for connector tests: its own data dir and database, ``agencies`` as the directory."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp(name),
        clickhouse_url=SecretStr(f"chdb://{chdb_dir}"),
        clickhouse_database=f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}",
        partitions=4,
        pseudonym_key=key or SecretStr(name),
        sink_batch_seconds=0.1,
        agencies_file=agencies,
        rollup_refresh_seconds=0,
        board_port=0,
    )
    stack = LiveStack(settings).start()
    yield stack
    stack.stop()


def one_row(live: LiveStack, table: str, event_id: str) -> dict[str, Any]:
    """The one stored row (FINAL) of ``event_id`` in ``table``."""
    store = live.stack.store
    [row] = store.query(
        f"SELECT * FROM {store.database}.{table} FINAL WHERE event_id = {{id:String}}", {"id": event_id}
    ).dicts()
    return row


def one_fact(live: LiveStack, message_id: str) -> dict[str, Any]:
    """The one response fact (FINAL) of ``message_id``."""
    store = live.stack.store
    [fact] = store.query(
        f"SELECT * FROM {store.database}.{RESPONSE_FACTS} FINAL WHERE message_id = {{id:String}}", {"id": message_id}
    ).dicts()
    return fact


def poll_into(
    live: LiveStack,
    directory: Directory,
    source: PollingSource[Any],
    *,
    account: str,
    clock: FakeClock | None = None,
) -> int:
    """Poll ``source`` until caught up, publishing into ``live``'s broker; return the events published.

    Waits go to a fake clock (``clock``; a fresh one by default): a 429 costs the test no time.
    """
    name = str(getattr(source, "source"))  # noqa: B009 - every connector class sets it
    with kafka_publisher(
        live.settings, live.stack.bootstrap_servers, directory, live.stack.metrics, name, epoch=live.stack.spool_epoch
    ) as publisher:
        return poll(
            source, publisher, threading.Event(), account=account, follow=False, clock=clock or FakeClock(),
            metrics=ConnectorMetrics(), backoff=Backoff(base_seconds=0.0, cap_seconds=0.0),
        )  # fmt: skip


def stream_into(
    live: LiveStack,
    directory: Directory,
    source: StreamSource[Any],
    *,
    account: str,
    until: Any,
    clock: FakeClock | None = None,
) -> int:
    """Read ``source`` into ``live``'s broker until ``until()`` is true (checked after each page); return events.

    Reconnects happen as in production (back-off on a fake clock: no waiting).
    """
    name = str(getattr(source, "source"))  # noqa: B009 - every connector class sets it
    stop = threading.Event()
    with kafka_publisher(
        live.settings, live.stack.bootstrap_servers, directory, live.stack.metrics, name, epoch=live.stack.spool_epoch
    ) as publisher:

        class Stopping:
            def publish_page(self, items: Any, mark: Any) -> int:
                published = publisher.publish_page(items, mark)
                if until():
                    stop.set()
                return published

        return asyncio.run(
            follow_stream(
                source, Stopping(), stop, account=account, clock=clock or FakeClock(), metrics=ConnectorMetrics(),
                backoff=Backoff(base_seconds=0.0, cap_seconds=0.0),
            )
        )  # fmt: skip


def stored_rows(live: LiveStack, source: str) -> dict[str, list[dict[str, Any]]]:
    """Every raw row ``source`` stored, per raw table (FINAL: one row per event id)."""
    store, db = live.stack.store, live.stack.store.database
    return {
        table: store.query(
            f"SELECT * FROM {db}.{table} FINAL WHERE source = {{source:String}} ORDER BY event_id", {"source": source}
        ).dicts()
        for table in RAW_TABLES
    }


def stored_event_ids(live: LiveStack, source: str) -> dict[str, int]:
    """Event id -> how many raw rows hold it (without FINAL: a duplicate shows as 2 until merged)."""
    store, db = live.stack.store, live.stack.store.database
    union = " UNION ALL ".join(f"SELECT event_id FROM {db}.{t} WHERE source = {{source:String}}" for t in RAW_TABLES)
    rows = store.query(f"SELECT event_id, count() FROM ({union}) GROUP BY event_id", {"source": source}).rows
    return {str(event_id): int(n) for event_id, n in rows}


def kafka_event_ids(live: LiveStack, source: str) -> set[str]:
    """The ids of every event of ``source`` on the events topic."""
    records = read_topic(live.stack.bootstrap_servers, EVENTS.name, live.settings.partitions)
    return {
        event["event_id"]
        for record in records
        for event in orjson.loads(record.value)["events"]
        if event.get("source") == source
    }


def resume_state(live: LiveStack, source: str, account: str) -> Any:
    """The cursor ``source`` would resume ``account`` from (its newest page stored whole)."""
    return stored_cursor(live.stack.store, live.stack.store.database, source, account)
