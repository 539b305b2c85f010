"""The msgspec hot path stores exactly what the pydantic path stored: every column of every raw table, in chDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from pipeline.bench.data import SyntheticEvents
from pipeline.storage.store import Store
from pipeline.stream.decode import Decoded, Record, decode
from schemas import records as batch_records
from schemas.records import BATCH_FORMAT
from schemas.tables import RAW_TABLES, STORED_COLUMNS

NOW = datetime(2099, 12, 31, tzinfo=UTC)  # every event below is before it: nothing is out of range
PSEUDONYM = "ps1:" + "b" * 32
_HEAD = {"agency_id": "tdemo", "account_id": "900100", "source": "it"}


def _edge_events() -> list[dict[str, Any]]:
    """Valid events that probe the encodings: offsets, sub-milliseconds, bounds, unicode, limits, nulls, enums."""
    times = [
        "2026-11-02T10:00:00.123456+08:00",  # another zone, microseconds: UTC, cut to the millisecond
        "2026-11-02T02:00:00.999999Z",
        "2026-11-02 02:00:00.5-00:00",
        "2006-01-01T00:00:00Z",  # the earliest event time
        "2099-12-30T23:59:59.999999+00:00",
        "2026-11-02T02:00:00z",
        "2026-11-02T02:00:00.0009999Z",  # 7 digits: this record takes the pydantic path on both sides
    ]
    texts = ['Bila "jalan" \\ ini?\n\t😀 \u2028 \x00\x1f\x7f', "é" * 65_536, "", None]
    events: list[dict[str, Any]] = []
    for n, at in enumerate(times):
        text = texts[n % len(texts)]
        base = {**_HEAD, "created_at": at, "schema_version": 1 + n % 2}
        events += [
            {**base, "type": "post", "event_id": f"x:p{n}", "platform": "x", "post_id": f"p{n}", "text": text,
             "links": ["https://jkr.gov.my/ä?q=1", ""]},
            {**base, "type": "interaction", "event_id": f"facebook:m{n}", "platform": "facebook", "kind": "mention",
             "message_id": f"m{n}", "root_id": f"p{n}", "author_id": PSEUDONYM, "author_role": "citizen",
             "text": text, "parent_author_id": PSEUDONYM},
            {**base, "type": "interaction", "event_id": f"tiktok:r{n}", "platform": "tiktok", "kind": "reply",
             "message_id": f"r{n}", "root_id": f"p{n}", "parent_id": f"m{n}", "author_id": "900100",
             "author_role": "agency"},
            {**base, "type": "reaction", "event_id": f"youtube:x{n}", "platform": "youtube", "mode": "snapshot",
             "target_id": f"p{n}", "root_id": f"p{n}", "reaction_type": "❤️", "count": [0, 2**64 - 1, 2**53 + 1][n % 3]},
            {**base, "type": "change", "schema_version": 2, "event_id": f"bluesky:c{n}", "platform": "bluesky",
             "op": ["edit", "remove"][n % 2], "target_id": f"m{n}", "root_id": f"p{n}", "text": text,
             "author_id": [None, PSEUDONYM][n % 2], "author_role": [None, "citizen"][n % 2]},
        ]  # fmt: skip
    return events


def _records() -> list[Record]:
    # One record per edge event (a record msgspec refuses goes to pydantic whole), then the bench's traffic.
    edges = [orjson.dumps({"format": BATCH_FORMAT, "events": [event]}) for event in _edge_events()]
    bench = [value for _, value in SyntheticEvents(partitions=3, batch_events=200, seed=11).batch_records(3000)]
    return [Record(n % 3, n, value) for n, value in enumerate(edges + bench)]


def _decode(batch: list[Record]) -> Decoded:
    decoded = decode(batch, ceiling=NOW, is_agency_account=lambda platform, account: True)
    assert decoded.failures == []
    return decoded


def _stored(store: Store, decoded: Decoded) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of every raw table (but the insert time) once ``decoded`` is inserted; the tables emptied after."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in RAW_TABLES:
        store.insert_encoded(table, STORED_COLUMNS[table], b"\n".join(decoded.rows[table]))
        columns = [
            name
            for (name,) in store.query(
                "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
                {"db": store.database, "t": table},
            ).rows
            if name != "ingested_at"  # when the row was inserted: the one column that differs by design
        ]
        select = ", ".join(f"toString({name})" if name == "created_at" else name for name in columns)
        tables[table] = store.query(f"SELECT {select} FROM {store.database}.{table} ORDER BY event_id").rows
        store.command(f"TRUNCATE TABLE {store.database}.{table}")
    return tables


def test_both_paths_store_the_same_columns(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = _records()
    fast = _decode(batch)
    kinds = {type(event).__name__ for event in fast.interactions}
    assert {"FastInteraction", "FastChange"} <= kinds  # the msgspec path did decode them
    with monkeypatch.context() as patch:
        patch.setattr(batch_records, "_decode_fast", lambda value: None)  # the pydantic path, as before msgspec
        slow = _decode(batch)
    assert {type(event).__name__ for event in slow.interactions} == {"Interaction", "Change"}
    fast_tables, slow_tables = _stored(store, fast), _stored(store, slow)
    assert fast_tables == slow_tables
    assert sum(len(rows) for rows in fast_tables.values()) == sum(len(rows) for rows in fast.rows.values())
    posts = {row[0]: row for row in fast_tables["posts"]}
    assert "2026-11-02 02:00:00.123" in posts["x:p0"]  # 10:00:00.123456+08:00, in UTC, to the millisecond
    assert "2026-11-02 02:00:00.000" in posts["x:p6"]  # 7 digits are cut, not rounded up
    reactions = {row[0]: row for row in fast_tables["reactions"]}
    assert 2**64 - 1 in reactions["youtube:x1"]
