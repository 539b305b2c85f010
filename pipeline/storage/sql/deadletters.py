"""The latest dead letters (``serambi deadletters``): filters and the limit travel as bound parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from schemas.tables import DEAD_LETTERS
from schemas.timeutil import assume_utc

__all__ = ["DeadLetterFilter", "StoredDeadLetter", "dead_letters_sql", "latest_dead_letters"]


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to show: received at or after ``since`` (none: all), of ``stage`` (none: both), newest first.

    Args:
        since: aware instant, or none.
        stage: ``connector`` or ``worker``, or none.
        limit: at most this many (>= 1).
    """

    since: datetime | None = None
    stage: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class StoredDeadLetter:
    """One stored dead letter; ``raw`` is as stored (citizen ids pseudonymised, text masked at the connector)."""

    received_at: datetime
    stage: str
    source: str
    error_type: str
    reason: str
    raw: str


def dead_letters_sql(database: str, wanted: DeadLetterFilter) -> str:
    """Matching rows newest first (``LIMIT {limit}``) and, in ``total``, how many match without the limit."""
    where = ["1"]
    if wanted.since is not None:
        where.append(f"received_at >= {{since:{DATETIME_PARAM}}}")
    if wanted.stage is not None:
        where.append("stage = {stage:String}")
    return (
        "SELECT toString(received_at) AS received, stage, source, error_type, reason, raw, count() OVER () AS total "
        f"FROM {database}.{DEAD_LETTERS} FINAL WHERE {' AND '.join(where)} "
        "ORDER BY received_at DESC, id LIMIT {limit:UInt32}"
    )


def latest_dead_letters(
    engine: QueryEngine, database: str, wanted: DeadLetterFilter
) -> tuple[list[StoredDeadLetter], int]:
    """The dead letters ``wanted`` asks for, and how many match in all."""
    parameters: dict[str, Any] = {"limit": wanted.limit}
    if wanted.since is not None:
        parameters["since"] = wanted.since
    if wanted.stage is not None:
        parameters["stage"] = wanted.stage
    rows = engine.query(dead_letters_sql(database, wanted), parameters, read_only=True).dicts()
    letters = [
        StoredDeadLetter(
            received_at=assume_utc(datetime.fromisoformat(str(row["received"]))),  # text: same from both engines
            stage=str(row["stage"]),
            source=str(row["source"]),
            error_type=str(row["error_type"]),
            reason=str(row["reason"]),
            raw=str(row["raw"]),
        )
        for row in rows
    ]
    return letters, int(rows[0]["total"]) if rows else 0
