"""Queries the CLI and the local API share, over any :class:`QueryEngine` (local store or running stack)."""

from __future__ import annotations

from typing import Protocol

from pipeline.storage.store import QueryResult

__all__ = ["QueryEngine", "status_sql", "status_totals"]


class QueryEngine(Protocol):
    """Runs a read-only query: :class:`pipeline.storage.store.Store` or :class:`pipeline.runtime.client.StackClient`."""

    def query(self, sql: str, *, read_only: bool = False) -> QueryResult:
        """Run one read-only query."""


def status_sql(database: str) -> str:
    """Totals per agency and kind of event, duplicates collapsed."""
    return f"""
SELECT agency_id, kind, count() AS events FROM (
    SELECT agency_id, 'post' AS kind, event_id FROM {database}.posts FINAL
    UNION ALL
    SELECT agency_id, concat(author_role, '_', kind) AS kind, event_id FROM {database}.interactions FINAL
    UNION ALL
    SELECT agency_id, concat('reaction_', mode) AS kind, event_id FROM {database}.reactions FINAL
)
GROUP BY agency_id, kind
ORDER BY agency_id, kind
"""


def dead_letter_sql(database: str) -> str:
    """Dead letters per stage and error type."""
    return (
        f"SELECT stage, error_type, count() AS letters FROM {database}.dead_letters FINAL "
        "GROUP BY stage, error_type ORDER BY stage, error_type"
    )


def status_totals(engine: QueryEngine, database: str) -> dict[str, dict[str, int]]:
    """``{agency_id: {kind: events}}`` from the raw tables."""
    totals: dict[str, dict[str, int]] = {}
    for agency, kind, events in engine.query(status_sql(database), read_only=True).rows:
        totals.setdefault(str(agency), {})[str(kind)] = int(events)
    return totals
