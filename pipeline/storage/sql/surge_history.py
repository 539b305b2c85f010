"""Hourly citizen messages per agency from ClickHouse: the surge detector's baselines after a restart.

The detector learns each agency's normal hour by hour from the stream; a restarted worker would otherwise
need days of traffic before it judges again. Stored interactions give the same counts (a citizen message is
:func:`~pipeline.storage.sql.fragments.citizen_message_sql`, the report's rule), each message once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from pipeline.storage.sql.fragments import citizen_message_sql
from schemas.tables import INTERACTIONS
from schemas.timeutil import assume_utc

__all__ = ["hourly_arrivals"]

_HOUR = timedelta(hours=1)


def hourly_arrivals(
    engine: QueryEngine, database: str, since: datetime, until: datetime
) -> dict[str, dict[datetime, int]]:
    """Citizen messages per agency per hour in ``[since, until)`` (both on hour boundaries), read-only.

    An agency's hours from its first message on are all present: an hour without messages is a quiet hour
    (0), which the baseline must learn, not a hole.
    """
    sql = (
        f"SELECT agency_id, toStartOfHour(created_at) AS hour, uniqExact(message_id) AS arrivals "
        f"FROM {database}.{INTERACTIONS} "
        f"WHERE {citizen_message_sql()} AND created_at >= {{since:{DATETIME_PARAM}}} "
        f"AND created_at < {{until:{DATETIME_PARAM}}} GROUP BY agency_id, hour ORDER BY agency_id, hour"
    )
    rows = engine.query(sql, {"since": since, "until": until}, read_only=True).rows
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    for agency, hour, arrivals in rows:
        counts[str(agency)][assume_utc(hour)] = int(arrivals)
    filled: dict[str, dict[datetime, int]] = {}
    for agency, hours in counts.items():
        hour, series = min(hours), {}
        while hour < until:
            series[hour] = hours.get(hour, 0)
            hour += _HOUR
        filled[agency] = series
    return filled
