"""Alerts in ClickHouse: storing alert events and listing alerts (``serambi alerts``).

Every transition of an alert is inserted; the ``alerts`` table (a ReplacingMergeTree on the alert id, see
``schemas/clickhouse/0005_alerts.sql``) keeps the latest, so storing a replayed transition again changes
nothing. Filters and the limit travel as bound parameters. The table's columns are
:data:`~schemas.tables.ALERT_COLUMNS` (migration 0005) and ``top_terms`` (migration 0012).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from schemas.alerts import AlertEvent
from schemas.tables import ALERT_COLUMNS, ALERTS
from schemas.timeutil import assume_utc

__all__ = [
    "ALERT_ROW_COLUMNS",
    "TOP_TERMS",
    "AlertFilter",
    "RowInserter",
    "alert_row",
    "alerts_sql",
    "list_alerts",
    "store_alerts",
]

TOP_TERMS: Final = "top_terms"
"""The column of an alert's top terms (migration 0012_alert_terms.sql)."""
ALERT_ROW_COLUMNS: Final = (*ALERT_COLUMNS, TOP_TERMS)
"""Every column of an ``alerts`` row the worker writes and ``serambi alerts`` reads: one per alert event field."""
_INSTANTS = ("started_at", "updated_at", "resolved_at")


class RowInserter(Protocol):
    """What storing alerts needs of :class:`pipeline.storage.store.Store`."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows into ``<database>.<table>``."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list, newest first.

    Args:
        active: only alerts not resolved (default: all).
        since: only alerts open at or after this aware instant: resolved then or later, or not resolved.
        agency: only this agency's alerts.
        limit: at most this many (>= 1).
    """

    active: bool = False
    since: datetime | None = None
    agency: str | None = None
    limit: int = 100


def alert_row(event: AlertEvent) -> tuple[Any, ...]:
    """The ``alerts`` row of an alert event, in :data:`ALERT_ROW_COLUMNS` order."""
    values = event.model_dump(mode="json")
    return tuple(values[column] for column in ALERT_ROW_COLUMNS)


def store_alerts(inserter: RowInserter, events: Sequence[AlertEvent]) -> int:
    """Insert alert events (any transition, replays included); return how many rows were sent."""
    inserter.insert(ALERTS, ALERT_ROW_COLUMNS, [alert_row(event) for event in events])
    return len(events)


def alerts_sql(database: str, wanted: AlertFilter) -> str:
    """The latest state of matching alerts, newest first (``LIMIT {limit}``), with ``total`` before the limit."""
    where = ["1"]
    if wanted.active:
        where.append("resolved_at IS NULL")
    if wanted.since is not None:
        where.append(f"(resolved_at IS NULL OR resolved_at >= {{since:{DATETIME_PARAM}}})")
    if wanted.agency is not None:
        where.append("agency = {agency:String}")
    # Instants as text under other names: an alias named like its column would replace it in WHERE too.
    columns = ", ".join(f"toString({c}) AS {c}_text" if c in _INSTANTS else c for c in ALERT_ROW_COLUMNS)
    # WHERE (never PREWHERE) on a FINAL read: the filters see each alert's latest transition only, never an
    # older row of it (a raise with no resolved_at would pass --active after the alert was resolved).
    return (
        f"SELECT {columns}, count() OVER () AS total FROM {database}.{ALERTS} FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY started_at DESC, alert_id LIMIT {{limit:UInt32}}"
    )


def list_alerts(engine: QueryEngine, database: str, wanted: AlertFilter) -> tuple[list[AlertEvent], int]:
    """The alerts ``wanted`` asks for (each as its latest transition), and how many match in all."""
    parameters: dict[str, Any] = {"limit": wanted.limit}
    if wanted.since is not None:
        parameters["since"] = wanted.since
    if wanted.agency is not None:
        parameters["agency"] = wanted.agency
    rows = engine.query(alerts_sql(database, wanted), parameters, read_only=True).dicts()
    return [_event(row) for row in rows], int(rows[0]["total"]) if rows else 0


def _event(row: dict[str, Any]) -> AlertEvent:
    values = {column: row[column] for column in ALERT_ROW_COLUMNS if column not in _INSTANTS}
    for column in _INSTANTS:
        # Instants come as text (the same from chDB and from the stack's JSON API); ClickHouse's are UTC.
        text = row[f"{column}_text"]
        values[column] = None if text is None else assume_utc(datetime.fromisoformat(str(text)))
    return AlertEvent.model_validate(values)
