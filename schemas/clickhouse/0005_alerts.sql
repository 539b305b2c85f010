-- Alerts on agencies (unanswered surges): one row per alert, the latest of its raise/update/resolve events.
-- ReplacingMergeTree on the alert id: every transition is inserted, a merge (or FINAL) keeps the highest
-- version, so a replayed or redelivered transition is stored once and a late-arriving older one never
-- hides a newer one. The version is updated_at in milliseconds, then the transition's rank
-- (raise < update < resolve), so two events of one instant resolve the same way whatever their order.
-- started_at never changes for an alert, so all its rows share one partition (FINAL replaces within one).
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id                   String,
    transition                 LowCardinality(String),
    agency                     String,
    platform                   LowCardinality(String),
    kind                       LowCardinality(String),
    severity                   LowCardinality(String),
    started_at                 DateTime64(3, 'UTC'),
    updated_at                 DateTime64(3, 'UTC'),
    resolved_at                Nullable(DateTime64(3, 'UTC')),
    backlog                    UInt32,
    oldest_unanswered_seconds  Float64,
    arrivals_per_minute        Float64,
    baseline_per_minute        Float64,
    window_minutes             UInt16,
    score                      Float64,
    example_ids                Array(String),
    version                    UInt64 MATERIALIZED
        toUInt64(toUnixTimestamp64Milli(updated_at)) * 4
        + multiIf(transition = 'resolve', 2, transition = 'update', 1, 0),
    ingested_at                DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (agency, alert_id);
