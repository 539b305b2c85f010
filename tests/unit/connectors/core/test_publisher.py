from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink
from pipeline.metrics import Metrics
from schemas.agency import Directory
from schemas.events import conversation_key
from schemas.privacy import Pseudonymizer
from schemas.records import decode_batch
from schemas.topics import DEAD_LETTER, EVENTS, partition_for
from tests.helpers.events import ACCOUNT, OTHER_ACCOUNT, EventFactory

KEY = SecretStr("unit-test-key")


@pytest.fixture
def sink() -> ListRecordSink:
    return ListRecordSink()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def publisher(sink: ListRecordSink, metrics: Metrics, tiny_directory: Directory) -> Publisher:
    return Publisher(
        sink,
        pseudonymizer=Pseudonymizer(KEY),
        partitions=4,
        source="test",
        metrics=metrics,
        directory=tiny_directory,
        max_batch=3,
        linger_seconds=3600,
        clock=lambda: 0.0,
    )


def _events(sink: ListRecordSink) -> list:  # type: ignore[type-arg]
    return [e for r in sink.on(EVENTS.name) for e in decode_batch(r.value)[0]]


def test_batches_by_partition_and_keeps_thread_order(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    thread = [event_factory("comment", root_id="p1") for _ in range(5)]
    other = event_factory("comment", root_id="p9")
    for event in [*thread[:2], other, *thread[2:]]:
        publisher.publish(event)
    publisher.flush()
    records = sink.on(EVENTS.name)
    for record in records:
        events, _ = decode_batch(record.value)
        assert 1 <= len(events) <= 3
        assert {partition_for(conversation_key(e), 4) for e in events} == {record.partition}
    same_thread = [e.message_id for e in _events(sink) if e.root_id == "p1"]
    assert same_thread == [e.message_id for e in thread]
    assert sink.flushes == 1


def test_citizen_ids_are_pseudonymised_agency_ids_kept(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    comment = event_factory("comment", author_id="7012345678901234")
    reply = event_factory("reply", parent_id=comment.message_id, parent_author_id="7012345678901234")
    inter = event_factory(
        "comment", author_id=OTHER_ACCOUNT, author_role="other_agency", parent_author_id=OTHER_ACCOUNT
    )
    for event in (comment, reply, inter, event_factory("reaction", author_id="5550001234")):
        publisher.publish(event)
    publisher.flush()
    raw = b"".join(r.value for r in sink.records)
    assert b"7012345678901234" not in raw
    assert b"5550001234" not in raw
    sent = _events(sink)
    pseudo = Pseudonymizer(KEY).pseudonym("x", "7012345678901234")
    assert sent[0].author_id == pseudo
    assert sent[1].author_id == ACCOUNT
    assert sent[1].parent_author_id == pseudo
    assert sent[2].author_id == OTHER_ACCOUNT
    assert sent[2].parent_author_id == OTHER_ACCOUNT


def test_invalid_event_is_dead_lettered_with_reason_and_scrubbed(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory, metrics: Metrics
) -> None:
    bad = event_factory("comment").model_dump(mode="json")
    bad["author_id"] = "7012345678901234"
    del bad["created_at"]
    assert publisher.publish(bad) is False
    assert publisher.publish(event_factory("comment")) is True
    publisher.flush()
    [letter] = [r.json() for r in sink.on(DEAD_LETTER.name)]
    assert letter["reason"] == "interaction.created_at: Field required"
    assert letter["stage"] == "connector"
    assert letter["error_type"] == "schema"
    assert "7012345678901234" not in letter["raw"]
    assert len(_events(sink)) == 1
    assert (
        metrics.registry.get_sample_value("serambi_dead_letters_total", {"stage": "connector", "error_type": "schema"})
        == 1
    )


def test_not_json_is_dead_lettered(publisher: Publisher, sink: ListRecordSink) -> None:
    assert publisher.publish_json(b"{this is not json 7012345678901234") is False
    [letter] = [r.json() for r in sink.on(DEAD_LETTER.name)]
    assert letter["error_type"] == "not_json"
    assert letter["reason"].startswith("payload is not JSON")
    assert "7012345678901234" not in letter["raw"]


def test_account_outside_directory_is_dead_lettered(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    assert publisher.publish(event_factory("post", account_id="123")) is False
    [letter] = [r.json() for r in sink.on(DEAD_LETTER.name)]
    assert letter["error_type"] == "unknown_account"
    assert "not in the agency directory" in letter["reason"]


def test_json_event_is_published(publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory) -> None:
    event = event_factory("post")
    assert publisher.publish_json(event.model_dump_json()) is True
    publisher.flush()
    assert _events(sink) == [event]


def test_linger_sends_without_explicit_flush(
    sink: ListRecordSink, event_factory: EventFactory, tiny_directory: Directory
) -> None:
    now = [0.0]
    publisher = Publisher(
        sink,
        pseudonymizer=Pseudonymizer(KEY),
        partitions=2,
        source="t",
        directory=tiny_directory,
        max_batch=1000,
        linger_seconds=0.5,
        clock=lambda: now[0],
    )
    publisher.publish(event_factory("post"))
    assert sink.on(EVENTS.name) == []
    now[0] = 1.0
    publisher.publish(event_factory("post"))
    assert len(_events(sink)) == 2
    assert orjson.loads(sink.on(EVENTS.name)[0].value)["format"] == "serambi.batch/1"


def test_citizen_mentions_in_text_are_pseudonymised(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    reply = event_factory("reply", text="@aisyah_r sorry! Call 1-800 or see @900100")
    publisher.publish(reply)
    publisher.flush()
    [sent] = _events(sink)
    assert "aisyah_r" not in sent.text
    assert "@900100" in sent.text


def test_dead_letter_reasons_are_masked(publisher: Publisher, sink: ListRecordSink) -> None:
    publisher.dead_letter("row 2: author_id of tweet @cust_amy is missing", "x")
    [letter] = [r.json() for r in sink.on(DEAD_LETTER.name)]
    assert "cust_amy" not in letter["reason"]


def test_dot_mentions_are_pseudonymised_before_kafka(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    # ".@handle" makes a reply public on X; issue 7 found such handles in clear in Kafka and ClickHouse.
    publisher.publish(event_factory("comment", text=".@aisyah_r and (@ben.lee): still waiting, email a.b@c.my"))
    publisher.flush()
    [sent] = _events(sink)
    pseudo = Pseudonymizer(KEY)
    assert sent.text == (
        f".@{pseudo.pseudonym('x', 'aisyah_r')} and (@{pseudo.pseudonym('x', 'ben.lee')}): still waiting, "
        "email a.b@c.my"
    )


def test_change_authors_are_pseudonymised_unless_an_agency_and_mentions_masked(
    publisher: Publisher, sink: ListRecordSink, event_factory: EventFactory
) -> None:
    removal = event_factory("remove", author_id="7012345678901234", author_role="citizen")
    unknown = event_factory("remove", author_id="7012345678905555")  # no role: the directory decides
    edit = event_factory("edit", author_id=ACCOUNT, author_role="agency", text="Dikemas kini @aisyah_r")
    for event in (removal, unknown, edit):
        publisher.publish(event)
    publisher.flush()
    raw = b"".join(r.value for r in sink.records)
    assert b"7012345678901234" not in raw
    assert b"7012345678905555" not in raw
    assert b"aisyah_r" not in raw
    sent = _events(sink)
    assert sent[0].author_id == Pseudonymizer(KEY).pseudonym("x", "7012345678901234")
    assert sent[1].author_id == Pseudonymizer(KEY).pseudonym("x", "7012345678905555")
    assert sent[2].author_id == ACCOUNT
