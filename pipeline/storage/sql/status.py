"""Queries the CLI and the local API share, over any :class:`~pipeline.storage.query.QueryEngine`.

Status counts what a report over all data counts: events dated before now. An event dated in the future
(a source's wrong clock, or one stored before ingest refused such times) is in no report until its time comes,
so status counts it apart (:func:`future_events`) instead of in the totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.storage.query import QueryEngine
from schemas.tables import CHANGES, DEAD_LETTERS, INTERACTIONS, POSTS, REACTIONS

__all__ = ["FutureEvents", "dead_letter_sql", "future_events", "status_sql", "status_totals"]

# Every table status counts, with the kind of each row.
_KINDS = (
    (POSTS, "'post'"),
    (INTERACTIONS, "concat(author_role, '_', kind)"),
    (REACTIONS, "concat('reaction_', mode)"),
    (CHANGES, "concat('change_', op)"),
)


@dataclass(frozen=True)
class FutureEvents:
    """Stored events dated after now: ``events`` of them, the earliest dated ``earliest`` (None when none)."""

    events: int
    earliest: datetime | None


def status_sql(database: str) -> str:
    """Totals per agency and kind of event dated before now (what a report counts), duplicates collapsed."""
    union = "\n    UNION ALL\n    ".join(
        f"SELECT agency_id, {kind} AS kind, event_id FROM {database}.{table} FINAL WHERE created_at < now64(3)"
        for table, kind in _KINDS
    )
    return f"""
SELECT agency_id, kind, count() AS events FROM (
    {union}
)
GROUP BY agency_id, kind
ORDER BY agency_id, kind
"""


def future_events(engine: QueryEngine, database: str) -> FutureEvents:
    """The stored events dated after now, which :func:`status_totals` and the report leave out."""
    union = " UNION ALL ".join(
        f"SELECT created_at FROM {database}.{table} FINAL WHERE created_at >= now64(3)" for table, _ in _KINDS
    )
    # Milliseconds, not a DateTime: the running stack's API sends rows as JSON, where a datetime is text.
    sql = f"SELECT count(), toUnixTimestamp64Milli(min(created_at)) FROM ({union})"
    [(events, earliest_ms)] = engine.query(sql, read_only=True).rows
    if not int(events):
        return FutureEvents(0, None)
    return FutureEvents(int(events), datetime.fromtimestamp(int(earliest_ms) / 1000, UTC))


def dead_letter_sql(database: str) -> str:
    """Dead letters per stage and error type."""
    return (
        f"SELECT stage, error_type, count() AS letters FROM {database}.{DEAD_LETTERS} FINAL "
        "GROUP BY stage, error_type ORDER BY stage, error_type"
    )


def status_totals(engine: QueryEngine, database: str) -> dict[str, dict[str, int]]:
    """``{agency_id: {kind: events}}`` from the raw tables."""
    totals: dict[str, dict[str, int]] = {}
    for agency, kind, events in engine.query(status_sql(database), read_only=True).rows:
        totals.setdefault(str(agency), {})[str(kind)] = int(events)
    return totals
