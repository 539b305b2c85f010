from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.contracts import Rejected
from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink
from connectors.files.jsonl import JsonlSource, parse_jsonl
from schemas.agency import Directory
from schemas.events import Interaction
from schemas.privacy import PREFIX, Pseudonymizer
from schemas.records import decode_batch
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.events import EventFactory


@pytest.fixture
def lines(event_factory: EventFactory) -> list[bytes]:
    good = [
        orjson.dumps(event_factory(kind).model_dump(mode="json")) + b"\n"
        for kind in ("post", "comment", "reply", "reaction")
    ]
    broken = orjson.loads(good[1])
    del broken["root_id"]
    broken["author_id"] = "7012345678901"
    return [
        good[0],
        b"\n",
        b"{not json\n",
        good[1],
        b"   \r\n",
        orjson.dumps(broken) + b"\r\n",
        good[2],
        b"[1, 2]\n",
        good[3],
    ]


def test_parse_yields_events_and_rejected_lines_with_line_numbers(lines: list[bytes]) -> None:
    parsed = list(parse_jsonl(lines))
    assert [type(item).__name__ for item in parsed] == [
        "Post",
        "Rejected",
        "Interaction",
        "Rejected",
        "Interaction",
        "Rejected",
        "Reaction",
    ]
    rejected = [item for item in parsed if isinstance(item, Rejected)]
    assert [r.reason.split(":")[0] for r in rejected] == ["line 3", "line 6", "line 8"]  # blank lines count
    assert rejected[0].reason.startswith("line 3: not JSON")
    assert "root_id" in rejected[1].reason
    assert [r.error_type for r in rejected] == ["not_json", "schema", "schema"]
    # Text goes to the dead letter without its line break; a JSON object as the object, to be pseudonymised.
    assert rejected[0].raw == b"{not json"
    assert isinstance(rejected[1].raw, dict)
    assert rejected[2].raw == b"[1, 2]"


def test_publish_routes_valid_and_invalid_lines(tmp_path: Path, lines: list[bytes], tiny_directory: Directory) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    sink = ListRecordSink()
    publisher = Publisher(
        sink, pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=4, source="jsonl", directory=tiny_directory
    )
    seen: list[int] = []
    assert JsonlSource(path).publish(publisher, progress=seen.append) == 4
    assert seen == [4]
    events = [e for r in sink.on(EVENTS.name) for e in decode_batch(r.value)[0]]
    assert len(events) == 4
    comment = next(e for e in events if isinstance(e, Interaction) and e.author_role.value == "citizen")
    assert comment.author_id.startswith(PREFIX)
    letters = {letter["error_type"]: letter for letter in (r.json() for r in sink.on(DEAD_LETTER.name))}
    assert sorted(letters) == ["not_json", "schema"]
    assert len(sink.on(DEAD_LETTER.name)) == 3
    assert letters["not_json"]["reason"].startswith("line 3: not JSON")
    assert "7012345678901" not in "".join(r.value.decode() for r in sink.on(DEAD_LETTER.name))


def test_empty_file_publishes_nothing(tmp_path: Path, tiny_directory: Directory) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    sink = ListRecordSink()
    publisher = Publisher(
        sink, pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=4, source="jsonl", directory=tiny_directory
    )
    assert JsonlSource(path).publish(publisher) == 0
    assert sink.records == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"created_at": "9999-12-31T23:59:59-01:00"}, "out of range"),
        ({"created_at": "0001-01-01T00:00:00+01:00"}, "out of range"),
        ({"created_at": 1_700_000_000}, "must be an ISO 8601 string"),
        ({"count": 2**64}, "count"),
    ],
)
def test_lines_out_of_range_are_rejected_not_raised(
    event_factory: EventFactory, change: dict[str, object], reason: str
) -> None:
    # Issue 7, item 5: `serambi import` aborted with an OverflowError traceback on such a line.
    good = orjson.dumps(event_factory("reaction").model_dump(mode="json")) + b"\n"
    bad = orjson.dumps(orjson.loads(good) | {k: v for k, v in change.items() if k != "count"})
    if "count" in change:
        bad = bad.replace(b'"count":1', b'"count":' + str(change["count"]).encode())
    parsed = list(parse_jsonl([good, bad + b"\n", good]))
    assert [type(p).__name__ for p in parsed] == ["Reaction", "Rejected", "Reaction"]
    rejected = parsed[1]
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("line 2: ")
    assert reason in rejected.reason
    assert rejected.error_type == "schema"
