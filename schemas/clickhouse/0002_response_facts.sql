-- First responses to citizen messages, emitted by the stream's reply matcher. A fact is updatable: a
-- late but earlier reply re-emits it with a higher version (version falls as answered_at falls), so
-- FINAL always shows the earliest answering reply, and replays never double-count.
CREATE TABLE IF NOT EXISTS {db}.response_facts
(
    message_id       String,
    platform         LowCardinality(String),
    agency_id        LowCardinality(String),
    account_id       String,
    root_id          String,
    citizen_id       String,
    kind             LowCardinality(String),
    asked_at         DateTime64(3, 'UTC'),
    answered_at      DateTime64(3, 'UTC'),
    reply_id         String,
    response_seconds Float64,
    business_seconds Float64,
    version          UInt64,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(asked_at)
ORDER BY (agency_id, account_id, platform, message_id);

-- The agency directory as the stack knew it (SLA and official domains feed the reports).
CREATE TABLE IF NOT EXISTS {db}.agencies
(
    agency_id        String,
    name             String,
    tier             LowCardinality(String),
    timezone         String,
    sla_hours        Float64,
    official_domains Array(String),
    definition       String,
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY agency_id;

-- Per-minute event-time buckets of raw activity, rolled up by ClickHouse on insert. uniqExact states
-- of event ids make the counts idempotent: a redelivered event adds nothing.
CREATE TABLE IF NOT EXISTS {db}.activity_minutes
(
    agency_id   LowCardinality(String),
    account_id  String,
    platform    LowCardinality(String),
    minute      DateTime('UTC'),
    metric      LowCardinality(String),
    events      AggregateFunction(uniqExact, String),
    people      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (agency_id, account_id, platform, metric, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.activity_minutes_interactions TO {db}.activity_minutes AS
SELECT agency_id, account_id, platform, toStartOfMinute(created_at) AS minute,
       if(author_role = 'agency' AND parent_id IS NOT NULL, 'agency_reply', concat(author_role, '_message')) AS metric,
       uniqExactState(event_id) AS events, uniqExactState(author_id) AS people
FROM {db}.interactions
GROUP BY agency_id, account_id, platform, minute, metric;

-- Push (no link to an official domain) or pull (links to one), by the agency directory as it is at insert.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.activity_minutes_posts TO {db}.activity_minutes AS
SELECT p.agency_id AS agency_id, p.account_id AS account_id, p.platform AS platform,
       toStartOfMinute(p.created_at) AS minute,
       if(arrayExists(l -> arrayExists(d -> lower(domain(l)) = lower(d) OR endsWith(lower(domain(l)), concat('.', lower(d))),
                                       ag.official_domains), p.links), 'agency_post_pull', 'agency_post_push') AS metric,
       uniqExactState(p.event_id) AS events, uniqExactState(p.account_id) AS people
FROM {db}.posts AS p
LEFT JOIN (SELECT agency_id, official_domains FROM {db}.agencies FINAL) AS ag ON ag.agency_id = p.agency_id
GROUP BY agency_id, account_id, platform, minute, metric;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.activity_minutes_reactions TO {db}.activity_minutes AS
SELECT agency_id, account_id, platform, toStartOfMinute(created_at) AS minute,
       concat('reaction_', mode) AS metric,
       uniqExactState(event_id) AS events, uniqExactState(coalesce(author_id, '')) AS people
FROM {db}.reactions
GROUP BY agency_id, account_id, platform, minute, metric;
