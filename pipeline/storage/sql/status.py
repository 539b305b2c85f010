"""Queries the CLI and the local API share, over any :class:`~pipeline.storage.query.QueryEngine`."""

from __future__ import annotations

from pipeline.storage.query import QueryEngine
from schemas.tables import DEAD_LETTERS, INTERACTIONS, POSTS, REACTIONS

__all__ = ["dead_letter_sql", "status_sql", "status_totals"]


def status_sql(database: str) -> str:
    """Totals per agency and kind of event, duplicates collapsed."""
    return f"""
SELECT agency_id, kind, count() AS events FROM (
    SELECT agency_id, 'post' AS kind, event_id FROM {database}.{POSTS} FINAL
    UNION ALL
    SELECT agency_id, concat(author_role, '_', kind) AS kind, event_id FROM {database}.{INTERACTIONS} FINAL
    UNION ALL
    SELECT agency_id, concat('reaction_', mode) AS kind, event_id FROM {database}.{REACTIONS} FINAL
)
GROUP BY agency_id, kind
ORDER BY agency_id, kind
"""


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
