"""The embedded broker's memory stays bounded: its topics are recreated once what they hold is safe (item 7).

Tansu keeps every record in memory and implements neither DeleteRecords nor retention. Above
``SERAMBI_BROKER_MEMORY_MB`` the stack stops its worker, recreates the topics and re-publishes from the spool
what was not stored yet. Here a rotation is requested after each chunk of a simulator day, while the chunk
may not be stored yet: the facts must still equal the batch oracle's, with every event stored once.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from connectors.simulator.source import Simulation
from pipeline.settings import load_settings
from schemas.agency import Directory
from schemas.tables import INTERACTIONS, RESPONSE_FACTS
from tests.helpers.live import LiveStack

START = datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
CHUNKS = 6


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling the stack's state


def _rotation_begun(live: LiveStack, after: int) -> bool:
    return live.stack.rotating or live.stack.generation > after


def _wait_for_rotation(live: LiveStack, after: int) -> None:
    _wait_until(lambda: live.stack.generation > after, "the stack to recreate its topics")


def test_recreating_the_topics_under_load_loses_and_doubles_nothing(
    tmp_path: Path, chdb_dir: Path, sample_directory: Directory
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        clickhouse_url=SecretStr(f"chdb://{chdb_dir}"),
        clickhouse_database=f"rot_{uuid.uuid4().hex[:8]}",
        partitions=3,
        pseudonym_key=SecretStr("rotation"),
        sink_batch_seconds=0.1,
        broker_memory_mb=0,  # rotations on request only
    )
    simulation = Simulation(sample_directory, seed=5, start=START, incident_at=START + timedelta(hours=9))
    events = simulation.advance(START + timedelta(days=1))
    live = LiveStack(settings).start()
    try:
        size = len(events) // CHUNKS + 1
        for number in range(CHUNKS):
            generation = live.stack.generation
            live.publish(sample_directory, events[number * size : (number + 1) * size])
            live.stack.rotation_requested = True  # while this chunk may be unstored
            if number % 2:  # and every other time, deliver the chunk again while the topics are recreated
                _wait_until(functools.partial(_rotation_begun, live, generation), "a rotation")
                live.publish(sample_directory, events[number * size : (number + 1) * size])
            _wait_for_rotation(live, generation)
        live.publish(sample_directory, events[: len(events) // 10])  # redeliveries too
        live.drain()
        stack = live.stack
        assert stack.generation >= CHUNKS
        store = stack.store
        [(stored,)] = store.query(f"SELECT count() FROM {store.database}.{INTERACTIONS} FINAL").rows
        assert stored == sum(1 for event in events if event.type == "interaction")
        facts = {
            row[0]: (row[1], round(row[2], 3))
            for row in store.query(
                f"SELECT message_id, reply_id, response_seconds FROM {store.database}.{RESPONSE_FACTS} FINAL"
            ).rows
        }
        from pipeline.storage.sql.oracle import oracle_facts

        oracle = {f.message_id: (f.reply_id, round(f.response_seconds, 3)) for f in oracle_facts(store, stack.agencies)}
        assert len(oracle) > 100
        assert facts == oracle
    finally:
        live.stop()
