"""Operations' views: backlogs now, active surges, the alert timeline and arrivals against their baseline.

"Now" is the window's end (``until``): a dashboard ending now shows the present, an older window shows how it
stood then. Backlogs are the leaderboard's (daily rollups plus the open slice of raw data); alerts come from
the ``alerts`` table (the latest transition of each alert; ``FINAL`` on that small table), an agency-wide alert
(platform ``all``) passing any platform filter; ``asks_about`` is an alert's top terms as one text (a table
cell on the board and in Grafana; Prometheus never gets them). Arrivals are counted once per raw-table key,
without ``FINAL``.
"""

from __future__ import annotations

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.drilldown import scope_sql
from pipeline.storage.sql.fragments import citizen_message_sql
from pipeline.storage.sql.rollup_sql import rolled_report_sql
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View
from schemas.alerts import ALL_PLATFORMS
from schemas.tables import AGENCIES, ALERTS, INTERACTIONS

__all__ = ["BASELINE_WEEKS", "PENDING_DAYS", "VIEWS"]

BASELINE_WEEKS = 4
"""An hour's baseline is the mean of the same hour of the week over this many weeks before it."""
PENDING_DAYS = 90
"""No SLA is this long: a message older than this at ``until`` is overdue (when unanswered)."""
_ROW_KEY = "agency_id, account_id, created_at, event_id"  # the raw tables' ReplacingMergeTree key


class _PendingWindow(Binding):
    """``b`` with its window widened to the :data:`PENDING_DAYS` whole days before its end.

    That window holds every message still within its SLA at ``until`` (SLAs are hours or days), so the
    report's *pending* count over it is all of them.
    """

    def __init__(self, b: Binding) -> None:
        self._b = b

    @property
    def since(self) -> str:
        return f"(toStartOfDay(toDateTime({self._b.until}, 'UTC')) - toIntervalDay({PENDING_DAYS}))"

    @property
    def until(self) -> str:
        return self._b.until

    @property
    def default_sla_hours(self) -> str:
        return self._b.default_sla_hours

    @property
    def limit(self) -> str:
        return self._b.limit

    def filter(self, kind: str, column: str) -> str:
        return self._b.filter(kind, column)

    def in_tiers(self, column: str, directory: str) -> str:
        return self._b.in_tiers(column, directory)


def backlog_now_sql(db: str, b: Binding) -> str:
    """Per agency with any: messages unanswered at ``until``, overdue ones, the oldest one's age.

    The leaderboard's backlog (from the daily rollups and the open slice): every message unanswered at
    ``until``, whatever its age. Those not pending are overdue; the pending ones are all in the last
    :data:`PENDING_DAYS` days, the report's window here.
    """
    report = rolled_report_sql(db, _PendingWindow(b), scope_sql(db, b))
    return f"""
SELECT agency_id, backlog, toUInt64(backlog - pending) AS overdue, oldest_unanswered_seconds
FROM ({report})
WHERE backlog > 0
ORDER BY backlog DESC, agency_id"""


def _alerts(db: str, b: Binding, open_sql: str) -> str:
    # The latest transition of every alert (FINAL replaces within the alert's one partition), filtered after it:
    # WHERE runs on the merged rows, so an older transition of a resolved alert never passes as active.
    platform = f"({b.platforms('platform')} OR platform = '{ALL_PLATFORMS}')"
    scope = f"{b.agencies('agency')} AND {platform} AND {b.in_tiers('agency', f'{db}.{AGENCIES}')}"
    return f"""
SELECT * FROM (
    SELECT alert_id, agency, platform, severity, started_at, resolved_at, backlog, arrivals_per_minute,
           baseline_per_minute, arrayStringConcat(top_terms, ', ') AS asks_about
    FROM {db}.{ALERTS} FINAL
)
WHERE {open_sql} AND {scope}"""


def active_alerts_sql(db: str, b: Binding) -> str:
    """Alerts active at the window's end (started before it, not resolved by it), critical first, oldest first."""
    active = f"started_at < {b.until} AND (resolved_at IS NULL OR resolved_at >= {b.until})"
    return f"""
SELECT alert_id, agency AS agency_id, platform, severity, started_at, backlog, arrivals_per_minute,
       baseline_per_minute, asks_about
FROM ({_alerts(db, b, active)})
ORDER BY severity = 'critical' DESC, started_at, alert_id"""


def alert_timeline_sql(db: str, b: Binding) -> str:
    """Alerts open at some time in the window, from their start to their resolution (or the window's end)."""
    open_in_window = f"started_at < {b.until} AND (resolved_at IS NULL OR resolved_at >= {b.since})"
    until = f"toDateTime64({b.until}, 3, 'UTC')"
    return f"""
SELECT started_at AS time, least(coalesce(resolved_at, {until}), {until}) AS end_time, agency AS agency_id,
       severity, alert_id, asks_about
FROM ({_alerts(db, b, open_in_window)})
ORDER BY time, agency_id, alert_id"""


def arrivals_vs_baseline_sql(db: str, b: Binding) -> str:
    """Per agency and hour of the window: citizen messages, and the mean of the same hour in the 4 weeks before.

    Every hour of the window is present for an agency with arrivals or a baseline in it (0 when none). Hours
    are whole: the first one counts from its start even when the window starts later, like its baseline.
    """
    first_hour = f"toStartOfHour(toDateTime({b.since}, 'UTC'))"
    weeks = ", ".join(str(w) for w in range(BASELINE_WEEKS + 1))
    # One pass over the window and the weeks before it: hourly counts, each shifted by 0..4 weeks onto the
    # hour it is (w = 0) or feeds the baseline of (w > 0). Messages are counted once by their raw-table key.
    return f"""
SELECT time, agency_id, arrivals, baseline FROM (
    SELECT hour + toIntervalWeek(w) AS time, agency_id, toUInt64(sumIf(n, w = 0)) AS arrivals,
           sumIf(n, w > 0) / {BASELINE_WEEKS} AS baseline
    FROM (
        SELECT agency_id, toStartOfHour(toDateTime(created_at, 'UTC')) AS hour, uniqExact({_ROW_KEY}) AS n
        FROM {db}.{INTERACTIONS}
        WHERE {citizen_message_sql()} AND created_at >= {first_hour} - toIntervalWeek({BASELINE_WEEKS})
          AND created_at < {b.until} AND {scope_sql(db, b)}
        GROUP BY agency_id, hour
    )
    ARRAY JOIN [{weeks}] AS w
    WHERE time >= {first_hour} AND time < {b.until}
    GROUP BY time, agency_id
    ORDER BY agency_id, time WITH FILL FROM {first_hour} TO toDateTime({b.until}, 'UTC') STEP toIntervalHour(1)
)
ORDER BY time, agency_id"""


_ASKS_ABOUT = "what the surge's citizens ask about: its top terms, best first, comma-separated ('' when none)"
BACKLOG_NOW = (
    Column("agency_id", Unit.TEXT, "the agency's id (agencies with a backlog, largest first)"),
    Column("backlog", Unit.COUNT, "messages unanswered at the window's end, whatever their age (the leaderboard's)"),
    Column("overdue", Unit.COUNT, "of them, past the SLA"),
    Column("oldest_unanswered_seconds", Unit.SECONDS, "age of the oldest of them"),
)
ACTIVE_ALERTS = (
    Column("alert_id", Unit.TEXT, "the alert's id"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("platform", Unit.TEXT, "the platform, or 'all'"),
    Column("severity", Unit.TEXT, "warning or critical"),
    Column("started_at", Unit.TIME, "when the surge began (event time)"),
    Column("backlog", Unit.COUNT, "unanswered messages at the last update"),
    Column("arrivals_per_minute", Unit.COUNT, "citizen messages per minute in the surge window"),
    Column("baseline_per_minute", Unit.COUNT, "the usual rate for that hour"),
    Column("asks_about", Unit.TEXT, _ASKS_ABOUT),
)
ALERT_TIMELINE = (
    Column("time", Unit.TIME, "when the alert started"),
    Column("end_time", Unit.TIME, "when it resolved (the window's end while still active then)"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("severity", Unit.TEXT, "warning or critical (the latest)"),
    Column("alert_id", Unit.TEXT, "the alert's id"),
    Column("asks_about", Unit.TEXT, _ASKS_ABOUT),
)
ARRIVALS_VS_BASELINE = (
    Column("time", Unit.TIME, "the hour, UTC"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("arrivals", Unit.COUNT, "citizen messages asked in that hour (the whole hour)"),
    Column("baseline", Unit.COUNT, "the mean of the same hour of the week over the 4 weeks before (0 when none)"),
)

VIEWS = (
    View("backlog_now", "Backlogs now", Audience.OPS, BACKLOG_NOW, backlog_now_sql,
         description="Unanswered messages per agency at the window's end."),
    View("active_alerts", "Active surges", Audience.OPS, ACTIVE_ALERTS, active_alerts_sql,
         description="Surge alerts active at the window's end."),
    View("alert_timeline", "Alert timeline", Audience.OPS, ALERT_TIMELINE, alert_timeline_sql, time_column="time",
         description="Every alert open in the window."),
    View("arrivals_vs_baseline", "Arrivals vs baseline", Audience.OPS, ARRIVALS_VS_BASELINE, arrivals_vs_baseline_sql,
         time_column="time", description="Hourly arrivals per agency against the same hour in the weeks before."),
)  # fmt: skip
