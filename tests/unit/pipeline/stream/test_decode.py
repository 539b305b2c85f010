"""decode(): batch records -> raw rows, interactions, failures and per-partition latest times (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson

from pipeline.stream.decode import Decoded, Record, decode
from schemas.events import Event
from schemas.fastdecode import HotEvent, event_dict
from schemas.records import encode_batch
from schemas.tables import RAW_TABLES
from tests.helpers.events import T0, EventFactory

PSEUDONYM = "ps1:" + "a" * 32
FAR = T0 + timedelta(days=365)


def _never_agency(platform: str, account_id: str) -> bool:
    return False


def _record(partition: int, offset: int, *events: Event) -> Record:
    return Record(partition, offset, encode_batch(list(events)))


def _dicts(events: Sequence[HotEvent]) -> list[dict[str, Any]]:
    # Decoded events are msgspec Structs (or pydantic models off the fast path): compared by their JSON.
    return [event_dict(e) for e in events]


def test_rows_are_the_events_own_json_grouped_by_raw_table(event_factory: EventFactory) -> None:
    post, comment = event_factory("post"), event_factory("comment", author_id=PSEUDONYM)
    decoded = decode([_record(0, 0, post, comment)], ceiling=FAR, is_agency_account=_never_agency)
    assert set(decoded.rows) == set(RAW_TABLES)
    assert [orjson.loads(line)["event_id"] for line in decoded.rows["posts"]] == [post.event_id]
    assert decoded.rows["reactions"] == []
    assert _dicts(decoded.interactions) == _dicts([comment])
    assert decoded.failures == []


def test_latest_is_the_newest_interaction_per_partition_not_after_the_ceiling(event_factory: EventFactory) -> None:
    def comment(minutes: int) -> Any:
        return event_factory("comment", author_id=PSEUDONYM, created_at=T0 + timedelta(minutes=minutes))

    ceiling = T0 + timedelta(minutes=30)
    records = [
        _record(0, 0, comment(10), comment(5)),
        _record(0, 1, comment(20), comment(31)),  # 31 is past the ceiling: a clock from the future
        _record(1, 0, comment(40)),  # only a future event in partition 1
        _record(2, 0, event_factory("post", created_at=T0)),  # posts do not move watermarks
    ]
    decoded = decode(records, ceiling=ceiling, is_agency_account=_never_agency)
    assert decoded.latest == {0: T0 + timedelta(minutes=20)}
    assert len(decoded.interactions) == 5  # future events are still stored and matched


def test_agency_accounts_are_asked_only_for_ids_that_are_not_pseudonyms(event_factory: EventFactory) -> None:
    asked: list[tuple[str, str]] = []

    def is_agency(platform: str, account_id: str) -> bool:
        asked.append((str(platform), account_id))
        return True

    events = [
        event_factory("comment", author_id=PSEUDONYM, parent_author_id="900100"),
        event_factory("comment", author_id=PSEUDONYM, parent_author_id=PSEUDONYM),
        event_factory("reaction", author_id="900100"),
    ]
    decoded = decode([_record(0, 0, *events)], ceiling=FAR, is_agency_account=is_agency)
    assert decoded.failures == []
    assert asked == [("x", "900100"), ("x", "900100")]


def test_poison_events_are_failures_and_the_rest_is_decoded(event_factory: EventFactory) -> None:
    # Issue 7, item 5: OverflowError escaped decode() and stopped the worker, for good, on every restart.
    comments = [event_factory("comment", author_id=PSEUDONYM) for _ in range(3)]
    records = []
    for partition, comment in enumerate(comments):
        batch = orjson.loads(encode_batch([comment]))
        poison = batch["events"][0] | {"event_id": f"x:bad{partition}", "created_at": "9999-12-31T23:59:59-01:00"}
        records.append(Record(partition, 5, orjson.dumps({**batch, "events": [poison, *batch["events"]]})))
    decoded = decode(records, ceiling=FAR, is_agency_account=_never_agency)
    assert _dicts(decoded.interactions) == _dicts(comments)
    assert [(f.error_type, f.source) for f in decoded.failures] == [
        ("schema", f"worker:events/p{p}@5") for p in range(3)
    ]
    assert all("out of range" in f.reason for f in decoded.failures)
    assert set(decoded.latest) == {0, 1, 2}


def test_decoded_parts_join_in_record_order(event_factory: EventFactory) -> None:
    one, two = (event_factory("comment", author_id=PSEUDONYM) for _ in range(2))
    first = decode([_record(0, 0, one)], ceiling=FAR, is_agency_account=_never_agency)
    second = decode([_record(0, 1, two)], ceiling=FAR, is_agency_account=_never_agency)
    poison = Decoded.poison(Record(1, 9, b"{}"), OverflowError("date value out of range"))
    joined = first.then(poison).then(second)
    assert _dicts(joined.interactions) == _dicts([one, two])
    assert len(joined.rows["interactions"]) == 2
    assert [(f.error_type, f.reason, f.source) for f in joined.failures] == [
        ("poison", "OverflowError: date value out of range", "worker:events/p1@9")
    ]
    assert joined.latest == {0: two.created_at}


def test_changes_are_stored_removals_go_to_the_matcher_and_clear_authors_fail(event_factory: EventFactory) -> None:
    removal = event_factory("remove", author_id=PSEUDONYM, author_role="citizen")
    edit = event_factory("edit", text="baru")
    clear = event_factory("remove", author_id="7012345678901234")
    decoded = decode([_record(0, 0, removal, edit, clear)], ceiling=FAR, is_agency_account=_never_agency)
    assert [orjson.loads(line)["event_id"] for line in decoded.rows["changes"]] == [removal.event_id, edit.event_id]
    assert _dicts(decoded.interactions) == _dicts([removal])
    assert [f.error_type for f in decoded.failures] == ["not_pseudonymised"]
    assert decoded.kinds == {("change", "x"): 2}
    assert {type(part) for key in decoded.kinds for part in key} == {str}  # metric labels: text, not enum members


def test_a_record_s_cursor_is_taken_and_an_invalid_one_is_dead_lettered_while_its_events_are_kept(
    event_factory: EventFactory,
) -> None:
    comment = event_factory("comment", author_id=PSEUDONYM)
    mark = {"source": "poll:x", "account": "x:1", "seq": 1, "part": 0, "parts": 1, "state": "{}",
            "fetched_at": "2026-11-30T08:00:00Z"}  # fmt: skip
    good = orjson.dumps({"format": "serambi.batch/1", "events": [comment.model_dump(mode="json")], "cursor": mark})
    bad = orjson.dumps({"format": "serambi.batch/1", "events": [comment.model_dump(mode="json")],
                        "cursor": {**mark, "part": 1}})  # fmt: skip
    decoded = decode([Record(0, 0, good), Record(0, 1, bad)], ceiling=FAR, is_agency_account=_never_agency)
    assert [(c.source, c.part, c.parts) for c in decoded.cursors] == [("poll:x", 0, 1)]
    assert len(decoded.rows["interactions"]) == 2
    [failure] = decoded.failures
    assert failure.error_type == "undecodable"
    assert failure.reason.startswith("the record's cursor is not valid:")
