-- Daily and hourly rollups of the report's figures, so the views read ~1 row per account and day (or hour)
-- instead of every message.
--
-- `day_rollup` holds, per UTC day the message (or post, or reply) was written and per agency x account x
-- platform, the counts and response-time histograms of the report (pipeline/storage/sql/rollup_sql.py writes
-- them, pipeline/storage/rollup.py decides when). A day is re-derived whole under a new `build` number and
-- `rollup_builds` records which build is current, so readers never see two builds of a day: they read the
-- current one (deduplicated by construction, no FINAL). Old builds' rows are deleted after a rebuild.
--
-- A build of the current day holds its hours up to `complete_until` (the hour the build started in); a day's
-- build is whole when `complete_until` is its end.
--
-- `rollup_touches` records when each day last received a row (any insert: new data, a redelivery, a late
-- reply revising a fact). A day whose current build is older than its last touch, or was built with another
-- agency directory, is stale: readers take it from the raw tables until it is re-derived.
CREATE TABLE IF NOT EXISTS {db}.day_rollup
(
    build                UInt64,
    day                  Date,
    agency_id            LowCardinality(String),
    account_id           String,
    platform             LowCardinality(String),
    citizen_messages     UInt64,
    answered             UInt64,
    answered_within_sla  UInt64,
    unanswered           UInt64,
    oldest_unanswered_at DateTime64(3, 'UTC'),
    response_hist        Map(UInt16, UInt64),
    business_hist        Map(UInt16, UInt64),
    agency_posts         UInt64,
    pull_posts           UInt64,
    agency_replies       UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, agency_id, account_id, platform, build);

-- The same figures per hour, derived with the day (same build), and each unanswered message's time: the hours
-- of recent days (whose unanswered messages may still be pending: that depends on the window's end) and of a
-- window's first, partial day are read from here instead of raw data.
CREATE TABLE IF NOT EXISTS {db}.hour_rollup
(
    build                UInt64,
    hour                 DateTime('UTC'),
    agency_id            LowCardinality(String),
    account_id           String,
    platform             LowCardinality(String),
    citizen_messages     UInt64,
    answered             UInt64,
    answered_within_sla  UInt64,
    unanswered           UInt64,
    oldest_unanswered_at DateTime64(3, 'UTC'),
    response_hist        Map(UInt16, UInt64),
    business_hist        Map(UInt16, UInt64),
    agency_posts         UInt64,
    pull_posts           UInt64,
    agency_replies       UInt64,
    unanswered_at        Array(DateTime64(3, 'UTC'))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, agency_id, account_id, platform, build);

CREATE TABLE IF NOT EXISTS {db}.rollup_builds
(
    day             Date,
    build           UInt64,
    built_at        DateTime64(3, 'UTC'),
    max_answered_at DateTime64(3, 'UTC'),
    complete_until  DateTime64(3, 'UTC'),
    directory       UInt64
)
ENGINE = ReplacingMergeTree(build)
ORDER BY day;

CREATE TABLE IF NOT EXISTS {db}.rollup_touches
(
    day        Date,
    touched_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(touched_at)
ORDER BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_touches_interactions TO {db}.rollup_touches AS
SELECT toDate(created_at) AS day, now64(3) AS touched_at FROM {db}.interactions GROUP BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_touches_posts TO {db}.rollup_touches AS
SELECT toDate(created_at) AS day, now64(3) AS touched_at FROM {db}.posts GROUP BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_touches_facts TO {db}.rollup_touches AS
SELECT toDate(asked_at) AS day, now64(3) AS touched_at FROM {db}.response_facts GROUP BY day;

-- Days stored before this migration: stale until the first refresh derives them.
INSERT INTO {db}.rollup_touches SELECT DISTINCT toDate(created_at), now64(3) FROM {db}.interactions;
INSERT INTO {db}.rollup_touches SELECT DISTINCT toDate(created_at), now64(3) FROM {db}.posts;
INSERT INTO {db}.rollup_touches SELECT DISTINCT toDate(asked_at), now64(3) FROM {db}.response_facts;
