"""The central office's views: the leaderboard, the soapbox-to-dinner-party quadrant and weekly trends.

Every figure follows the report's rules (:mod:`pipeline.storage.sql.report`, whose rules are the fragments of
:mod:`pipeline.storage.sql.fragments`); the leaderboard *is* ``serambi report``.
"""

from __future__ import annotations

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.fragments import facts_sql
from pipeline.storage.sql.report import report_sql
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View
from schemas.tables import AGENCIES, INTERACTIONS

__all__ = ["LEADERBOARD_COLUMNS", "VIEWS"]

LEADERBOARD_COLUMNS = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("name", Unit.TEXT, "the agency's name from the directory ('' when it is not in the directory)"),
    Column("tier", Unit.TEXT, "the agency's tier from the directory"),
    Column("class", Unit.TEXT, "dinner_party, mixed, soapbox or insufficient_data"),
    Column("citizen_messages", Unit.COUNT, "citizen messages asked in the window"),
    Column("answered", Unit.COUNT, "of them, answered before the window's end"),
    Column("pending", Unit.COUNT, "unanswered, still within the SLA"),
    Column("overdue", Unit.COUNT, "unanswered, past the SLA"),
    Column("reply_rate", Unit.RATIO, "answered / (answered + overdue)"),
    Column("sla_compliance", Unit.RATIO, "answered within the SLA / (answered + overdue)"),
    Column("median_response_seconds", Unit.SECONDS, "median time to the first reply (wall clock)"),
    Column("p90_response_seconds", Unit.SECONDS, "90th percentile of the time to the first reply (wall clock)"),
    Column("median_business_seconds", Unit.SECONDS, "median time to the first reply in the agency's business hours"),
    Column("p90_business_seconds", Unit.SECONDS, "90th percentile of it in business hours"),
    Column("agency_posts", Unit.COUNT, "posts of the agency in the window"),
    Column("agency_replies", Unit.COUNT, "replies of the agency in the window"),
    Column("two_way_ratio", Unit.RATIO, "replies / (replies + posts)"),
    Column("push_share", Unit.RATIO, "posts without an official link / output"),
    Column("pull_share", Unit.RATIO, "posts linking to an official domain / output"),
    Column("networking_share", Unit.RATIO, "replies / output"),
    Column("backlog", Unit.COUNT, "messages unanswered at the window's end, whatever their age"),
    Column("oldest_unanswered_seconds", Unit.SECONDS, "age of the oldest of them at the window's end"),
)


def _scope(db: str, b: Binding) -> str:
    return f"{b.agencies('agency_id')} AND {b.platforms('platform')} AND {b.in_tiers('agency_id', f'{db}.{AGENCIES}')}"


def leaderboard_sql(db: str, b: Binding) -> str:
    """One row per agency with data in scope or in the directory (a silent agency has zeros)."""
    inner = report_sql(
        db, facts_sql(db), b.since, b.until, default_sla_sql=b.default_sla_hours, scope_sql=_scope(db, b)
    )
    directory = (
        f"SELECT agency_id, argMax(name, updated_at) AS name, argMax(tier, updated_at) AS tier "
        f"FROM {db}.{AGENCIES} GROUP BY agency_id"
    )
    # Agencies of the directory in scope (tier, agency) without data in the window still get a row.
    everyone = (
        f"SELECT agency_id FROM ({directory}) WHERE {b.agencies('agency_id')} AND {b.tiers('tier')} "
        f"UNION DISTINCT SELECT agency_id FROM ({inner})"
    )
    return f"""
SELECT a.agency_id AS agency_id, d.name AS name, d.tier AS tier,
       if(r.agency_id = '', 'insufficient_data', r.class) AS class,
       {", ".join(f"r.{c.name} AS {c.name}" for c in LEADERBOARD_COLUMNS[4:])}
FROM ({everyone}) AS a
LEFT JOIN ({inner}) AS r ON r.agency_id = a.agency_id
LEFT JOIN ({directory}) AS d ON d.agency_id = a.agency_id
ORDER BY agency_id"""


def quadrant_sql(db: str, b: Binding) -> str:
    """Two-way ratio x reply rate per agency, sized by citizen messages: the leaderboard's columns."""
    return (
        f"SELECT agency_id, two_way_ratio, reply_rate, citizen_messages, class "
        f"FROM ({leaderboard_sql(db, b)}) WHERE citizen_messages > 0 OR agency_posts + agency_replies > 0"
    )


def weekly_trends_sql(db: str, b: Binding) -> str:
    """Per week (Monday, UTC) and agency: messages, reply rate, SLA compliance, median response, two-way ratio."""
    # TODO(rollups): the week figures from the daily rollup; until then the report's rules per week from raw data.
    return f"""
SELECT toDateTime(toMonday(i.created_at), 'UTC') AS time, i.agency_id AS agency_id,
       count() AS citizen_messages,
       countIf(f.message_id != '') / nullIf(count(), 0) AS reply_rate,
       quantileExactIf(0.5)(f.response_seconds, f.message_id != '') AS median_response_seconds
FROM (SELECT * FROM {db}.{INTERACTIONS} FINAL
      WHERE author_role = 'citizen' AND created_at >= {b.since} AND created_at < {b.until}
        AND {_scope(db, b)}) AS i
LEFT JOIN ({facts_sql(db)}) AS f
    ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
    AND f.answered_at < {b.until}
GROUP BY time, agency_id ORDER BY time, agency_id"""


VIEWS = (
    View(
        "leaderboard",
        "Cross-agency leaderboard",
        Audience.CENTRAL,
        LEADERBOARD_COLUMNS,
        leaderboard_sql,
        description="Every agency's figures over the window; the same rows as serambi report.",
    ),
    View(
        "quadrant",
        "Soapbox or dinner party",
        Audience.CENTRAL,
        (
            Column("agency_id", Unit.TEXT, "the agency's id"),
            Column("two_way_ratio", Unit.RATIO, "replies / (replies + posts): x"),
            Column("reply_rate", Unit.RATIO, "answered / (answered + overdue): y"),
            Column("citizen_messages", Unit.COUNT, "citizen messages: bubble size"),
            Column("class", Unit.TEXT, "dinner_party, mixed, soapbox or insufficient_data"),
        ),
        quadrant_sql,
        description="Two-way ratio against reply rate; dinner parties sit top right, soapboxes bottom left.",
    ),
    View(
        "weekly_trends",
        "Weekly trends",
        Audience.CENTRAL,
        (
            Column("time", Unit.TIME, "the week's Monday, 00:00 UTC"),
            Column("agency_id", Unit.TEXT, "the agency's id"),
            Column("citizen_messages", Unit.COUNT, "citizen messages asked that week"),
            Column("reply_rate", Unit.RATIO, "of them, answered by the window's end"),
            Column("median_response_seconds", Unit.SECONDS, "median time to the first reply"),
        ),
        weekly_trends_sql,
        time_column="time",
        description="Per agency and week: is it getting better at answering?",
    ),
)
