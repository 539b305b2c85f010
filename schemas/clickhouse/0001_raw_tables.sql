-- Raw canonical events. ReplacingMergeTree on the natural key: a redelivered event_id collapses
-- into one row (query with FINAL or count(DISTINCT event_id) for exact figures before merges).
CREATE TABLE IF NOT EXISTS {db}.posts
(
    event_id       String,
    platform       LowCardinality(String),
    agency_id      LowCardinality(String),
    account_id     String,
    post_id        String,
    created_at     DateTime64(3, 'UTC'),
    text           String,
    links          Array(String),
    source         LowCardinality(String),
    schema_version UInt8,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (agency_id, account_id, created_at, event_id);

CREATE TABLE IF NOT EXISTS {db}.interactions
(
    event_id         String,
    platform         LowCardinality(String),
    agency_id        LowCardinality(String),
    account_id       String,
    kind             LowCardinality(String),
    message_id       String,
    root_id          String,
    parent_id        Nullable(String),
    author_id        String,
    author_role      LowCardinality(String),
    parent_author_id Nullable(String),
    created_at       DateTime64(3, 'UTC'),
    text             String,
    links            Array(String),
    source           LowCardinality(String),
    schema_version   UInt8,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (agency_id, account_id, created_at, event_id);

CREATE TABLE IF NOT EXISTS {db}.reactions
(
    event_id       String,
    platform       LowCardinality(String),
    agency_id      LowCardinality(String),
    account_id     String,
    mode           LowCardinality(String),
    target_id      String,
    root_id        String,
    reaction_type  LowCardinality(String),
    count          UInt64,
    author_id      Nullable(String),
    created_at     DateTime64(3, 'UTC'),
    source         LowCardinality(String),
    schema_version UInt8,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (agency_id, account_id, created_at, event_id);

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    id           String,
    source       LowCardinality(String),
    stage        LowCardinality(String),
    error_type   LowCardinality(String),
    reason       String,
    raw          String,
    received_at  DateTime64(3, 'UTC'),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, id);
