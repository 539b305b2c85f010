"""The cross-agency report: reply rate, SLA, response times, two-way ratio, strategy mix, backlog, class.

Every figure comes from ClickHouse: citizen messages from the raw ``interactions`` table and first
responses from a *facts source*: the stream's ``response_facts`` or the batch oracle's (see
:mod:`pipeline.oracle`). A message counts as answered when its first response came before ``until``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.classify import classify
from pipeline.queries import QueryEngine

__all__ = ["REPORT_FIELDS", "ReportWindow", "build_report", "stream_facts_sql"]

REPORT_FIELDS = ("agency_id", "citizen_messages", "answered", "pending", "overdue", "reply_rate", "sla_compliance",
                 "median_response_seconds", "p90_response_seconds", "median_business_seconds", "agency_posts",
                 "agency_replies", "two_way_ratio", "push_share", "pull_share", "networking_share", "backlog",
                 "oldest_unanswered_seconds", "class")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    return (f"SELECT message_id, platform, account_id, answered_at, response_seconds, business_seconds "
            f"FROM {database}.response_facts FINAL")


def _lit(moment: datetime) -> str:
    return f"toDateTime64('{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def _filters(window: ReportWindow, column: str = "created_at") -> str:
    sql = f"{column} >= {_lit(window.since)} AND {column} < {_lit(window.resolved_until())}"
    if window.agency_id:
        sql += f" AND agency_id = '{window.agency_id.replace(chr(39), '')}'"
    return sql


def _messages_sql(db: str, facts_sql: str, window: ReportWindow) -> str:
    until = _lit(window.resolved_until())
    return f"""
WITH msgs AS (
    SELECT agency_id, platform, account_id, message_id, created_at AS asked_at, author_id
    FROM {db}.interactions FINAL WHERE author_role = 'citizen' AND {_filters(window)}
), m AS (
    SELECT msgs.agency_id AS agency_id, msgs.asked_at AS asked_at, msgs.author_id AS author_id,
           f.message_id != '' AND f.answered_at < {until} AS is_answered,
           f.response_seconds AS response_seconds, f.business_seconds AS business_seconds,
           if(ag.agency_id = '', {window.default_sla_hours}, ag.sla_hours) * 3600 AS sla_s,
           dateDiff('millisecond', msgs.asked_at, {until}) / 1000 AS age_s
    FROM msgs
    LEFT JOIN ({facts_sql}) AS f
        ON f.platform = msgs.platform AND f.account_id = msgs.account_id AND f.message_id = msgs.message_id
    LEFT JOIN (SELECT agency_id, sla_hours FROM {db}.agencies FINAL) AS ag ON ag.agency_id = msgs.agency_id
)
SELECT agency_id, count() AS citizen_messages, countIf(is_answered) AS answered,
       countIf(is_answered AND response_seconds <= sla_s) AS answered_within_sla,
       countIf(NOT is_answered AND age_s <= sla_s) AS pending, countIf(NOT is_answered AND age_s > sla_s) AS overdue,
       quantileExactInclusiveIf(0.5)(response_seconds, is_answered) AS median_response_seconds,
       quantileExactInclusiveIf(0.9)(response_seconds, is_answered) AS p90_response_seconds,
       quantileExactInclusiveIf(0.5)(business_seconds, is_answered) AS median_business_seconds,
       maxIf(age_s, NOT is_answered) AS oldest_unanswered_seconds, uniqExact(author_id) AS unique_citizens
FROM m GROUP BY agency_id"""


def _output_sql(db: str, window: ReportWindow) -> str:
    return f"""
SELECT agency_id, sum(is_post) AS agency_posts, sum(is_post AND is_pull) AS pull_posts,
       sum(NOT is_post) AS agency_replies
FROM (
    SELECT p.agency_id AS agency_id, 1 AS is_post,
           arrayExists(l -> arrayExists(d -> domain(l) = d OR endsWith(domain(l), concat('.', d)),
                                        ag.official_domains), p.links) AS is_pull
    FROM (SELECT * FROM {db}.posts FINAL WHERE {_filters(window)}) AS p
    LEFT JOIN (SELECT agency_id, official_domains FROM {db}.agencies FINAL) AS ag ON ag.agency_id = p.agency_id
    UNION ALL
    SELECT agency_id, 0, 0 FROM {db}.interactions FINAL
    WHERE author_role = 'agency' AND parent_id IS NOT NULL AND {_filters(window)}
)
GROUP BY agency_id"""


def build_report(engine: QueryEngine, database: str, window: ReportWindow, facts_sql: str | None = None
                 ) -> list[dict[str, Any]]:
    """One row per agency with the fields of :data:`REPORT_FIELDS` (ratios ``None`` when undefined)."""
    facts = facts_sql or stream_facts_sql(database)
    messages = {r["agency_id"]: r for r in engine.query(_messages_sql(database, facts, window), read_only=True).dicts()}
    output = {r["agency_id"]: r for r in engine.query(_output_sql(database, window), read_only=True).dicts()}
    known = {str(r[0]) for r in engine.query(f"SELECT agency_id FROM {database}.agencies FINAL", read_only=True).rows}
    ids = sorted((known | set(messages) | set(output)) if not window.agency_id else {window.agency_id})
    return [_row(agency, messages.get(agency, {}), output.get(agency, {})) for agency in ids]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _row(agency_id: str, msg: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    answered, overdue, pending = int(msg.get("answered", 0)), int(msg.get("overdue", 0)), int(msg.get("pending", 0))
    posts, pull = int(out.get("agency_posts", 0)), int(out.get("pull_posts", 0))
    replies = int(out.get("agency_replies", 0))
    output = posts + replies
    reply_rate = _ratio(answered, answered + overdue)
    two_way = _ratio(replies, output)
    backlog = pending + overdue
    return {
        "agency_id": agency_id, "citizen_messages": int(msg.get("citizen_messages", 0)), "answered": answered,
        "pending": pending, "overdue": overdue, "reply_rate": reply_rate,
        "sla_compliance": _ratio(int(msg.get("answered_within_sla", 0)), answered + overdue),
        "median_response_seconds": _seconds(msg, "median_response_seconds", answered),
        "p90_response_seconds": _seconds(msg, "p90_response_seconds", answered),
        "median_business_seconds": _seconds(msg, "median_business_seconds", answered),
        "agency_posts": posts, "agency_replies": replies, "two_way_ratio": two_way,
        "push_share": _ratio(posts - pull, output), "pull_share": _ratio(pull, output),
        "networking_share": _ratio(replies, output), "backlog": backlog,
        "oldest_unanswered_seconds": _seconds(msg, "oldest_unanswered_seconds", backlog),
        "class": classify(two_way, reply_rate, int(msg.get("citizen_messages", 0)), output),
    }


def _seconds(row: dict[str, Any], key: str, count: int) -> float | None:
    return round(float(row[key]), 3) if count and row.get(key) is not None else None
