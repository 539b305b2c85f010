from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.errors import RecordError, SchemaDriftError
from schemas.jsonschema import check_schemas, render_schema, write_schemas
from schemas.records import decode_batch, encode_batch
from schemas.topics import EVENTS, TOPICS, partition_for
from tests.helpers.events import EventFactory


def test_batch_round_trip(event_factory: EventFactory) -> None:
    events = [event_factory("post"), event_factory("comment"), event_factory("reaction")]
    good, bad = decode_batch(encode_batch(events))
    assert good == events
    assert bad == []


def test_one_bad_event_does_not_spoil_the_batch(event_factory: EventFactory) -> None:
    ok = event_factory("comment")
    payload = orjson.loads(encode_batch([ok]))
    payload["events"].append({"type": "interaction", "event_id": "x:1"})
    good, bad = decode_batch(orjson.dumps(payload))
    assert good == [ok]
    assert len(bad) == 1
    assert "platform: Field required" in bad[0][0]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json {", "not JSON"),
        (b'{"events": []}', "serambi.batch/1"),
        (b'{"format": "serambi.batch/1"}', "no 'events' list"),
    ],
)
def test_undecodable_records_raise(value: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        decode_batch(value)


def test_partition_is_kafka_murmur2_and_stable() -> None:
    # Kafka's Java client puts key "x:900100:p1" in the same partition: murmur2 positive mod n.
    assert partition_for("x:900100:p1", 6) == partition_for("x:900100:p1", 6)
    spread = {partition_for(f"x:900100:p{i}", 6) for i in range(200)}
    assert spread == set(range(6))


def test_committed_json_schemas_match_models() -> None:
    check_schemas()


def test_drift_is_detected(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    path = tmp_path / f"{EVENTS.name}.json"
    path.write_text(path.read_text().replace('"post"', '"article"'))
    with pytest.raises(SchemaDriftError, match=EVENTS.name):
        check_schemas(tmp_path)


def test_every_topic_has_a_schema_naming_its_key() -> None:
    for topic in TOPICS:
        assert topic.key in orjson.loads(render_schema(topic))["description"]


def test_poison_events_are_failures_and_their_neighbours_survive(event_factory: EventFactory) -> None:
    # Issue 7, item 5: the 9999 event raised OverflowError out of decode_batch, losing the whole record.
    good = [event_factory("comment"), event_factory("reaction")]
    payload = orjson.loads(encode_batch(good))
    first = payload["events"][0]
    payload["events"][1:1] = [
        first | {"event_id": "x:late", "created_at": "9999-12-31T23:59:59-01:00"},
        first | {"event_id": "x:early", "created_at": "0001-01-01T00:00:00+01:00"},
        first | {"event_id": "x:epoch", "created_at": 1_700_000_000},
    ]
    value = orjson.dumps(payload).replace(b'"count":1', b'"count":18446744073709551616')
    events, bad = decode_batch(value)
    assert events == good[:1]
    assert [(f.raw["event_id"], f.error_type) for f in bad] == [
        ("x:late", "schema"),
        ("x:early", "schema"),
        ("x:epoch", "schema"),
        (good[1].event_id, "schema"),
    ]
    assert all("created_at: Value error" in f.reason for f in bad[:3])
    assert "out of range" in bad[0].reason
    assert "reaction.count" in bad[3].reason
