"""Per-agency gauge values from ClickHouse: the report's rules over a rolling window, plus tier and SLA.

No rule is defined here: backlog, oldest unanswered age, reply rates, SLA compliance and citizen messages are
the fields of :func:`pipeline.storage.sql.report.build_report` over ``[until - window, until)``, so
``serambi report --since ... --until ...`` and the worker's ``/metrics`` give the same numbers for the same
window. Only agencies of the ``agencies`` table (the directory file plus agencies an import registered) get
values: an agency seen only in data has no tier, and labelling it would let any data file grow the label set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.fragments import SECONDS_PER_HOUR
from pipeline.storage.sql.report import ReportWindow, build_report
from schemas.tables import AGENCIES

__all__ = ["AgencyGauge", "AgencyInfo", "agency_gauges", "known_agencies", "merge_gauges"]


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    """An agency's labels and SLA, as the ``agencies`` table holds them."""

    agency_id: str
    tier: str
    sla_hours: float


@dataclass(frozen=True, slots=True)
class AgencyGauge:
    """One agency's gauge values at one instant; ratios are ``None`` when the report says null."""

    agency_id: str
    tier: str
    sla_seconds: float
    backlog_messages: int
    oldest_unanswered_seconds: float
    citizen_messages: int
    reply_rate: float | None
    needs_reply_rate: float | None
    sla_compliance: float | None


def known_agencies(engine: QueryEngine, database: str) -> list[AgencyInfo]:
    """Every registered agency with its tier and SLA (read-only)."""
    sql = f"SELECT agency_id, tier, sla_hours FROM {database}.{AGENCIES} FINAL ORDER BY agency_id"
    rows = engine.query(sql, read_only=True).rows
    return [AgencyInfo(str(agency), str(tier), float(sla)) for agency, tier, sla in rows]


def merge_gauges(agencies: Sequence[AgencyInfo], report: Sequence[dict[str, Any]]) -> list[AgencyGauge]:
    """Gauge values of each agency in ``agencies`` from its report row (an agency without a row has nothing)."""
    rows = {str(row["agency_id"]): row for row in report}
    gauges = []
    for agency in agencies:
        row = rows.get(agency.agency_id, {})
        gauges.append(
            AgencyGauge(
                agency_id=agency.agency_id,
                tier=agency.tier,
                sla_seconds=agency.sla_hours * SECONDS_PER_HOUR,
                backlog_messages=int(row.get("backlog") or 0),
                # No backlog, no age: 0 keeps BacklogTooOld's comparison defined (and false).
                oldest_unanswered_seconds=float(row.get("oldest_unanswered_seconds") or 0.0),
                citizen_messages=int(row.get("citizen_messages") or 0),
                reply_rate=row.get("reply_rate"),
                needs_reply_rate=row.get("needs_reply_rate"),
                sla_compliance=row.get("sla_compliance"),
            )
        )
    return gauges


def agency_gauges(
    engine: QueryEngine, database: str, until: datetime, window: timedelta, default_sla_hours: float
) -> list[AgencyGauge]:
    """Gauge values of every registered agency over ``[until - window, until)``, judged at ``until``."""
    agencies = known_agencies(engine, database)
    report = build_report(
        engine, database, ReportWindow(since=until - window, until=until, default_sla_hours=default_sla_hours)
    )
    return merge_gauges(agencies, report)
