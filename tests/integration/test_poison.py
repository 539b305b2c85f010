"""Poison pills on the real stack (Tansu + Faust worker + chDB): bad records cost themselves, never the worker.

Issue 7, item 5: one event dated near year 9999 or year 1 raised ``OverflowError`` in the worker, which exited
70 on every restart and stored nothing on any partition. Here such events sit between good events on several
partitions, in batches with good neighbours and in batches of their own; the good events must be stored, the
poison ones dead-lettered with their reason, and the stack must drain.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kafka import KafkaProducer

from pipeline.runtime.stack import RunningStack
from pipeline.settings import Settings
from schemas.events import Event
from schemas.privacy import Pseudonymizer
from schemas.records import BATCH_FORMAT
from schemas.topics import EVENTS
from tests.helpers.events import EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import run_on_stack, with_store

PARTITIONS = 3
POISON_TIMES = {
    "late": "9999-12-31T23:59:59-01:00",  # overflows when shifted to UTC
    "early": "0001-01-01T00:00:00+01:00",  # underflows when shifted to UTC
    "epoch": 1_700_000_000,  # a number is not a time
}


def _batch(events: list[dict[str, Any]]) -> bytes:
    # The standard library writes 2**64 as it is (orjson refuses integers past 64 bits): as a hostile producer would.
    return json.dumps({"format": BATCH_FORMAT, "events": events}).encode()


def _produce(bootstrap: str, records: list[tuple[int, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition, value in records:
        producer.send(EVENTS.name, value=value, partition=partition)
    producer.flush()
    producer.close()


def _poison(good: Event, partition: int) -> list[dict[str, Any]]:
    raw = good.model_dump(mode="json")
    return [raw | {"event_id": f"x:{name}{partition}", "created_at": at} for name, at in POISON_TIMES.items()]


def test_poison_events_are_dead_lettered_and_the_good_ones_stored(
    settings_factory: SettingsFactory, event_factory: EventFactory
) -> None:
    settings = settings_factory(partitions=PARTITIONS)
    citizen = Pseudonymizer(settings.pseudonym_key).pseudonym("x", "42")
    records: list[tuple[int, bytes]] = []
    good: list[Event] = []
    for p in range(PARTITIONS):
        question = event_factory("comment", message_id=f"q{p}", root_id=f"root{p}", author_id=citizen)
        reply = event_factory("reply", message_id=f"r{p}", root_id=f"root{p}", parent_id=f"q{p}")
        like = event_factory("reaction", event_id=f"x:like{p}", author_id=citizen)
        huge = like.model_dump(mode="json") | {"event_id": f"x:huge{p}", "count": 2**64}
        late, early, epoch = _poison(question, p)
        records += [
            (p, _batch([question.model_dump(mode="json"), late, like.model_dump(mode="json")])),
            (p, _batch([early, epoch, huge])),  # nothing good in this one
            (p, _batch([reply.model_dump(mode="json")])),
        ]
        good += [question, reply, like]

    async def body(stack: RunningStack) -> None:
        await asyncio.to_thread(_produce, stack.bootstrap_servers, records)

    run_on_stack(settings, body)  # asserts the stack drained: the worker went on past every poison record
    with_store(settings, lambda store: _check(store, settings, good))


def _check(store: Any, settings: Settings, good: list[Event]) -> None:
    db = settings.clickhouse_database

    def column(sql: str) -> set[Any]:
        return {row[0] for row in store.query(sql.format(db=db)).rows}

    assert column("SELECT event_id FROM {db}.interactions FINAL") == {e.event_id for e in good if e.type != "reaction"}
    assert column("SELECT event_id FROM {db}.reactions FINAL") == {e.event_id for e in good if e.type == "reaction"}
    assert column("SELECT message_id FROM {db}.response_facts FINAL") == {f"q{p}" for p in range(PARTITIONS)}
    letters = store.query(f"SELECT stage, error_type, reason, raw FROM {db}.dead_letters FINAL").rows
    by_event = {json.loads(raw)["event_id"]: (stage, error_type, reason) for stage, error_type, reason, raw in letters}
    assert len(letters) == len(by_event) == 4 * PARTITIONS
    for p in range(PARTITIONS):
        assert by_event[f"x:late{p}"][:2] == ("worker", "schema")
        assert (
            "created_at: Value error, created_at 9999-12-31T23:59:59-01:00 is out of range" in by_event[f"x:late{p}"][2]
        )
        assert "0001-01-01T00:00:00+01:00 is out of range" in by_event[f"x:early{p}"][2]
        assert "must be an ISO 8601 string" in by_event[f"x:epoch{p}"][2]
        assert "reaction.count" in by_event[f"x:huge{p}"][2]
