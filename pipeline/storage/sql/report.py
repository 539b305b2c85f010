"""The cross-agency report: reply rates, SLA, response times, two-way ratio, strategy mix, backlog, class.

One SQL generator (:func:`report_sql`) serves the CLI report (a window of bound parameters) and the rolling
views in ClickHouse (``now64()``-relative windows, per agency or per agency/account/platform). Citizen
messages come from the raw ``interactions`` table, first responses from a *facts source*: the stream's
``response_facts`` or the batch oracle's. A message counts as answered when its first response came
before ``until``; one removed before any answer is removed (neither answered nor in the backlog); the others
are pending or overdue by the agency's SLA at ``until``. The needs-reply figures count the messages whose
stored verdict (``interactions.needs_reply``) says they need a reply, by the same statuses. Every rule is a
fragment of :mod:`pipeline.storage.sql.fragments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.domain.classify import ClassThresholds
from pipeline.domain.matching import CLOSED_BY_REMOVAL, CLOSED_BY_REPLY
from pipeline.domain.windows import MessageStatus
from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from pipeline.storage.sql.fragments import (
    age_seconds_sql,
    agency_reply_sql,
    citizen_message_sql,
    closed_sql,
    figures_sql,
    hist_bucket_sql,
    message_status_sql,
    param,
    pull_post_sql,
    sla_seconds_sql,
)
from schemas.tables import AGENCIES, INTERACTIONS, POSTS

__all__ = ["ALL_DATA", "REPORT_FIELDS", "ReportWindow", "agency_ids", "build_report", "report_sql"]

REPORT_FIELDS = (
    "agency_id",
    "citizen_messages",
    "answered",
    "pending",
    "overdue",
    "removed",
    "needs_reply_messages",
    "reply_rate",
    "needs_reply_rate",
    "sla_compliance",
    "median_response_seconds",
    "p90_response_seconds",
    "median_business_seconds",
    "p90_business_seconds",
    "agency_posts",
    "agency_replies",
    "two_way_ratio",
    "push_share",
    "pull_share",
    "networking_share",
    "backlog",
    "oldest_unanswered_seconds",
    "class",
)
ALL_DATA = datetime(1900, 1, 1, tzinfo=UTC)
"""The ``since`` of a report over all data: the earliest time ClickHouse stores, so ``serambi status`` (which
counts every stored event dated before now) and a report without ``--since`` count the same events."""
_THRESHOLDS = ClassThresholds()
_FLOATS = {
    "reply_rate",
    "needs_reply_rate",
    "sla_compliance",
    "median_response_seconds",
    "p90_response_seconds",
    "median_business_seconds",
    "p90_business_seconds",
    "two_way_ratio",
    "push_share",
    "pull_share",
    "networking_share",
    "oldest_unanswered_seconds",
}


@dataclass(frozen=True)
class ReportWindow:
    """Citizen messages and agency output created in ``[since, until)``; status judged at ``until``."""

    since: datetime = ALL_DATA
    until: datetime | None = None
    agency_id: str | None = None
    default_sla_hours: float = 24.0

    def resolved_until(self) -> datetime:
        """``until``, or now."""
        return self.until or datetime.now(UTC)


def _messages(
    db: str,
    facts: str,
    keys: str,
    only: str,
    default_sla_sql: str,
) -> str:
    # Window figures over messages asked in [since, until); the backlog over every message asked before until.
    scan = f"created_at < t_until{only}"
    return f"""
    SELECT {keys}, countIf(w) AS citizen_messages, countIf(w AND is_answered) AS answered,
           countIf(w AND status = '{MessageStatus.ANSWERED_WITHIN_SLA.value}') AS answered_within_sla,
           countIf(w AND status = '{MessageStatus.PENDING.value}') AS pending,
           countIf(w AND status = '{MessageStatus.OVERDUE.value}') AS overdue,
           countIf(w AND is_removed) AS removed,
           countIf(w AND needs_reply) AS needs_reply_messages,
           countIf(w AND needs_reply AND is_answered) AS needs_reply_answered,
           countIf(w AND needs_reply AND status = '{MessageStatus.OVERDUE.value}') AS needs_reply_overdue,
           sumMapIf(map({hist_bucket_sql("response_seconds")}, toUInt64(1)), w AND is_answered) AS response_hist,
           sumMapIf(map({hist_bucket_sql("business_seconds")}, toUInt64(1)), w AND is_answered) AS business_hist,
           countIf(NOT is_answered AND NOT is_removed) AS backlog,
           maxIf(age_s, NOT is_answered AND NOT is_removed) AS oldest_unanswered_seconds,
           uniqExactIf(author_id, w) AS unique_citizens
    FROM (
        SELECT i.agency_id AS agency_id, i.account_id AS account_id, i.platform AS platform, i.author_id AS author_id,
               i.created_at >= t_since AS w, i.needs_reply AS needs_reply,
               {closed_sql("f", "t_until", CLOSED_BY_REPLY)} AS is_answered,
               {closed_sql("f", "t_until", CLOSED_BY_REMOVAL)} AS is_removed,
               f.response_seconds AS response_seconds, f.business_seconds AS business_seconds,
               {sla_seconds_sql(default_sla_sql, "ag")} AS sla_s,
               {age_seconds_sql("i.created_at", "t_until")} AS age_s,
               {message_status_sql("is_answered", "response_seconds", "age_s", "sla_s", "is_removed")} AS status
        FROM (SELECT * FROM {db}.{INTERACTIONS} FINAL WHERE {citizen_message_sql()} AND {scan}) AS i
        LEFT JOIN ({facts}) AS f
            ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
        LEFT JOIN (SELECT agency_id, sla_hours FROM {db}.{AGENCIES} FINAL) AS ag ON ag.agency_id = i.agency_id
    )
    GROUP BY {keys}"""


def _output(db: str, keys: str, only: str) -> str:
    window = f"created_at >= t_since AND created_at < t_until{only}"
    return f"""
    SELECT {keys}, sum(is_post) AS agency_posts, sum(is_post AND is_pull) AS pull_posts,
           sum(NOT is_post) AS agency_replies
    FROM (
        SELECT p.agency_id AS agency_id, p.account_id AS account_id, p.platform AS platform, 1 AS is_post,
               {pull_post_sql("p.links", "ag.official_domains")} AS is_pull
        FROM (SELECT * FROM {db}.{POSTS} FINAL WHERE {window}) AS p
        LEFT JOIN (SELECT agency_id, official_domains FROM {db}.{AGENCIES} FINAL) AS ag ON ag.agency_id = p.agency_id
        UNION ALL
        SELECT agency_id, account_id, platform, 0, 0 FROM {db}.{INTERACTIONS} FINAL
        WHERE {agency_reply_sql()} AND {window}
    )
    GROUP BY {keys}"""


def report_sql(  # noqa: PLR0913 - the report's whole definition
    db: str,
    facts: str,
    since_sql: str,
    until_sql: str,
    *,
    default_sla_sql: str,
    keys: Sequence[str] = ("agency_id",),
    agency_sql: str | None = None,
    thresholds: ClassThresholds = _THRESHOLDS,
) -> str:
    """One row per ``keys`` with every :data:`REPORT_FIELDS` column (ratios NULL when undefined).

    Every ``*_sql`` argument is SQL, never a caller's value: a ``{name:Type}`` placeholder (see
    :func:`build_report`) or a constant expression such as ``now64(3) - INTERVAL 86400 SECOND`` (views).
    ``facts`` is the facts source, e.g. :func:`~pipeline.storage.sql.fragments.facts_sql`.
    """
    key_list = ", ".join(keys)
    only = f" AND agency_id = {agency_sql}" if agency_sql else ""
    return f"""
WITH {since_sql} AS t_since, {until_sql} AS t_until
SELECT {key_list}, {figures_sql(thresholds, "oldest_unanswered_seconds")},
       unique_citizens
FROM ({_messages(db, facts, key_list, only, default_sla_sql)}) AS m
FULL OUTER JOIN ({_output(db, key_list, only)}) AS o USING ({key_list})
ORDER BY {key_list}"""


def build_report(
    engine: QueryEngine, database: str, window: ReportWindow, facts: str | None = None
) -> list[dict[str, Any]]:
    """One row per agency with the fields of :data:`REPORT_FIELDS`, including registered silent agencies.

    Without ``facts`` this is the catalog's ``leaderboard`` view (closed days from the daily rollups, the rest
    from raw data; :mod:`pipeline.storage.sql.rollup_sql`), the rows the board and the dashboards show. With a
    facts source (e.g. the batch oracle's), :func:`report_sql` computes the same figures from raw data alone:
    the definition the differential tests hold the rollups to. Values travel as bound parameters.
    """
    if facts is None:
        return _from_leaderboard(engine, database, window)
    sql = report_sql(
        database,
        facts,
        param("since", DATETIME_PARAM),
        param("until", DATETIME_PARAM),
        default_sla_sql=param("default_sla_hours", "Float64"),
        agency_sql=param("agency", "String") if window.agency_id else None,
    )
    parameters: dict[str, Any] = {
        "since": window.since,
        "until": window.resolved_until(),
        "default_sla_hours": window.default_sla_hours,
    }
    if window.agency_id:
        parameters["agency"] = window.agency_id
    rows = {r["agency_id"]: _clean(r) for r in engine.query(sql, parameters, read_only=True).dicts()}
    if not window.agency_id:
        known = engine.query(f"SELECT agency_id FROM {database}.{AGENCIES} FINAL", read_only=True).rows
        for (agency,) in known:
            rows.setdefault(str(agency), _empty(str(agency)))
    elif window.agency_id not in rows:
        rows[window.agency_id] = _empty(window.agency_id)
    return [rows[agency] for agency in sorted(rows)]


def _from_leaderboard(engine: QueryEngine, database: str, window: ReportWindow) -> list[dict[str, Any]]:
    # Imported here: the catalog's modules import this one (report_sql), and the report reads the catalog.
    from pipeline.storage.sql.binding import ViewFilter  # noqa: PLC0415
    from pipeline.storage.sql.catalog import run_view  # noqa: PLC0415

    wanted = ViewFilter(
        window.since,
        window.resolved_until(),
        agencies=(window.agency_id,) if window.agency_id else (),
        default_sla_hours=window.default_sla_hours,
    )
    rows = {r["agency_id"]: _clean(r) for r in run_view(engine, database, "leaderboard", wanted).dicts()}
    if window.agency_id and window.agency_id not in rows:
        rows[window.agency_id] = _empty(window.agency_id)
    return [rows[agency] for agency in sorted(rows)]


def agency_ids(engine: QueryEngine, database: str) -> list[str]:
    """Every agency a report can show: those of the directory and those with stored posts or interactions."""
    sql = f"""
SELECT agency_id FROM {database}.{AGENCIES} FINAL
UNION DISTINCT SELECT DISTINCT agency_id FROM {database}.{POSTS}
UNION DISTINCT SELECT DISTINCT agency_id FROM {database}.{INTERACTIONS}"""
    return sorted({str(agency) for (agency,) in engine.query(sql, read_only=True).rows})


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out = {field: row[field] for field in REPORT_FIELDS}
    for field in _FLOATS:
        if out[field] is not None:
            out[field] = round(
                float(out[field]), 6 if field.endswith(("_rate", "_compliance", "_share", "_ratio")) else 3
            )
    return out


def _empty(agency_id: str) -> dict[str, Any]:
    counts = {"citizen_messages", "answered", "pending", "overdue", "removed", "agency_posts", "agency_replies"}
    counts.update(("backlog", "needs_reply_messages"))
    row: dict[str, Any] = {field: 0 if field in counts else None for field in REPORT_FIELDS}
    row.update(agency_id=agency_id, **{"class": "insufficient_data"})
    return row
