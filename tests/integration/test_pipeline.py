"""The embedded stack end to end: connector -> Tansu -> Faust worker -> chDB, dead letters, privacy."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from pipeline.runtime.stack import RunningStack
from pipeline.runtime.statefile import read_state
from pipeline.settings import Settings
from schemas.agency import Directory
from schemas.privacy import Pseudonymizer
from schemas.records import encode_batch
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.events import EventFactory
from tests.helpers.kafka import read_topic
from tests.helpers.processes import alive
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import produce_raw, publish, run_on_stack, with_store

CITIZEN = "7012345678901234"
BAD_CITIZEN = "7012345678909999"
RAW_CITIZEN = "7012345678908888"


def test_bad_input_is_dead_lettered_and_neighbours_survive(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    first, last = event_factory("comment", author_id=CITIZEN), event_factory("comment", author_id=CITIZEN)
    invalid = event_factory("comment", author_id=BAD_CITIZEN).model_dump(mode="json")
    del invalid["created_at"]
    pseudo = Pseudonymizer(settings.pseudonym_key)
    in_batch = event_factory("comment", author_id=pseudo.pseudonym("x", "42"))
    batch = orjson.loads(encode_batch([in_batch]))
    batch["events"].append({**batch["events"][0], "event_id": "x:broken", "kind": "shout"})

    async def body(stack: RunningStack) -> None:
        await asyncio.to_thread(
            publish, stack, tiny_directory, [first, invalid, f"not json {RAW_CITIZEN}".encode(), last]
        )
        await asyncio.to_thread(produce_raw, stack.bootstrap_servers, [b"\x00garbage", orjson.dumps(batch)])

    run_on_stack(settings, body)
    with_store(settings, lambda store: _check_dead_letters(store, settings, [first, last, in_batch]))


def _check_dead_letters(store: Any, settings: Settings, kept: list[Any]) -> None:
    db = settings.clickhouse_database
    stored = {row[0] for row in store.query(f"SELECT message_id FROM {db}.interactions FINAL").rows}
    assert stored == {event.message_id for event in kept}
    letters = store.query(f"SELECT stage, error_type, reason, raw FROM {db}.dead_letters FINAL ORDER BY reason").rows
    by_type = {(stage, error_type): reason for stage, error_type, reason, _ in letters}
    assert by_type[("connector", "schema")] == "interaction.created_at: Field required"
    assert by_type[("connector", "not_json")].startswith("payload is not JSON")
    assert by_type[("worker", "undecodable")].startswith("record is not JSON")
    assert "kind: Input should be 'comment', 'reply', 'mention' or 'message'" in by_type[("worker", "schema")]
    assert len(letters) == 4


def test_citizen_ids_never_in_clear_in_kafka_or_clickhouse(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    comment = event_factory("comment", author_id=CITIZEN)
    reply = event_factory("reply", parent_id=comment.message_id, parent_author_id=CITIZEN)
    like = event_factory("reaction", author_id=CITIZEN)
    invalid = comment.model_dump(mode="json") | {"event_id": "x:bad", "kind": "shout"}
    items = [comment, reply, like, invalid, f'{{"author_id": "{CITIZEN}"'.encode()]
    topics: dict[str, list[bytes]] = {}

    async def body(stack: RunningStack) -> None:
        await asyncio.to_thread(publish, stack, tiny_directory, items)
        await stack.wait_drained(timeout_s=60)
        for topic, parts in ((EVENTS.name, settings.partitions), (DEAD_LETTER.name, 1)):
            records = await asyncio.to_thread(read_topic, stack.bootstrap_servers, topic, parts)
            topics[topic] = [bytes(r.value) + bytes(r.key or b"") for r in records]

    run_on_stack(settings, body)
    assert len(topics[EVENTS.name]) >= 1
    assert len(topics[DEAD_LETTER.name]) == 2
    assert not [v for values in topics.values() for v in values if CITIZEN.encode() in v]

    def check(store: Any) -> None:
        db = settings.clickhouse_database
        for table in ("posts", "interactions", "reactions", "dead_letters"):
            dump = store.query(f"SELECT toString(tuple(*)) FROM {db}.{table}").rows
            assert not [row for row in dump if CITIZEN in row[0]], table
        authors = store.query(f"SELECT author_id, parent_author_id FROM {db}.interactions FINAL").rows
        pseudonym = Pseudonymizer(settings.pseudonym_key).pseudonym("x", CITIZEN)
        assert (pseudonym, None) in authors
        assert (reply.author_id, pseudonym) in authors

    with_store(settings, check)


def test_replayed_records_do_not_double_count(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    settings = settings_factory()
    events = [event_factory("post"), event_factory("comment"), event_factory("reaction")]

    async def body(stack: RunningStack) -> None:
        for _ in range(3):
            await asyncio.to_thread(publish, stack, tiny_directory, events)

    run_on_stack(settings, body)

    def check(store: Any) -> None:
        db = settings.clickhouse_database
        for table in ("posts", "interactions", "reactions"):
            assert store.query(f"SELECT count() FROM {db}.{table} FINAL").rows == [(1,)], table

    with_store(settings, check)


def test_stack_publishes_state_and_cleans_up(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    seen: dict[str, Any] = {}

    async def body(stack: RunningStack) -> None:
        state = read_state(settings.state_file)
        assert state is not None
        seen["state"] = state
        seen["health"] = await asyncio.to_thread(_get_json, state.api_url + "/health")
        seen["metrics"] = await asyncio.to_thread(_get_text, state.api_url + "/metrics")
        seen["refused"] = await asyncio.to_thread(_post, state.api_url + "/query", {"sql": "DROP DATABASE x"})
        seen["answer"] = await asyncio.to_thread(_post, state.api_url + "/query", {"sql": "SELECT 41 + 1 AS n"})

    run_on_stack(settings, body)
    assert seen["health"]["status"] == "ok"
    assert seen["health"]["bootstrap_servers"] == seen["state"].bootstrap_servers
    assert "serambi_sink_rows_stored_total" in seen["metrics"] or "serambi_dead_letters" in seen["metrics"]
    assert seen["refused"][0] == 400
    assert seen["refused"][1]["error"].startswith("only one SELECT/WITH/SHOW/DESCRIBE statement")
    assert seen["answer"] == (200, {"columns": ["n"], "rows": [[42]]})
    assert read_state(settings.state_file) is None
    assert not alive(seen["state"].broker_pid)


def _post(url: str, body: Any) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def _get_json(url: str) -> Any:
    return orjson.loads(_get_text(url))


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
