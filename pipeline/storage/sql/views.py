"""ClickHouse views for dashboards: event-time buckets (minute, hour, day) and rolling 24 h / 7 d figures.

Buckets of raw activity come from the ``activity_minutes`` rollup (idempotent ``uniqExact`` states);
response buckets (answered, answered within SLA) come from ``response_facts`` and are keyed by the
minute the *message* was asked, so a late reply updates the bucket of the message it answers.
Rolling views reuse :func:`pipeline.storage.sql.report.report_sql` with ``now()``-relative windows.
"""

from __future__ import annotations

from pipeline.domain.classify import ClassThresholds
from pipeline.storage.sql.report import report_sql, stream_facts_sql
from pipeline.storage.store import Store

__all__ = ["BUCKETS", "ROLLING", "ensure_views"]

BUCKETS = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}
ROLLING = {"24h": "INTERVAL 24 HOUR", "7d": "INTERVAL 7 DAY"}
_ACCOUNT_KEYS = ("agency_id", "account_id", "platform")
# Dashboards query these views constantly: their backlog looks back 90 days, not over all history.
_BACKLOG_HORIZON = "INTERVAL 90 DAY"


def _bucket_sql(db: str, bucket: str) -> str:
    return f"""
SELECT agency_id, account_id, platform, {bucket}(minute) AS bucket, metric,
       uniqExactMerge(events) AS value, uniqExactMerge(people) AS people
FROM {db}.activity_minutes GROUP BY agency_id, account_id, platform, bucket, metric
UNION ALL
SELECT f.agency_id, f.account_id, f.platform, {bucket}(toDateTime(f.asked_at, 'UTC')) AS bucket,
       arrayJoin(if(f.response_seconds <= if(ag.agency_id = '', {{sla}}, ag.sla_hours) * 3600,
                    ['answered', 'answered_within_sla'], ['answered'])) AS metric,
       count() AS value, uniqExact(f.citizen_id) AS people
FROM (SELECT * FROM {db}.response_facts FINAL) AS f
LEFT JOIN (SELECT agency_id, sla_hours FROM {db}.agencies FINAL) AS ag ON ag.agency_id = f.agency_id
GROUP BY f.agency_id, f.account_id, f.platform, bucket, metric"""


def ensure_views(
    store: Store,
    *,
    default_sla_hours: float = 24.0,
    thresholds: ClassThresholds | None = None,
) -> list[str]:
    """Create or replace every view; return their names."""
    db, names = store.database, []
    for name, func in BUCKETS.items():
        sql = _bucket_sql(db, func).replace("{sla}", str(default_sla_hours))
        store.command(f"CREATE OR REPLACE VIEW {db}.metrics_by_{name} AS {sql}")
        names.append(f"metrics_by_{name}")
    for window, interval in ROLLING.items():
        for level, keys in (("agency", ("agency_id",)), ("account", _ACCOUNT_KEYS)):
            sql = report_sql(
                db,
                stream_facts_sql(db),
                f"now64(3) - {interval}",
                "now64(3)",
                keys=keys,
                default_sla_hours=default_sla_hours,
                thresholds=thresholds or ClassThresholds(),
                backlog_since_sql=f"now64(3) - {_BACKLOG_HORIZON}",
            )
            store.command(f"CREATE OR REPLACE VIEW {db}.{level}_metrics_{window} AS {sql}")
            names.append(f"{level}_metrics_{window}")
    return names
