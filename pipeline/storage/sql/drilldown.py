"""An agency team's views: its accounts, when citizens write and how fast they are answered, its messages.

Each view reads the agencies the binding chooses (the dashboards' ``$agency``; one agency on the board's
agency page). Every rule is a fragment of :mod:`pipeline.storage.sql.fragments`; the account figures are the
leaderboard's (:func:`~pipeline.storage.sql.rollup_sql.rolled_report_sql`) split by account.

No view reads the raw tables with ``FINAL``; duplicates (redeliveries not merged yet) collapse by
construction instead: a message or post is counted once by its ReplacingMergeTree key (``uniqExact`` over
it, which hashes the key to 128 bits, or ``LIMIT 1 BY`` it), a first response is its fact's row of the
highest version (``argMax``), and ``IN`` sets ignore repeats. Every scan is bounded by the window (the
unanswered list: by its 90-day look-back) on both sides of a join. Counts are exact and so are these views'
medians (``quantileExactInclusive``); the account figures' medians are the leaderboard's (histograms).
"""

from __future__ import annotations

from pipeline.domain.matching import CLOSED_BY_REPLY
from pipeline.domain.windows import MessageStatus
from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.fragments import (
    age_seconds_sql,
    agency_reply_sql,
    answered_sql,
    citizen_message_sql,
    directory_sql,
    float_sql,
    message_status_sql,
    pull_post_sql,
    sla_seconds_sql,
)
from pipeline.storage.sql.links import permalink_sql
from pipeline.storage.sql.rollup_sql import rolled_report_sql
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View
from schemas.tables import AGENCIES, INTERACTIONS, POSTS, RESPONSE_FACTS

__all__ = ["BANDS", "LOOKBACK", "VIEWS", "first_responses_sql", "scope_sql"]

LOOKBACK = "INTERVAL 90 DAY"
"""How far before the window's end the unanswered list looks for messages (a bound on its scan)."""
BANDS: tuple[tuple[str, float | None], ...] = (
    ("<= 15 min", 15 * 60),
    ("<= 1 h", 3600),
    ("<= 4 h", 4 * 3600),
    ("<= 24 h", 24 * 3600),
    ("<= 3 d", 3 * 24 * 3600),
    ("> 3 d", None),
)
"""The response-time distribution's bands: (label, inclusive upper bound in seconds; None for the open one)."""
_KEY = "agency_id, account_id, platform, message_id"  # a message, as facts and interactions both name it
_ANSWER_KEY = "platform, account_id, message_id"  # what the report joins facts on (an account has one agency)
_ROW_KEY = "agency_id, account_id, created_at, event_id"  # the raw tables' ReplacingMergeTree key


def scope_sql(db: str, b: Binding, agency: str = "agency_id", platform: str = "platform") -> str:
    """The binding's agency, platform and tier filters over columns ``agency`` and ``platform``."""
    return f"{b.agencies(agency)} AND {b.platforms(platform)} AND {b.in_tiers(agency, f'{db}.{AGENCIES}')}"


def _lookback(b: Binding) -> str:
    return f"({b.until} - {LOOKBACK})"


def _asked(column: str, since: str, b: Binding) -> str:
    return f"{column} >= {since} AND {column} < {b.until}"


def _answered_keys(db: str, b: Binding, since: str) -> str:
    # A message is closed (answered or removed) by `until` when any of its fact rows says so: the latest version
    # has the earliest closure, so no row closing it before `until` means the latest does not either.
    return (
        f"SELECT {_ANSWER_KEY} FROM {db}.{RESPONSE_FACTS} WHERE {_asked('asked_at', since, b)} "
        f"AND {answered_sql('answered_at', b.until)} AND {scope_sql(db, b)}"
    )


def first_responses_sql(db: str, b: Binding, since: str) -> str:
    """First responses before ``until`` to the citizen messages in scope asked in ``[since, until)``.

    One row per message: its key (agency, account, platform, message id), ``asked_at``, ``answered_at``,
    ``response_seconds``, ``business_seconds``. A fact's rows are its versions; the highest is the earliest
    closure, which filtering on ``answered_at`` first keeps; a message removed before any answer is left out.
    Facts alone are the answered messages: the worker
    stores a chunk's raw rows before its facts, so a fact's message is stored (joining it back to
    ``interactions`` gave the same rows, four times slower).
    """
    return f"""
SELECT {_KEY}, asked_at, earliest.1 AS answered_at, earliest.2 AS response_seconds, earliest.3 AS business_seconds
FROM (
    SELECT {_KEY}, asked_at,
           argMax(tuple(answered_at, response_seconds, business_seconds, closed_by), version) AS earliest
    FROM {db}.{RESPONSE_FACTS}
    WHERE {_asked("asked_at", since, b)} AND {answered_sql("answered_at", b.until)} AND {scope_sql(db, b)}
    GROUP BY {_KEY}, asked_at
)
WHERE earliest.4 = '{CLOSED_BY_REPLY}'"""


def _unanswered_rows(db: str, b: Binding, columns: str) -> str:
    # Raw rows (repeats not collapsed) of messages in scope asked in the look-back before `until` without a
    # first response before it.
    since = _lookback(b)
    return (
        f"SELECT {columns} FROM {db}.{INTERACTIONS} "
        f"WHERE {citizen_message_sql()} AND {_asked('created_at', since, b)} AND {scope_sql(db, b)} "
        f"AND ({_ANSWER_KEY}) NOT IN ({_answered_keys(db, b, since)})"
    )


def _directory_join(db: str, alias: str) -> str:
    # The directory as `ag` (SLA, official domains), by the one rule that reads it.
    return f"LEFT JOIN ({directory_sql(db)}) AS ag ON ag.agency_id = {alias}.agency_id"


def _grid() -> str:
    # Every weekday x hour cell, so a heatmap has no holes where nothing happened.
    return "SELECT toUInt8(intDiv(number, 24) + 1) AS weekday, toUInt8(number % 24) AS hour FROM numbers(168)"


def accounts_sql(db: str, b: Binding) -> str:
    """The report's figures per agency, account and platform: the leaderboard's rules, split by account."""
    inner = rolled_report_sql(db, b, scope_sql(db, b), keys=("agency_id", "account_id", "platform"))
    return f"SELECT {', '.join(c.name for c in ACCOUNTS)} FROM ({inner}) ORDER BY agency_id, platform, account_id"


def arrivals_heatmap_sql(db: str, b: Binding) -> str:
    """Citizen messages of the window by weekday and hour asked (UTC), every cell."""
    return f"""
SELECT g.weekday AS weekday, g.hour AS hour, toUInt64(coalesce(c.n, 0)) AS citizen_messages
FROM ({_grid()}) AS g
LEFT JOIN (
    SELECT toUInt8(toDayOfWeek(created_at)) AS weekday, toUInt8(toHour(created_at)) AS hour, uniqExact({_ROW_KEY}) AS n
    FROM {db}.{INTERACTIONS}
    WHERE {citizen_message_sql()} AND {_asked("created_at", b.since, b)} AND {scope_sql(db, b)}
    GROUP BY weekday, hour
) AS c ON c.weekday = g.weekday AND c.hour = g.hour
ORDER BY weekday, hour"""


def response_heatmap_sql(db: str, b: Binding) -> str:
    """Messages of the window answered by its end, and their median response, by weekday and hour asked."""
    return f"""
SELECT g.weekday AS weekday, g.hour AS hour, toUInt64(coalesce(c.n, 0)) AS answered,
       if(coalesce(c.n, 0) = 0, NULL, c.median_s) AS median_response_seconds
FROM ({_grid()}) AS g
LEFT JOIN (
    SELECT toUInt8(toDayOfWeek(asked_at)) AS weekday, toUInt8(toHour(asked_at)) AS hour, count() AS n,
           quantileExactInclusive(0.5)(response_seconds) AS median_s
    FROM ({first_responses_sql(db, b, b.since)})
    GROUP BY weekday, hour
) AS c ON c.weekday = g.weekday AND c.hour = g.hour
ORDER BY weekday, hour"""


def response_distribution_sql(db: str, b: Binding) -> str:
    """Messages of the window answered by its end, per response-time band (:data:`BANDS`, every band)."""
    labels = ", ".join(f"'{label}'" for label, _ in BANDS)
    uppers = ", ".join("NULL" if upper is None else float_sql(upper) for _, upper in BANDS)
    bounds = ", ".join(float_sql(upper) for _, upper in BANDS if upper is not None)
    return f"""
SELECT [{labels}][g.band] AS bucket, [{uppers}][g.band] AS upper_seconds, toUInt64(coalesce(c.n, 0)) AS answered
FROM (SELECT arrayJoin(range(1, {len(BANDS) + 1})) AS band) AS g
LEFT JOIN (
    SELECT 1 + arrayCount(upper -> response_seconds > upper, [{bounds}]) AS band, count() AS n
    FROM ({first_responses_sql(db, b, b.since)})
    GROUP BY band
) AS c ON c.band = g.band
ORDER BY g.band"""


def strategy_mix_sql(db: str, b: Binding) -> str:
    """Per day (UTC) of the window: push posts, pull posts and replies to citizens; days without any are 0."""
    window = f"{_asked('created_at', b.since, b)} AND {scope_sql(db, b)}"
    return f"""
SELECT time, push_posts, pull_posts, agency_replies FROM (
    SELECT toStartOfDay(toDateTime(created_at, 'UTC')) AS time,
           uniqExactIf({_ROW_KEY}, is_post AND NOT is_pull) AS push_posts,
           uniqExactIf({_ROW_KEY}, is_post AND is_pull) AS pull_posts,
           uniqExactIf({_ROW_KEY}, NOT is_post) AS agency_replies
    FROM (
        SELECT p.agency_id AS agency_id, p.account_id AS account_id, p.created_at AS created_at,
               p.event_id AS event_id, 1 AS is_post, {pull_post_sql("p.links", "ag.official_domains")} AS is_pull
        FROM (SELECT {_ROW_KEY}, links FROM {db}.{POSTS} WHERE {window}) AS p
        {_directory_join(db, "p")}
        UNION ALL
        SELECT {_ROW_KEY}, 0, 0 FROM {db}.{INTERACTIONS} WHERE {agency_reply_sql()} AND {window}
    )
    GROUP BY time
)
ORDER BY time WITH FILL FROM toStartOfDay(toDateTime({b.since}, 'UTC')) TO toDateTime({b.until}, 'UTC')
    STEP toIntervalDay(1)"""


def unanswered_sql(db: str, b: Binding) -> str:
    """Messages unanswered at the window's end (90-day look-back), oldest first, up to the limit."""
    sla = sla_seconds_sql(b.default_sla_hours, "ag")
    age = age_seconds_sql("u.created_at", b.until)
    rows = _unanswered_rows(db, b, f"{_KEY}, root_id, created_at, event_id")
    return f"""
SELECT u.agency_id AS agency_id, u.account_id AS account_id, u.platform AS platform, u.message_id AS message_id,
       u.created_at AS asked_at, {age} AS age_seconds, {message_status_sql("0", "0", age, sla)} AS status,
       {permalink_sql("u.platform", "u.message_id", "u.root_id")} AS link
FROM (
    SELECT {_KEY}, root_id, created_at FROM ({rows})
    ORDER BY created_at, agency_id, account_id, message_id
    LIMIT 1 BY {_ROW_KEY}
    LIMIT {b.limit}
) AS u
{_directory_join(db, "u")}
ORDER BY asked_at, agency_id, account_id, message_id"""


ACCOUNTS = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("account_id", Unit.TEXT, "the account's id on its platform"),
    Column("platform", Unit.TEXT, "facebook, instagram, x, youtube, mastodon, bluesky or tiktok"),
    Column("citizen_messages", Unit.COUNT, "citizen messages asked in the window"),
    Column("answered", Unit.COUNT, "of them, answered before the window's end"),
    Column("needs_reply_messages", Unit.COUNT, "of the citizen messages, those that need a reply (stored verdict)"),
    Column("reply_rate", Unit.RATIO, "answered / (answered + overdue)"),
    Column("needs_reply_rate", Unit.RATIO, "the reply rate of the messages that need a reply"),
    Column("sla_compliance", Unit.RATIO, "answered within the SLA / (answered + overdue)"),
    Column("median_response_seconds", Unit.SECONDS, "median time to the first reply"),
    Column("two_way_ratio", Unit.RATIO, "replies / (replies + posts)"),
    Column("backlog", Unit.COUNT, "messages unanswered at the window's end, whatever their age"),
    Column("class", Unit.TEXT, "dinner_party, mixed, soapbox or insufficient_data"),
)
ARRIVALS_HEATMAP = (
    Column("weekday", Unit.WEEKDAY, "ISO weekday the message was asked (1 = Monday), UTC"),
    Column("hour", Unit.HOUR, "hour of day it was asked, UTC"),
    Column("citizen_messages", Unit.COUNT, "citizen messages asked then, in the window"),
)
RESPONSE_HEATMAP = (
    Column("weekday", Unit.WEEKDAY, "ISO weekday the message was asked (1 = Monday), UTC"),
    Column("hour", Unit.HOUR, "hour of day it was asked, UTC"),
    Column("answered", Unit.COUNT, "of those messages, answered by the window's end"),
    Column("median_response_seconds", Unit.SECONDS, "their median time to the first reply (NULL when none)"),
)
RESPONSE_DISTRIBUTION = (
    Column("bucket", Unit.TEXT, "a response-time band, e.g. '<= 15 min' (every band, in order)"),
    Column("upper_seconds", Unit.SECONDS, "the band's inclusive upper bound (NULL for the last, open band)"),
    Column("answered", Unit.COUNT, "messages of the window first answered within the band, by its end"),
)
STRATEGY_MIX = (
    Column("time", Unit.TIME, "the day, 00:00 UTC"),
    Column("push_posts", Unit.COUNT, "posts without an official link"),
    Column("pull_posts", Unit.COUNT, "posts linking to an official domain"),
    Column("agency_replies", Unit.COUNT, "replies to citizens (networking)"),
)
UNANSWERED = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("account_id", Unit.TEXT, "the account the message was written to"),
    Column("platform", Unit.TEXT, "its platform"),
    Column("message_id", Unit.TEXT, "the message's id on its platform"),
    Column("asked_at", Unit.TIME, "when it was written"),
    Column("age_seconds", Unit.SECONDS, "its age at the window's end"),
    Column("status", Unit.TEXT, f"{MessageStatus.PENDING.value} (within the SLA) or {MessageStatus.OVERDUE.value}"),
    Column("link", Unit.URL, "the message on its platform when its ids make one, else NULL (see links.py)"),
)


VIEWS = (
    View("agency_accounts", "Accounts and platforms", Audience.AGENCY, ACCOUNTS, accounts_sql,
         description="Each account's figures over the window, by the report's rules."),
    View("arrivals_heatmap", "When citizens write", Audience.AGENCY, ARRIVALS_HEATMAP, arrivals_heatmap_sql,
         description="Citizen messages by weekday and hour (UTC)."),
    View("response_heatmap", "How fast, by when they wrote", Audience.AGENCY, RESPONSE_HEATMAP, response_heatmap_sql,
         description="Answered messages and their median response by weekday and hour asked (UTC)."),
    View("response_distribution", "Response-time distribution", Audience.AGENCY, RESPONSE_DISTRIBUTION,
         response_distribution_sql, description="Answered messages by response-time band."),
    View("strategy_mix", "Push, pull and networking", Audience.AGENCY, STRATEGY_MIX, strategy_mix_sql,
         time_column="time", description="Output per day by strategy."),
    View("unanswered", "Unanswered messages", Audience.AGENCY, UNANSWERED, unanswered_sql,
         description="Messages still unanswered at the window's end, oldest first, up to the limit."),
)  # fmt: skip
