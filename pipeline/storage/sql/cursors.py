"""Connectors' stored cursors (``source_cursors``): where each resumes, and how far each got.

A page's cursor is stored in parts, one per record the page needed, each in the same write as that record's
events (:class:`schemas.records.CursorMark`). A page is *whole* when all its parts are stored. A connector resumes
from the newest whole page of its source and account: its records were all acknowledged by Kafka before the next
page was fetched, so every earlier page was acknowledged too and is stored or on its way (Kafka, and on the
embedded broker the spool, keep acknowledged records), and the pages after it are fetched again (upserts absorb
the overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.storage.query import QueryEngine
from schemas.tables import SOURCE_CURSORS

__all__ = ["CursorStatus", "cursor_status", "stored_cursor", "stored_cursor_sql"]


def stored_cursor_sql(db: str) -> str:
    """The newest whole page's cursor of ``{source:String}`` and ``{account:String}``: one row, or none."""
    return f"""
SELECT seq, any(state) AS state, any(fetched_at) AS fetched_at
FROM (SELECT seq, part, parts, state, fetched_at FROM {db}.{SOURCE_CURSORS}
      WHERE source = {{source:String}} AND account = {{account:String}})
GROUP BY seq
HAVING uniqExact(part) = any(parts)
ORDER BY seq DESC
LIMIT 1"""


def stored_cursor(engine: QueryEngine, db: str, source: str, account: str) -> Any | None:
    """The state to resume ``source`` for ``account`` from (the connector's ``snapshot()``), or ``None``."""
    rows = engine.query(stored_cursor_sql(db), {"source": source, "account": account}, read_only=True).rows
    return orjson.loads(rows[0][1]) if rows else None


@dataclass(frozen=True)
class CursorStatus:
    """How far one connector got for one account: its newest whole page, and pages still in flight."""

    source: str
    account: str
    fetched_at: datetime
    pages: int
    incomplete: int


def cursor_status(engine: QueryEngine, db: str) -> list[CursorStatus]:
    """Every connector and account with a stored cursor: when its newest whole page was fetched, page counts."""
    sql = f"""
SELECT source, account, toUnixTimestamp64Milli(max(if(whole, fetched_at, toDateTime64(0, 3, 'UTC')))) AS fetched_ms,
       count() AS pages, countIf(NOT whole) AS incomplete
FROM (SELECT source, account, seq, any(fetched_at) AS fetched_at, uniqExact(part) = any(parts) AS whole
      FROM {db}.{SOURCE_CURSORS} GROUP BY source, account, seq)
GROUP BY source, account
ORDER BY source, account"""
    # Milliseconds, not a DateTime: through the running stack's API rows travel as JSON, where a time is text.
    return [
        CursorStatus(str(s), str(a), datetime.fromtimestamp(int(ms) / 1000, UTC), int(pages), int(incomplete))
        for s, a, ms, pages, incomplete in engine.query(sql, read_only=True).rows
    ]
