"""The central office's views: the leaderboard, the soapbox-to-dinner-party quadrant and weekly trends.

Every figure follows the report's rules (:mod:`pipeline.storage.sql.report`, whose rules are the fragments of
:mod:`pipeline.storage.sql.fragments`); the leaderboard *is* ``serambi report``.
"""

from __future__ import annotations

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.fragments import directory_sql
from pipeline.storage.sql.rollup_sql import rolled_report_sql
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View
from schemas.tables import AGENCIES

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
    Column("removed", Unit.COUNT, "removed before any answer (neither answered nor overdue)"),
    Column("needs_reply_messages", Unit.COUNT, "of the citizen messages, those that need a reply (stored verdict)"),
    Column("reply_rate", Unit.RATIO, "answered / (answered + overdue)"),
    Column("needs_reply_rate", Unit.RATIO, "the reply rate of the messages that need a reply"),
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
    figures = rolled_report_sql(db, b, _scope(db, b))
    # Agencies of the directory in scope (tier, agency) without data in the window still get a row: a FULL
    # JOIN, so the figures are computed once (a CTE read twice would be computed twice).
    directory = f"SELECT * FROM ({directory_sql(db)}) WHERE {b.agencies('agency_id')} AND {b.tiers('tier')}"
    counts = {"citizen_messages", "answered", "pending", "overdue", "removed", "agency_posts", "agency_replies"}
    counts.update(("backlog", "needs_reply_messages"))
    columns = ", ".join(
        f"toUInt64(ifNull(r.{c.name}, 0)) AS {c.name}" if c.name in counts else f"r.{c.name} AS {c.name}"
        for c in LEADERBOARD_COLUMNS[4:]
    )
    # Names and tiers come from the whole directory: a filtered-out agency with data keeps its name.
    return f"""
SELECT if(r.agency_id = '', d.agency_id, r.agency_id) AS agency_id, ifNull(n.name, '') AS name,
       ifNull(n.tier, '') AS tier, if(r.agency_id = '', 'insufficient_data', r.class) AS class, {columns}
FROM ({figures}) AS r
FULL OUTER JOIN ({directory}) AS d ON d.agency_id = r.agency_id
LEFT JOIN ({directory_sql(db)}) AS n ON n.agency_id = if(r.agency_id = '', d.agency_id, r.agency_id)
ORDER BY agency_id"""


def quadrant_sql(db: str, b: Binding) -> str:
    """Two-way ratio x reply rate per agency, sized by citizen messages: the leaderboard's columns."""
    return (
        f"SELECT agency_id, two_way_ratio, reply_rate, citizen_messages, class "
        f"FROM ({leaderboard_sql(db, b)}) WHERE citizen_messages > 0 OR agency_posts + agency_replies > 0"
    )


def weekly_trends_sql(db: str, b: Binding) -> str:
    """Per week (Monday, UTC) and agency: the window's messages of that week, their reply rates and median response."""
    inner = rolled_report_sql(db, b, _scope(db, b), period="toMonday")
    return (
        "SELECT toDateTime(period, 'UTC') AS time, agency_id, citizen_messages, reply_rate, needs_reply_rate, "
        "median_response_seconds "
        f"FROM ({inner}) ORDER BY time, agency_id"
    )


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
            Column("needs_reply_rate", Unit.RATIO, "the same of those that need a reply"),
            Column("median_response_seconds", Unit.SECONDS, "median time to the first reply"),
        ),
        weekly_trends_sql,
        time_column="time",
        description="Per agency and week: is it getting better at answering?",
    ),
)
