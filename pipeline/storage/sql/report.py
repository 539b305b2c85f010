"""The cross-agency report: reply rate, SLA, response times, two-way ratio, strategy mix, backlog, class.

One SQL generator (:func:`report_sql`) serves the CLI report (literal window) and the rolling views in
ClickHouse (``now()``-relative windows, per agency or per agency/account/platform). Citizen messages
come from the raw ``interactions`` table, first responses from a *facts source*: the stream's
``response_facts`` or the batch oracle's. A message counts as answered when its first response came
before ``until``; unanswered ones are pending or overdue by the agency's SLA at ``until``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.domain.classify import ClassThresholds
from pipeline.storage.sql.status import QueryEngine

__all__ = ["REPORT_FIELDS", "ReportWindow", "build_report", "report_sql", "stream_facts_sql"]

REPORT_FIELDS = (
    "agency_id",
    "citizen_messages",
    "answered",
    "pending",
    "overdue",
    "reply_rate",
    "sla_compliance",
    "median_response_seconds",
    "p90_response_seconds",
    "median_business_seconds",
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_THRESHOLDS = ClassThresholds()
_FLOATS = {
    "reply_rate",
    "sla_compliance",
    "median_response_seconds",
    "p90_response_seconds",
    "median_business_seconds",
    "two_way_ratio",
    "push_share",
    "pull_share",
    "networking_share",
    "oldest_unanswered_seconds",
}


@dataclass(frozen=True)
class ReportWindow:
    """Citizen messages and agency output created in ``[since, until)``; status judged at ``until``."""

    since: datetime = _EPOCH
    until: datetime | None = None
    agency_id: str | None = None
    default_sla_hours: float = 24.0

    def resolved_until(self) -> datetime:
        """``until``, or now."""
        return self.until or datetime.now(UTC)


def stream_facts_sql(database: str) -> str:
    """First responses as the stream computed them."""
    return (
        f"SELECT message_id, platform, account_id, answered_at, response_seconds, business_seconds "
        f"FROM {database}.response_facts FINAL"
    )


def literal(moment: datetime) -> str:
    """A ClickHouse DateTime64 literal of an aware instant."""
    return f"toDateTime64('{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def _messages(  # noqa: PLR0913 - one subquery's whole context
    db: str,
    facts_sql: str,
    keys: str,
    where: str,
    default_sla_hours: float,
    backlog_since_sql: str | None,
) -> str:
    # Window figures over messages asked in [since, until); the backlog over every message asked before until
    # (since ``backlog_since_sql`` when given: dashboards bound the scan).
    where_until = where.replace("created_at >= t_since AND ", "")
    if backlog_since_sql:
        where_until += f" AND created_at >= {backlog_since_sql}"
    return f"""
    SELECT {keys}, countIf(w) AS citizen_messages, countIf(w AND is_answered) AS answered,
           countIf(w AND is_answered AND response_seconds <= sla_s) AS answered_within_sla,
           countIf(w AND NOT is_answered AND age_s <= sla_s) AS pending,
           countIf(w AND NOT is_answered AND age_s > sla_s) AS overdue,
           quantileExactInclusiveIf(0.5)(response_seconds, w AND is_answered) AS median_response_seconds,
           quantileExactInclusiveIf(0.9)(response_seconds, w AND is_answered) AS p90_response_seconds,
           quantileExactInclusiveIf(0.5)(business_seconds, w AND is_answered) AS median_business_seconds,
           countIf(NOT is_answered) AS backlog,
           maxIf(age_s, NOT is_answered) AS oldest_unanswered_seconds, uniqExactIf(author_id, w) AS unique_citizens
    FROM (
        SELECT i.agency_id AS agency_id, i.account_id AS account_id, i.platform AS platform, i.author_id AS author_id,
               i.created_at >= t_since AS w,
               f.message_id != '' AND f.answered_at < t_until AS is_answered,
               f.response_seconds AS response_seconds, f.business_seconds AS business_seconds,
               if(ag.agency_id = '', {default_sla_hours}, ag.sla_hours) * 3600 AS sla_s,
               dateDiff('millisecond', i.created_at, t_until) / 1000 AS age_s
        FROM (SELECT * FROM {db}.interactions FINAL WHERE author_role = 'citizen' AND {where_until}) AS i
        LEFT JOIN ({facts_sql}) AS f
            ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
        LEFT JOIN (SELECT agency_id, sla_hours FROM {db}.agencies FINAL) AS ag ON ag.agency_id = i.agency_id
    )
    GROUP BY {keys}"""


def _output(db: str, keys: str, where: str) -> str:
    return f"""
    SELECT {keys}, sum(is_post) AS agency_posts, sum(is_post AND is_pull) AS pull_posts,
           sum(NOT is_post) AS agency_replies
    FROM (
        SELECT p.agency_id AS agency_id, p.account_id AS account_id, p.platform AS platform, 1 AS is_post,
               arrayExists(l -> arrayExists(d -> lower(domain(l)) = lower(d)
                                                 OR endsWith(lower(domain(l)), concat('.', lower(d))),
                                            ag.official_domains), p.links) AS is_pull
        FROM (SELECT * FROM {db}.posts FINAL WHERE {where}) AS p
        LEFT JOIN (SELECT agency_id, official_domains FROM {db}.agencies FINAL) AS ag ON ag.agency_id = p.agency_id
        UNION ALL
        SELECT agency_id, account_id, platform, 0, 0 FROM {db}.interactions FINAL
        WHERE author_role = 'agency' AND parent_id IS NOT NULL AND {where}
    )
    GROUP BY {keys}"""


def _class_sql(t: ClassThresholds) -> str:
    # Mirrors pipeline.domain.classify.classify (a test checks that both agree).
    return f"""multiIf(
        citizen_messages < {t.min_messages} AND agency_posts + agency_replies < {t.min_output}, 'insufficient_data',
        coalesce(two_way_ratio, 0) >= {t.dinner_min_two_way} AND coalesce(reply_rate, 0) >= {t.dinner_min_reply_rate},
        'dinner_party',
        coalesce(two_way_ratio, 0) <= {t.soapbox_max_two_way}
            OR (reply_rate IS NOT NULL AND reply_rate <= {t.soapbox_max_reply_rate}), 'soapbox',
        'mixed')"""


def report_sql(  # noqa: PLR0913 - the report's whole definition
    db: str,
    facts_sql: str,
    since_sql: str,
    until_sql: str,
    *,
    keys: Sequence[str] = ("agency_id",),
    agency_id: str | None = None,
    default_sla_hours: float = 24.0,
    thresholds: ClassThresholds = _THRESHOLDS,
    backlog_since_sql: str | None = None,
) -> str:
    """One row per ``keys`` with every :data:`REPORT_FIELDS` column (ratios NULL when undefined)."""
    key_list = ", ".join(keys)
    where = "created_at >= t_since AND created_at < t_until"
    if agency_id:
        where += f" AND agency_id = '{agency_id.replace(chr(39), '')}'"
    return f"""
WITH {since_sql} AS t_since, {until_sql} AS t_until
SELECT {key_list}, citizen_messages, answered, pending, overdue,
       if(answered + overdue = 0, NULL, answered / (answered + overdue)) AS reply_rate,
       if(answered + overdue = 0, NULL, answered_within_sla / (answered + overdue)) AS sla_compliance,
       if(answered = 0, NULL, median_response_seconds) AS median_response_seconds,
       if(answered = 0, NULL, p90_response_seconds) AS p90_response_seconds,
       if(answered = 0, NULL, median_business_seconds) AS median_business_seconds,
       agency_posts, agency_replies, agency_posts + agency_replies AS output,
       if(output = 0, NULL, agency_replies / output) AS two_way_ratio,
       if(output = 0, NULL, (agency_posts - pull_posts) / output) AS push_share,
       if(output = 0, NULL, pull_posts / output) AS pull_share,
       if(output = 0, NULL, agency_replies / output) AS networking_share,
       backlog,
       if(backlog = 0, NULL, oldest_unanswered_seconds) AS oldest_unanswered_seconds,
       unique_citizens,
       {_class_sql(thresholds)} AS class
FROM ({_messages(db, facts_sql, key_list, where, default_sla_hours, backlog_since_sql)}) AS m
FULL OUTER JOIN ({_output(db, key_list, where)}) AS o USING ({key_list})
ORDER BY {key_list}"""


def build_report(
    engine: QueryEngine, database: str, window: ReportWindow, facts_sql: str | None = None
) -> list[dict[str, Any]]:
    """One row per agency with the fields of :data:`REPORT_FIELDS`, including registered silent agencies."""
    sql = report_sql(
        database,
        facts_sql or stream_facts_sql(database),
        literal(window.since),
        literal(window.resolved_until()),
        agency_id=window.agency_id,
        default_sla_hours=window.default_sla_hours,
    )
    rows = {r["agency_id"]: _clean(r) for r in engine.query(sql, read_only=True).dicts()}
    if not window.agency_id:
        known = engine.query(f"SELECT agency_id FROM {database}.agencies FINAL", read_only=True).rows
        for (agency,) in known:
            rows.setdefault(str(agency), _empty(str(agency)))
    elif window.agency_id not in rows:
        rows[window.agency_id] = _empty(window.agency_id)
    return [rows[agency] for agency in sorted(rows)]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out = {field: row[field] for field in REPORT_FIELDS}
    for field in _FLOATS:
        if out[field] is not None:
            out[field] = round(
                float(out[field]), 6 if field.endswith(("_rate", "_compliance", "_share", "_ratio")) else 3
            )
    return out


def _empty(agency_id: str) -> dict[str, Any]:
    counts = {"citizen_messages", "answered", "pending", "overdue", "agency_posts", "agency_replies", "backlog"}
    row: dict[str, Any] = {field: 0 if field in counts else None for field in REPORT_FIELDS}
    row.update(agency_id=agency_id, **{"class": "insufficient_data"})
    return row
