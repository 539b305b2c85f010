"""Shutdown keeps the at-least-once promise and always ends (issue 7, items 1 and 8).

Item 1: a stop (SIGTERM, SIGINT) while ClickHouse refuses inserts must not commit the offsets of the records
the worker holds; the next start stores them, once. Item 8: after a worker failure the stack stops by itself
and says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from pipeline.kafka.broker import EmbeddedBroker
from pipeline.runtime.stack import RunningStack
from pipeline.settings import Settings
from pipeline.stream.app import WORKER_GROUP
from pipeline.stream.offsets import Offsets
from schemas.agency import Directory
from schemas.topics import EVENTS
from tests.helpers.events import EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import publish, run_on_stack, run_until_stopped, with_store

CONVERSATIONS = 40  # per wave: a citizen question and the agency's reply in a conversation of its own


class _FailedInsert(logging.Handler):
    """Sets ``seen`` once the worker logs a failed ClickHouse call: it holds a batch it cannot store."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("ClickHouse "):
            self.seen.set()


@pytest.fixture
def failed_insert() -> Iterator[_FailedInsert]:
    handler = _FailedInsert()
    retry_log = logging.getLogger("pipeline.stream.retry")
    retry_log.addHandler(handler)
    yield handler
    retry_log.removeHandler(handler)


@pytest.fixture
def external_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of its own process that outlives the stacks: to them it is an external Kafka."""
    with EmbeddedBroker(log_path=tmp_path / "external-broker.log") as broker:
        yield broker


def _wave(event_factory: EventFactory, first: int) -> list[Any]:
    events = []
    for n in range(first, first + CONVERSATIONS):
        question = event_factory("comment", message_id=f"q{n}", root_id=f"c{n}", parent_id=f"c{n}")
        events.append(question)
        events.append(event_factory("reply", message_id=f"r{n}", root_id=f"c{n}", parent_id=f"q{n}"))
    return events


def _committed(bootstrap: str) -> Offsets:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-committed")
    try:
        offsets = admin.list_group_offsets(WORKER_GROUP).get(WORKER_GROUP, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items() if meta.offset >= 0}


def _rename(settings: Settings, source: str, target: str) -> None:
    def rename(store: Any) -> None:
        store.command(f"RENAME TABLE {store.database}.{source} TO {store.database}.{target}")

    with_store(settings, rename)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_outage_commits_only_stored_records_and_restart_stores_each_once(
    settings_factory: SettingsFactory,
    tiny_directory: Directory,
    event_factory: EventFactory,
    external_broker: EmbeddedBroker,
    failed_insert: _FailedInsert,
    signum: int,
) -> None:
    settings = settings_factory(kafka_bootstrap_servers=external_broker.bootstrap_servers)
    stored_wave, held_wave = _wave(event_factory, 0), _wave(event_factory, CONVERSATIONS)
    seen: dict[str, Offsets] = {}

    async def outage(stack: RunningStack) -> None:
        await asyncio.to_thread(publish, stack, tiny_directory, stored_wave)
        assert (await stack.wait_drained(timeout_s=60)).drained
        seen["stored"] = stack.handled.snapshot()
        # ClickHouse "goes away" for the worker: inserts into interactions fail until the table is back.
        stack.store.command(f"RENAME TABLE {stack.store.database}.interactions TO {stack.store.database}.away")
        await asyncio.to_thread(publish, stack, tiny_directory, held_wave)
        assert await asyncio.to_thread(failed_insert.seen.wait, 120), "the worker never tried to store the held wave"
        os.kill(os.getpid(), signum)  # through the stack's own handler, as from a terminal or a supervisor
        await stack.stop_requested.wait()

    run_until_stopped(settings, outage)

    committed = _committed(external_broker.bootstrap_servers)
    stored = seen["stored"]
    events = [key for key in committed if key[0] == EVENTS.name]
    assert events, "the stored wave's offsets were committed"
    for key in events:
        assert committed[key] <= stored.get(key, -1) + 1, (key, committed, stored)

    _rename(settings, "away", "interactions")
    run_on_stack(settings, _nothing)  # a new stack on the same Kafka and ClickHouse: it drains what was held

    def check(store: Any) -> None:
        db = store.database
        total, distinct = store.query(f"SELECT count(), uniqExact(event_id) FROM {db}.interactions FINAL").rows[0]
        assert (total, distinct) == (4 * CONVERSATIONS, 4 * CONVERSATIONS)
        facts = store.query(f"SELECT message_id, reply_id FROM {db}.response_facts FINAL ORDER BY message_id").rows
        assert sorted(facts) == sorted((f"q{n}", f"r{n}") for n in range(2 * CONVERSATIONS))

    with_store(settings, check)


async def _nothing(_stack: RunningStack) -> None:
    return None


def test_worker_failure_stops_the_stack_and_says_so(
    settings_factory: SettingsFactory,
    tiny_directory: Directory,
    event_factory: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_factory()
    said: list[str] = []

    def broken(_records: Any) -> Any:
        msg = "a bug in the processor"
        raise RuntimeError(msg)

    async def fail(stack: RunningStack) -> None:
        monkeypatch.setattr(stack.processor, "prepare", broken)
        await asyncio.to_thread(publish, stack, tiny_directory, [event_factory("comment")])
        await stack.stop_requested.wait()  # nobody asks: the worker's failure stops the stack

    stack = run_until_stopped(settings, fail, say=said.append)
    assert stack.failed
    assert any(line.startswith("stopped:") for line in said), said
