"""The report's figures from rollups: how a day is rolled up, and how a window reads rollups plus raw data.

A day is derived whole (its ``day_rollup`` rows and its ``hour_rollup`` rows, under one build number). The
cover ``c_ts`` is the first instant the rollups do not hold: the start of the first day that is not *clean*
(touched, i.e. holding data, but not derived since its last touch; derived under another directory of SLAs
and official domains; or holding a first response at or after ``until``), or the end of the whole hours a
clean build of the current day holds; at most ``until``'s hour. Days without data are clean and empty.

A window ``[since, until)`` is then read in slices:

- **whole days** ``[first_full, day_until)`` from ``day_rollup``, where ``day_until`` is at most the cover and
  the largest SLA before ``until`` (so each of their unanswered messages is surely overdue at ``until``);
- **hours** from ``hour_rollup``: the window's other whole hours before the cover (the recent days', and those
  of the first, partial day from ``first_hour`` on); pending or overdue from each unanswered message's time;
- **raw data** for the rest: the first partial hour and everything from the cover on, with the window pushed
  into both sides of the join (messages by ``created_at``, facts by ``asked_at``; projections sorted by time,
  migration 0007, make those reads touch only their hours).

So a late reply, a redelivery or a directory change makes the figures fall back to raw data from that day on
until the refresher (:mod:`pipeline.storage.rollup`) derives it again: the figures are exact at every moment,
only slower meanwhile. The backlog (unanswered messages asked before ``until``, whatever their age) reads the
whole days before ``day_until``, the hours from there to the cover, and raw data after. Raw tables are
deduplicated by construction (``LIMIT 1 BY event_id``; facts by ``argMax(..., version)``), never ``FINAL``.
Quantiles come from log histograms (:mod:`pipeline.domain.histogram`): within 1 % of the exact nearest-rank
quantile; every count is exact. The needs-reply counts (messages whose stored verdict says they need a reply) go
through every slice like the plain ones; the hour rows keep those messages' open times apart to judge them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.classify import ClassThresholds
from pipeline.domain.matching import CLOSED_BY_REMOVAL, CLOSED_BY_REPLY
from pipeline.domain.windows import MessageStatus
from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.fragments import (
    age_seconds_sql,
    agency_reply_sql,
    citizen_message_sql,
    closed_sql,
    directory_hash_sql,
    directory_sql,
    figures_sql,
    hist_bucket_sql,
    message_status_sql,
    pull_post_sql,
    sla_seconds_sql,
    within_sla_sql,
)
from schemas.tables import (
    AGENCIES,
    DAY_ROLLUP,
    HOUR_ROLLUP,
    INTERACTIONS,
    POSTS,
    RESPONSE_FACTS,
    ROLLUP_BUILDS,
    ROLLUP_TOUCHES,
)

__all__ = [
    "FAR_FUTURE",
    "ROLLUP_COLUMNS",
    "build_days_sql",
    "covered_until_sql",
    "delete_old_builds_sql",
    "garbage_sql",
    "record_builds_sql",
    "rolled_report_sql",
    "stale_days_sql",
]

FAR_FUTURE = "toDateTime64('2299-12-31 00:00:00', 3, 'UTC')"
"""``oldest_unanswered_at`` of a day without unanswered messages (so ``min`` ignores it)."""
_EMPTY_HIST = "CAST(map(), 'Map(UInt16, UInt64)')"
_NO_TIMES = "CAST([], 'Array(DateTime64(3, \\'UTC\\'))')"
ROLLUP_COLUMNS = (
    "build",
    "day",
    "agency_id",
    "account_id",
    "platform",
    "citizen_messages",
    "answered",
    "answered_within_sla",
    "unanswered",
    "oldest_unanswered_at",
    "response_hist",
    "business_hist",
    "agency_posts",
    "pull_posts",
    "agency_replies",
    "removed",
    "needs_reply_messages",
    "needs_reply_answered",
    "needs_reply_unanswered",
)
_THRESHOLDS = ClassThresholds()


def _oldest(created_at: str, unanswered: str) -> str:
    # minIf of no row is 1970, which would be the oldest of all; and ClickHouse 26.9 returned 1970 for
    # if(countIf(c) = 0, far, minIf(x, c)) in a grouped subquery. A plain min over far-future stand-ins is neither.
    return f"min(if({unanswered}, {created_at}, {FAR_FUTURE}))"


def _facts(db: str, where: str) -> str:
    # The latest version of each first response (a late, earlier reply revises a fact under a higher version).
    return (
        f"SELECT agency_id, account_id, platform, message_id, argMax(answered_at, version) AS answered_at, "
        f"argMax(response_seconds, version) AS response_seconds, "
        f"argMax(business_seconds, version) AS business_seconds, argMax(closed_by, version) AS closed_by "
        f"FROM {db}.{RESPONSE_FACTS} WHERE {where} GROUP BY agency_id, account_id, platform, message_id"
    )


def _output_events(db: str, where: str) -> str:
    # The agency's output written where ``where`` holds (a condition on created_at and the keys): its posts,
    # pull or not, and its replies, each once. Rollups and the raw slice group it their own way.
    return f"""
            SELECT p.agency_id AS agency_id, p.account_id AS account_id, p.platform AS platform,
                   p.created_at AS created_at, 1 AS is_post,
                   {pull_post_sql("p.links", "ag.official_domains")} AS is_pull
            FROM (SELECT agency_id, account_id, platform, links, created_at FROM {db}.{POSTS}
                  WHERE {where} LIMIT 1 BY event_id) AS p
            LEFT JOIN ({directory_sql(db)}) AS ag ON ag.agency_id = p.agency_id
            UNION ALL
            SELECT agency_id, account_id, platform, created_at, 0, 0
            FROM (SELECT agency_id, account_id, platform, created_at FROM {db}.{INTERACTIONS}
                  WHERE {agency_reply_sql()} AND {where} LIMIT 1 BY event_id)"""


def _current_builds(db: str) -> str:
    return (
        f"SELECT day, max(build) AS latest, argMax(built_at, build) AS built_at, "
        f"argMax(max_answered_at, build) AS max_answered_at, argMax(complete_until, build) AS complete_until, "
        f"argMax(directory, build) AS directory "
        f"FROM {db}.{ROLLUP_BUILDS} GROUP BY day"
    )


def _touches(db: str) -> str:
    return f"SELECT day, max(touched_at) AS touched_at FROM {db}.{ROLLUP_TOUCHES} GROUP BY day"


# --- writing rollups (the refresher) ------------------------------------------------------------------------


def build_days_sql(db: str, table: str = DAY_ROLLUP) -> str:
    """Insert the rollup rows of the days ``{days:Array(Date)}`` under build ``{build:UInt64}``.

    ``table`` is ``day_rollup`` (a row per day) or ``hour_rollup`` (a row per hour, with each unanswered
    message's time). The default SLA is ``{default_sla_hours:Float64}``. Raw rows are deduplicated here too,
    so a day built while a redelivery is still unmerged counts each message once.
    """
    hourly = table == HOUR_ROLLUP
    bucket = "toStartOfHour({c}, 'UTC')" if hourly else "toDate({c}, 'UTC')"
    # The range lets ClickHouse skip partitions and granules; has() then keeps only the chosen days.
    days = (
        "created_at >= toDateTime(arrayMin({days:Array(Date)}), 'UTC') "
        "AND created_at < toDateTime(arrayMax({days:Array(Date)}) + 1, 'UTC') "
        "AND has({days:Array(Date)}, toDate(created_at, 'UTC'))"
    )
    sla_s = sla_seconds_sql("{default_sla_hours:Float64}", "ag")
    # A fact is the first closure: by an agency reply (answered) or by the message's removal (removed).
    answered = f"f.message_id != '' AND f.closed_by = '{CLOSED_BY_REPLY}'"
    removed = f"f.message_id != '' AND f.closed_by = '{CLOSED_BY_REMOVAL}'"
    open_ = "f.message_id = ''"
    unanswered_at = (
        f", groupArrayIf(i.created_at, {open_}) AS unanswered_at, "
        f"groupArrayIf(i.created_at, i.needs_reply AND {open_}) AS needs_reply_unanswered_at"
        if hourly
        else ""
    )
    no_times = f", {_NO_TIMES}, {_NO_TIMES}" if hourly else ""
    messages = f"""
        SELECT {bucket.format(c="i.created_at")} AS bucket, i.agency_id AS agency_id, i.account_id AS account_id,
               i.platform AS platform, count() AS citizen_messages, countIf({answered}) AS answered,
               countIf({answered} AND {within_sla_sql("f.response_seconds", sla_s)}) AS answered_within_sla,
               countIf({open_}) AS unanswered,
               {_oldest("i.created_at", open_)} AS oldest_unanswered_at,
               sumMapIf(map({hist_bucket_sql("f.response_seconds")}, toUInt64(1)), {answered}) AS response_hist,
               sumMapIf(map({hist_bucket_sql("f.business_seconds")}, toUInt64(1)), {answered}) AS business_hist,
               toUInt64(0) AS agency_posts, toUInt64(0) AS pull_posts, toUInt64(0) AS agency_replies,
               countIf({removed}) AS removed, countIf(i.needs_reply) AS needs_reply_messages,
               countIf(i.needs_reply AND {answered}) AS needs_reply_answered,
               countIf(i.needs_reply AND {open_}) AS needs_reply_unanswered{unanswered_at}
        FROM (SELECT agency_id, account_id, platform, message_id, created_at, needs_reply FROM {db}.{INTERACTIONS}
              WHERE {citizen_message_sql()} AND {days} LIMIT 1 BY event_id) AS i
        LEFT JOIN ({_facts(db, days.replace("created_at", "asked_at"))}) AS f
            ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
        LEFT JOIN ({directory_sql(db)}) AS ag ON ag.agency_id = i.agency_id
        GROUP BY bucket, agency_id, account_id, platform"""
    output = f"""
        SELECT {bucket.format(c="created_at")} AS bucket, agency_id, account_id, platform, toUInt64(0), toUInt64(0),
               toUInt64(0), toUInt64(0), {FAR_FUTURE}, {_EMPTY_HIST}, {_EMPTY_HIST},
               countIf(is_post), countIf(is_post AND is_pull), countIf(NOT is_post), toUInt64(0), toUInt64(0),
               toUInt64(0), toUInt64(0){no_times}
        FROM ({_output_events(db, days)})
        GROUP BY bucket, agency_id, account_id, platform"""
    columns = (
        ROLLUP_COLUMNS
        if not hourly
        else (*ROLLUP_COLUMNS[:1], "hour", *ROLLUP_COLUMNS[2:], "unanswered_at", "needs_reply_unanswered_at")
    )
    return f"""
INSERT INTO {db}.{table} ({", ".join(columns)})
SELECT {{build:UInt64}}, bucket, agency_id, account_id, platform, sum(citizen_messages), sum(answered),
       sum(answered_within_sla), sum(unanswered), min(oldest_unanswered_at), sumMap(response_hist),
       sumMap(business_hist), sum(agency_posts), sum(pull_posts), sum(agency_replies), sum(removed),
       sum(needs_reply_messages), sum(needs_reply_answered), sum(needs_reply_unanswered)
       {", groupArrayArray(unanswered_at), groupArrayArray(needs_reply_unanswered_at)" if hourly else ""}
FROM ({messages}
      UNION ALL {output})
GROUP BY bucket, agency_id, account_id, platform"""


def record_builds_sql(db: str) -> str:
    """Record build ``{build:UInt64}`` of the days ``{days:Array(Date)}`` as current.

    ``{built_at:DateTime64(6, 'UTC')}`` is a server time taken before the rows were read, minus a margin (an
    insert may stamp its touch before its rows become visible); the directory hash is the one read before too.
    ``{read_at:DateTime64(6, 'UTC')}`` is when the rows were read: a day not over then is whole up to its hour.
    """
    return f"""
INSERT INTO {db}.{ROLLUP_BUILDS} (day, build, built_at, max_answered_at, complete_until, directory)
SELECT d.day, {{build:UInt64}}, {{built_at:DateTime64(6, 'UTC')}},
       if(f.day = toDate(0), toDateTime64(0, 3, 'UTC'), f.max_answered_at),
       least(toDateTime64(toDateTime(d.day + 1, 'UTC'), 3, 'UTC'),
             toDateTime64(toStartOfHour({{read_at:DateTime64(6, 'UTC')}}, 'UTC'), 3, 'UTC')),
       {{directory:UInt64}}
FROM (SELECT arrayJoin({{days:Array(Date)}}) AS day) AS d
LEFT JOIN (SELECT toDate(asked_at) AS day, max(answered_at) AS max_answered_at FROM {db}.{RESPONSE_FACTS}
           WHERE has({{days:Array(Date)}}, toDate(asked_at)) GROUP BY day) AS f ON f.day = d.day"""


def stale_days_sql(db: str) -> str:
    """Days to re-derive, oldest first.

    They hold data that nothing touched since ``{quiet_before:DateTime64(6, 'UTC')}`` (a day still being written
    is not derived over and over), and their current build is missing, older than their last touch, made under
    another directory than ``{directory:UInt64}``, or a build of a day not over that lacks hours complete by
    ``{now:DateTime64(6, 'UTC')}``.
    """
    complete = (
        "least(toDateTime64(toDateTime(t.day + 1, 'UTC'), 3, 'UTC'), toStartOfHour({now:DateTime64(6, 'UTC')}, 'UTC'))"
    )
    return f"""
SELECT t.day FROM ({_touches(db)}) AS t
LEFT JOIN ({_current_builds(db)}) AS r ON r.day = t.day
WHERE t.day <= toDate({{now:DateTime64(6, 'UTC')}}, 'UTC') AND t.touched_at < {{quiet_before:DateTime64(6, 'UTC')}}
  AND NOT (r.built_at >= t.touched_at AND r.directory = {{directory:UInt64}} AND r.complete_until >= {complete})
ORDER BY t.day"""


def delete_old_builds_sql(db: str, table: str = DAY_ROLLUP) -> str:
    """Delete the rows of ``table`` (``day_rollup`` or ``hour_rollup``) of builds older than their day's current one.

    Only older builds: another refresher's newer build, written but not yet recorded, must survive.
    """
    day = "day" if table == DAY_ROLLUP else "toDate(hour, 'UTC')"
    return f"""
DELETE FROM {db}.{table} WHERE ({day}, build) IN (
    SELECT rows.day, rows.build FROM (SELECT DISTINCT {day} AS day, build FROM {db}.{table}) AS rows
    INNER JOIN ({_current_builds(db)}) AS current ON current.day = rows.day
    WHERE rows.build < current.latest)"""


def garbage_sql(db: str) -> str:
    """Rows of old builds and rows of current builds in ``day_rollup``."""
    current = _is_current(db, "day")
    return f"SELECT countIf(NOT ({current})), countIf({current}) FROM {db}.{DAY_ROLLUP}"


# --- reading rollups + raw data ------------------------------------------------------------------------------


def covered_until_sql(db: str, b: Binding) -> str:
    """A scalar instant (a whole hour, at most ``until``'s): the rollups cover everything before it.

    It is the start of the first day that is not clean (see the module doc), or the end of the whole hours of
    a clean build of a day not over, else the hour ``until`` falls in.
    """
    limit = f"toDateTime(toStartOfHour({b.until}, 'UTC'), 'UTC')"
    clean = (
        f"r.built_at >= t.touched_at AND r.directory = {directory_hash_sql(db, b.default_sla_hours)} "
        f"AND r.max_answered_at < {b.until}"
    )
    day_end = "toDateTime(t.day + 1, 'UTC')"
    bound = f"if({clean}, toDateTime(r.complete_until, 'UTC'), toDateTime(t.day, 'UTC'))"
    return (
        f"(SELECT least(ifNull(minOrNull({bound}), {limit}), {limit}) FROM ({_touches(db)}) AS t "
        f"LEFT JOIN ({_current_builds(db)}) AS r ON r.day = t.day "
        f"WHERE t.day <= toDate({b.until}, 'UTC') AND NOT (({clean}) AND r.complete_until >= {day_end}))"
    )


def _max_sla_seconds(db: str, b: Binding) -> str:
    # The largest SLA of any agency (any row, old ones too: larger is only safer) or the default.
    return f"(SELECT greatest(ifNull(max(sla_hours), 0), {b.default_sla_hours}) * 3600 FROM {db}.{AGENCIES})"


def _bounds(db: str, b: Binding) -> str:
    # The slices of the module doc, as WITH aliases. Instants are cut at the microsecond: a window starting at
    # 10:00:00.5 does not start on the hour.
    return f"""{b.since} AS t_since, {b.until} AS t_until, {b.default_sla_hours} AS t_default_sla,
     toUnixTimestamp64Micro(toDateTime64(t_since, 6, 'UTC')) AS since_us,
     toDate(t_since, 'UTC') + if(since_us % 86400000000 = 0, 0, 1) AS first_full,
     toDateTime(intDiv(since_us + 3599999999, 3600000000) * 3600, 'UTC') AS first_hour,
     {covered_until_sql(db, b)} AS c_ts,
     least(toDate(c_ts, 'UTC'),
           toDate(t_until - toIntervalSecond(toInt64(ceil({_max_sla_seconds(db, b)}))), 'UTC')) AS day_until,
     toDateTime(first_full, 'UTC') AS f_ts,
     greatest(f_ts, toDateTime(day_until, 'UTC')) AS e_ts"""


def _is_current(db: str, day: str) -> str:
    return f"({day}, build) IN (SELECT day, latest FROM ({_current_builds(db)}))"


def rolled_report_sql(  # noqa: PLR0913 - the figures' whole definition
    db: str,
    b: Binding,
    scope: str,
    *,
    keys: Sequence[str] = ("agency_id",),
    period: str | None = None,
    thresholds: ClassThresholds = _THRESHOLDS,
) -> str:
    """The report's figures per ``keys`` (and per ``period`` when given) over the binding's window.

    ``scope`` is a condition over ``agency_id`` and ``platform`` (the binding's filters). ``period`` is a
    function of a day, e.g. ``toMonday``: rows then carry ``period`` (a Date) and the window figures of the
    messages and output of that period; the backlog columns are then 0/NULL (a backlog is of a moment).
    Output columns: ``keys``, [``period``], citizen_messages, answered, pending, overdue, removed,
    needs_reply_messages, reply_rate, needs_reply_rate, sla_compliance, median/p90 response and business
    seconds, agency_posts, agency_replies, two_way_ratio, push/pull/networking shares, backlog,
    oldest_unanswered_seconds, class.

    Slices: whole days ``[first_full, day_until)`` from ``day_rollup`` (their unanswered messages are surely
    overdue at ``until``); the other hours before ``the cover`` from ``hour_rollup`` (pending or overdue by
    each unanswered message's age); the rest of the window, at most the partial first hour and the days from
    the cover on, from raw data. The backlog: days before ``day_until``, hours from it to
    the cover, raw data after.
    """
    s = MessageStatus
    group = [*keys, *(["period"] if period else [])]
    key_list = ", ".join(group)
    rows_keys = ", ".join(keys)
    want_backlog = period is None
    sla_s = sla_seconds_sql("t_default_sla", "ag")
    days = _day_part(db, rows_keys, key_list, scope, period, want_backlog)
    hours = _hour_part(db, rows_keys, key_list, scope, period, want_backlog, sla_s)
    raw_region = (
        "created_at >= least(t_since, c_ts) AND created_at < t_until "
        "AND NOT (created_at >= first_hour AND created_at < c_ts)"
    )
    asked_region = raw_region.replace("created_at", "asked_at")
    period_raw = f", {period}(toDate(created_at, 'UTC')) AS period" if period else ""
    answered = closed_sql("f", "t_until", CLOSED_BY_REPLY)
    removed = closed_sql("f", "t_until", CLOSED_BY_REMOVAL)
    messages = f"""
        SELECT {rows_keys}{period_raw},
               countIf(w) AS citizen_messages, countIf(w AND is_answered) AS answered,
               countIf(w AND status = '{s.ANSWERED_WITHIN_SLA.value}') AS answered_within_sla,
               countIf(w AND status = '{s.PENDING.value}') AS pending,
               countIf(w AND status = '{s.OVERDUE.value}') AS overdue,
               sumMapIf(map({hist_bucket_sql("response_seconds")}, toUInt64(1)), w AND is_answered) AS response_hist,
               sumMapIf(map({hist_bucket_sql("business_seconds")}, toUInt64(1)), w AND is_answered) AS business_hist,
               toUInt64(0) AS agency_posts, toUInt64(0) AS pull_posts, toUInt64(0) AS agency_replies,
               {"countIf(bk AND NOT is_answered AND NOT is_removed)" if want_backlog else "toUInt64(0)"} AS backlog,
               {_oldest("created_at", "bk AND NOT is_answered AND NOT is_removed") if want_backlog else FAR_FUTURE}
                   AS oldest_unanswered_at,
               countIf(w AND is_removed) AS removed, countIf(w AND needs_reply) AS needs_reply_messages,
               countIf(w AND needs_reply AND is_answered) AS needs_reply_answered,
               countIf(w AND needs_reply AND status = '{s.OVERDUE.value}') AS needs_reply_overdue
        FROM (
            SELECT i.agency_id AS agency_id, i.account_id AS account_id, i.platform AS platform,
                   i.created_at AS created_at, i.created_at >= t_since AS w, i.created_at >= c_ts AS bk,
                   i.needs_reply AS needs_reply,
                   {answered} AS is_answered, {removed} AS is_removed, f.response_seconds AS response_seconds,
                   f.business_seconds AS business_seconds, {sla_s} AS sla_s,
                   {age_seconds_sql("i.created_at", "t_until")} AS age_s,
                   {message_status_sql("is_answered", "response_seconds", "age_s", "sla_s", "is_removed")} AS status
            FROM (SELECT agency_id, account_id, platform, message_id, created_at, needs_reply FROM {db}.{INTERACTIONS}
                  WHERE {citizen_message_sql()} AND {raw_region} AND {scope} LIMIT 1 BY event_id) AS i
            LEFT JOIN ({_facts(db, f"{asked_region} AND {scope}")}) AS f
                ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
            LEFT JOIN ({directory_sql(db)}) AS ag ON ag.agency_id = i.agency_id
            WHERE {"1" if want_backlog else "w"}
        )
        GROUP BY {key_list}"""
    window = "created_at >= t_since AND " + raw_region
    output = f"""
        SELECT {rows_keys}{period_raw}, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0),
               toUInt64(0), {_EMPTY_HIST}, {_EMPTY_HIST},
               countIf(is_post), countIf(is_post AND is_pull), countIf(NOT is_post), toUInt64(0), {FAR_FUTURE},
               toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0)
        FROM ({_output_events(db, f"{window} AND {scope}")})
        GROUP BY {key_list}"""
    return f"""
WITH {_bounds(db, b)}
SELECT {key_list}, {figures_sql(thresholds, age_seconds_sql("oldest_unanswered_at", "t_until"))}
FROM (
    SELECT {key_list}, sum(citizen_messages) AS citizen_messages, sum(answered) AS answered,
           sum(answered_within_sla) AS answered_within_sla, sum(pending) AS pending, sum(overdue) AS overdue,
           sumMap(response_hist) AS response_hist, sumMap(business_hist) AS business_hist,
           sum(agency_posts) AS agency_posts, sum(pull_posts) AS pull_posts, sum(agency_replies) AS agency_replies,
           sum(backlog) AS backlog, min(oldest_unanswered_at) AS oldest_unanswered_at, sum(removed) AS removed,
           sum(needs_reply_messages) AS needs_reply_messages, sum(needs_reply_answered) AS needs_reply_answered,
           sum(needs_reply_overdue) AS needs_reply_overdue
    FROM ({days}
          UNION ALL {hours}
          UNION ALL {messages}
          UNION ALL {output})
    GROUP BY {key_list}
)
ORDER BY {key_list}"""


def _day_part(  # noqa: PLR0913 - one slice's whole context
    db: str, rows_keys: str, key_list: str, scope: str, period: str | None, want_backlog: bool
) -> str:
    # Whole days before day_until: in the window from first_full on; every one of them for the backlog. Their
    # unanswered messages are all overdue at until. Two scans: the window's days with their histograms, and the
    # backlog over all days reading two columns only (histograms are most of a row).
    period_day = f", {period}(day) AS period" if period else ""
    current = f"day < day_until AND {_is_current(db, 'day')} AND {scope}"
    window = f"""
        SELECT {rows_keys}{period_day},
               sum(citizen_messages) AS citizen_messages, sum(answered) AS answered,
               sum(answered_within_sla) AS answered_within_sla, toUInt64(0) AS pending,
               sum(unanswered) AS overdue, sumMap(response_hist) AS response_hist,
               sumMap(business_hist) AS business_hist, sum(agency_posts) AS agency_posts,
               sum(pull_posts) AS pull_posts, sum(agency_replies) AS agency_replies,
               toUInt64(0) AS backlog, {FAR_FUTURE} AS oldest_unanswered_at, sum(removed) AS removed,
               sum(needs_reply_messages) AS needs_reply_messages, sum(needs_reply_answered) AS needs_reply_answered,
               sum(needs_reply_unanswered) AS needs_reply_overdue
        FROM {db}.{DAY_ROLLUP} WHERE day >= first_full AND {current}
        GROUP BY {key_list}"""
    if not want_backlog:
        return window
    return f"""{window}
        UNION ALL
        SELECT {rows_keys}, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0),
               {_EMPTY_HIST}, {_EMPTY_HIST}, toUInt64(0), toUInt64(0), toUInt64(0),
               sum(unanswered), min(oldest_unanswered_at), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0)
        FROM {db}.{DAY_ROLLUP} WHERE {current}
        GROUP BY {key_list}"""


def _hour_part(  # noqa: PLR0913 - one slice's whole context
    db: str, rows_keys: str, key_list: str, scope: str, period: str | None, want_backlog: bool, sla_s: str
) -> str:
    # Hours of clean days (before the cover, c_ts) that the day slice does not hold: the window's hours from
    # first_hour outside [first_full, e_ts), and for the backlog the hours from day_until on. Whether an
    # unanswered message is pending depends on its age at until: counted from its time, by the report's rule.
    # Two scans, like the days': no aggregate needs a condition on the oldest message (ClickHouse 26.9 gave
    # 1970 for a conditional minimum over a group with no matching row here).
    period_hour = f", {period}(toDate(hour, 'UTC')) AS period" if period else ""
    pending = f"arrayCount(t -> {age_seconds_sql('t', 't_until')} <= {sla_s}, unanswered_at)"
    needs_pending = pending.replace("unanswered_at)", "needs_reply_unanswered_at)")
    hour_day = "toDate(hour, 'UTC')"
    current = f"hour < c_ts AND {_is_current(db, hour_day)} AND {scope}"
    window = f"""
        SELECT {rows_keys}{period_hour},
               sum(citizen_messages) AS citizen_messages, sum(answered) AS answered,
               sum(answered_within_sla) AS answered_within_sla, sum(pend) AS pending,
               toUInt64(sum(unanswered) - sum(pend)) AS overdue, sumMap(response_hist) AS response_hist,
               sumMap(business_hist) AS business_hist, sum(agency_posts) AS agency_posts,
               sum(pull_posts) AS pull_posts, sum(agency_replies) AS agency_replies,
               toUInt64(0) AS backlog, {FAR_FUTURE} AS oldest_unanswered_at, sum(removed) AS removed,
               sum(needs_reply_messages) AS needs_reply_messages, sum(needs_reply_answered) AS needs_reply_answered,
               toUInt64(sum(needs_reply_unanswered) - sum(needs_reply_pend)) AS needs_reply_overdue
        FROM (SELECT h.*, toUInt64({pending}) AS pend, toUInt64({needs_pending}) AS needs_reply_pend
              FROM (SELECT * FROM {db}.{HOUR_ROLLUP}
                    WHERE hour >= first_hour AND NOT (hour >= f_ts AND hour < e_ts) AND {current}) AS h
              LEFT JOIN ({directory_sql(db)}) AS ag ON ag.agency_id = h.agency_id)
        GROUP BY {key_list}"""
    if not want_backlog:
        return window
    return f"""{window}
        UNION ALL
        SELECT {rows_keys}, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0),
               {_EMPTY_HIST}, {_EMPTY_HIST}, toUInt64(0), toUInt64(0), toUInt64(0),
               sum(unanswered), min(oldest_unanswered_at), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0)
        FROM {db}.{HOUR_ROLLUP} WHERE hour >= toDateTime(day_until, 'UTC') AND {current}
        GROUP BY {key_list}"""
