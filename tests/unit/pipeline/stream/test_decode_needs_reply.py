"""decode() appends each citizen message's needs-a-reply verdict to its interaction row; agency rows get none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from pipeline.domain.needs_reply import Verdict, classify
from pipeline.stream.decode import Record, decode, verdict_json
from schemas.events import AuthorRole, Event
from schemas.records import BATCH_FORMAT, encode_batch
from schemas.tables import INTERACTIONS, STORED_COLUMNS
from tests.helpers.events import ACCOUNT, T0, EventFactory

PSEUDONYM = "ps1:" + "a" * 32
FAR = T0 + timedelta(days=365)
VERDICT_COLUMNS = ("needs_reply", "needs_reply_reason", "language")


def _agency_only(platform: str, account_id: str) -> bool:
    return account_id == ACCOUNT


def _rows(*records: Record) -> list[dict[str, Any]]:
    decoded = decode(list(records), ceiling=FAR, is_agency_account=_agency_only)
    assert decoded.failures == []
    return [orjson.loads(line) for line in decoded.rows[INTERACTIONS]]


def _verdict(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[column] for column in VERDICT_COLUMNS)


def test_citizen_rows_carry_the_verdict_and_agency_rows_none(event_factory: EventFactory) -> None:
    texts = ["Terima kasih JKR!", "Bila air nak ada balik?", "Where do I renew my passport?", None]
    citizens = [event_factory("comment", author_id=PSEUDONYM, text=text) for text in texts]
    reply = event_factory("reply", text="Bila-bila masa, sila PM kami?")  # a question, but the agency's
    other = event_factory("comment", author_id=PSEUDONYM, author_role=AuthorRole.OTHER_AGENCY, text="Bila?")
    rows = _rows(Record(3, 0, encode_batch([*citizens, reply, other])))
    expected = [(v.needs_reply, v.reason, v.language) for v in map(classify, texts)]
    assert expected[:2] == [(False, "thanks: terima kasih", "ms"), (True, "question word: bila", "ms")]
    assert [_verdict(row) for row in rows] == [*expected, (False, "", ""), (False, "", "")]
    assert {row["kafka_partition"] for row in rows} == {3}
    # Every stored column is in each row, so a JSONEachRow insert of STORED_COLUMNS fills the verdict too.
    assert all(set(STORED_COLUMNS[INTERACTIONS]) <= set(row) for row in rows)


def test_the_verdict_is_appended_on_the_pydantic_path_too(event_factory: EventFactory) -> None:
    # A time with 7 fractional digits: msgspec leaves the whole record to pydantic (schemas.fastdecode).
    event = orjson.loads(event_factory("comment", author_id=PSEUDONYM, text="Tolong baiki jalan").model_dump_json())
    event["created_at"] = "2026-11-02T02:00:00.0009999Z"
    rows = _rows(Record(1, 7, orjson.dumps({"format": BATCH_FORMAT, "events": [event]})))
    verdict = classify("Tolong baiki jalan")
    assert [_verdict(row) for row in rows] == [(verdict.needs_reply, verdict.reason, verdict.language)]
    assert rows[0]["needs_reply"] is True


@pytest.mark.parametrize(
    "reason", ['question word: "bila"', "back\\slash \\u0041", "emoji: 😂 \u2028 é", "control \n\t\x00\x1f"]
)
def test_any_reason_stays_valid_json(reason: str) -> None:
    line = b'{"event_id":"x:m1","kafka_partition":0' + verdict_json(Verdict(True, reason, "mixed"))
    assert orjson.loads(line) == {
        "event_id": "x:m1",
        "kafka_partition": 0,
        "needs_reply": True,
        "needs_reply_reason": reason,
        "language": "mixed",
    }


def test_rows_of_one_text_share_its_verdict_bytes(event_factory: EventFactory) -> None:
    events: list[Event] = [event_factory("comment", author_id=PSEUDONYM, text="Bila?") for _ in range(3)]
    decoded = decode([Record(0, 0, encode_batch(events))], ceiling=FAR, is_agency_account=_agency_only)
    tails = {line[line.index(b',"needs_reply"') :] for line in decoded.rows[INTERACTIONS]}
    assert tails == {verdict_json(classify("Bila?"))}
