"""ClickHouse views for dashboards: event-time buckets (minute, hour, day) and rolling 24 h / 7 d figures.

Buckets of raw activity come from the ``activity_minutes`` rollup (idempotent ``uniqExact`` states);
response buckets (answered, answered within SLA) come from ``response_facts`` and are keyed by the
minute the *message* was asked, so a late reply updates the bucket of the message it answers.
Rolling views are the report's figures from the daily rollups
(:func:`pipeline.storage.sql.rollup_sql.rolled_report_sql`) with ``now64()``-relative windows of
:data:`pipeline.domain.windows.ROLLING_WINDOWS`.

A view cannot take bound parameters (dashboards read it as a table), so its numbers, the default SLA
and the class thresholds from settings, are rendered by :func:`~pipeline.storage.sql.fragments.float_sql`:
a validated finite float, never a caller's text.
"""

from __future__ import annotations

from pipeline.domain.classify import ClassThresholds
from pipeline.domain.matching import CLOSED_BY_REPLY
from pipeline.domain.windows import ROLLING_WINDOWS
from pipeline.storage.ddl import on_cluster
from pipeline.storage.sql.binding import FixedBinding
from pipeline.storage.sql.fragments import float_sql, interval_sql, sla_seconds_sql, within_sla_sql
from pipeline.storage.sql.rollup_sql import rolled_report_sql
from pipeline.storage.store import Store
from schemas.tables import ACTIVITY_MINUTES, AGENCIES, RESPONSE_FACTS

__all__ = ["BUCKETS", "ensure_views"]

BUCKETS = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}
_LEVELS = {"agency": ("agency_id",), "account": ("agency_id", "account_id", "platform")}
# The rollup table of migration 0002 (not a table the pipeline writes by name, so not in schemas.tables).


def _bucket_sql(db: str, bucket: str, default_sla_hours: float) -> str:
    sla_s = sla_seconds_sql(float_sql(default_sla_hours), "ag")
    return f"""
SELECT agency_id, account_id, platform, {bucket}(minute) AS bucket, metric,
       uniqExactMerge(events) AS value, uniqExactMerge(people) AS people
FROM {db}.{ACTIVITY_MINUTES} GROUP BY agency_id, account_id, platform, bucket, metric
UNION ALL
SELECT f.agency_id, f.account_id, f.platform, {bucket}(toDateTime(f.asked_at, 'UTC')) AS bucket,
       arrayJoin(if({within_sla_sql("f.response_seconds", sla_s)},
                    ['answered', 'answered_within_sla'], ['answered'])) AS metric,
       count() AS value, uniqExact(f.citizen_id) AS people
FROM (SELECT * FROM {db}.{RESPONSE_FACTS} FINAL WHERE closed_by = '{CLOSED_BY_REPLY}') AS f
LEFT JOIN (SELECT agency_id, sla_hours FROM {db}.{AGENCIES} FINAL) AS ag ON ag.agency_id = f.agency_id
GROUP BY f.agency_id, f.account_id, f.platform, bucket, metric"""


def ensure_views(
    store: Store,
    *,
    default_sla_hours: float = 24.0,
    thresholds: ClassThresholds | None = None,
) -> list[str]:
    """Create or replace every view; return their names."""
    db, names = store.database, []
    # On a cluster every node gets the views (they read the Distributed tables, so each sees every shard).
    cluster = store.cluster
    for name, func in BUCKETS.items():
        sql = f"CREATE OR REPLACE VIEW {db}.metrics_by_{name} AS {_bucket_sql(db, func, default_sla_hours)}"
        store.command(on_cluster(sql, cluster))
        names.append(f"metrics_by_{name}")
    for window, span in ROLLING_WINDOWS.items():
        binding = FixedBinding(f"now64(3) - {interval_sql(span)}", "now64(3)", default_sla_hours)
        for level, keys in _LEVELS.items():
            sql = rolled_report_sql(db, binding, "1", keys=keys, thresholds=thresholds or ClassThresholds())
            store.command(on_cluster(f"CREATE OR REPLACE VIEW {db}.{level}_metrics_{window} AS {sql}", cluster))
            names.append(f"{level}_metrics_{window}")
    return names
