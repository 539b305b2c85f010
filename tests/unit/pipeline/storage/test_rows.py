"""Rows for ClickHouse: dead letters survive malformed input without leaking citizen ids."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from pipeline.storage.rows import dead_letter_row


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
