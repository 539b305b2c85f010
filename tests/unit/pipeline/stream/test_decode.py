from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.storage.rows import dead_letter_row
from pipeline.stream.decode import RawSink, Record
from schemas.records import encode_batch
from schemas.tables import COLUMNS
from tests.helpers.events import EventFactory


class ListInserter:
    __test__ = False

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        assert tuple(columns) == COLUMNS[table]
        self.rows.setdefault(table, []).extend(rows)

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        assert tuple(columns) == COLUMNS[table]
        self.rows.setdefault(table, []).extend(orjson.loads(line) for line in body.splitlines())


def _sink() -> tuple[RawSink, ListInserter, Metrics]:
    inserter, metrics = ListInserter(), Metrics(CollectorRegistry())
    return RawSink(inserter, metrics), inserter, metrics


def test_events_land_in_their_tables(event_factory: EventFactory) -> None:
    sink, inserter, metrics = _sink()
    post = event_factory("post")
    comment = event_factory("comment", author_id="ps1:" + "a" * 32)
    like = event_factory("reaction", author_id="ps1:" + "b" * 32)
    failures = sink.write([Record(0, 10, encode_batch([post, comment])), Record(1, 3, encode_batch([like]))]).failures
    assert failures == []
    assert [row["event_id"] for row in inserter.rows["posts"]] == [post.event_id]
    assert [row["event_id"] for row in inserter.rows["interactions"]] == [comment.event_id]
    assert [row["event_id"] for row in inserter.rows["reactions"]] == [like.event_id]
    assert sink.rows_total == 3
    assert metrics.registry.get_sample_value("serambi_sink_rows_stored_total", {"table": "posts"}) == 1


def test_rows_carry_every_column(event_factory: EventFactory) -> None:
    sink, inserter, _ = _sink()
    comment = event_factory("comment", author_id="ps1:" + "b" * 32, parent_author_id=None)
    sink.write([Record(0, 0, encode_batch([comment]))])
    row = inserter.rows["interactions"][0]
    assert set(COLUMNS["interactions"]) <= set(row)
    assert row["message_id"] == comment.message_id
    assert row["author_role"] == "citizen"
    assert datetime.fromisoformat(row["created_at"]) == comment.created_at
    assert row["links"] == []


def test_failures_name_partition_and_offset(event_factory: EventFactory) -> None:
    sink, inserter, _ = _sink()
    ok = event_factory("post")
    failures = sink.write([Record(2, 41, b"garbage"), Record(2, 42, encode_batch([ok]))]).failures
    assert [(f.error_type, f.source) for f in failures] == [("undecodable", "worker:events/p2@41")]
    assert len(inserter.rows["posts"]) == 1


def test_clear_citizen_ids_are_refused(event_factory: EventFactory) -> None:
    sink, inserter, _ = _sink()
    clear = event_factory("comment", author_id="7012345678901234")
    failures = sink.write([Record(0, 0, encode_batch([clear]))]).failures
    assert [f.error_type for f in failures] == ["not_pseudonymised"]
    assert "interactions" not in inserter.rows


def test_dead_letter_rows_survive_malformed_letters() -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    row = dead_letter_row(b"nonsense 7012345678901234", at)
    assert row[3] == "bad_dead_letter"
    assert "7012345678901234" not in row[5]
    good = {
        "id": "abc",
        "source": "s",
        "stage": "worker",
        "error_type": "schema",
        "reason": "r",
        "raw": "{}",
        "received_at": "2026-11-02T00:00:00Z",
    }
    assert dead_letter_row(orjson.dumps(good), at)[:5] == ("abc", "s", "worker", "schema", "r")


def test_clear_parent_authors_and_reaction_authors_are_refused(event_factory: EventFactory) -> None:
    inserter, metrics = ListInserter(), Metrics(CollectorRegistry())
    sink = RawSink(inserter, metrics, is_agency_account=lambda platform, account: account == "900100")
    pseudonym = "ps1:" + "c" * 32
    events = [
        event_factory("reply", parent_author_id="7012345678901234"),
        event_factory("reaction", author_id="7012345678901234"),
        event_factory("comment", author_id=pseudonym, parent_author_id="900100"),
        event_factory("reaction", author_id="900100"),
    ]
    failures = sink.write([Record(0, 0, encode_batch(events))]).failures
    assert [f.error_type for f in failures] == ["not_pseudonymised", "not_pseudonymised"]
    assert len(inserter.rows["interactions"]) == 1
    assert len(inserter.rows["reactions"]) == 1
