-- Events schema v2: edits and removals arrive as `change` events of their own; the original row is never
-- overwritten (an edited message keeps the time it was first seen).
CREATE TABLE IF NOT EXISTS {db}.changes
(
    event_id       String,
    platform       LowCardinality(String),
    agency_id      LowCardinality(String),
    account_id     String,
    op             LowCardinality(String),
    target_id      String,
    root_id        String,
    author_id      Nullable(String),
    author_role    Nullable(String),
    created_at     DateTime64(3, 'UTC'),
    text           Nullable(String),
    source         LowCardinality(String),
    schema_version UInt8,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (agency_id, account_id, created_at, event_id);

-- A removal closes a citizen message as a reply does: `response_facts` holds each message's first *closure*,
-- an agency reply (`reply`) or its removal (`removal`), whichever came first in event time. So a message removed
-- before any answer leaves the backlog as `removed` (neither answered nor overdue), one answered before its
-- removal stays answered, and the version rule (earliest closure wins) needs no change.
ALTER TABLE {db}.response_facts ADD COLUMN IF NOT EXISTS closed_by LowCardinality(String) DEFAULT 'reply';

-- The rollups count removed messages per day and hour (0 in builds made before this migration: there were none).
ALTER TABLE {db}.day_rollup ADD COLUMN IF NOT EXISTS removed UInt64 DEFAULT 0;
ALTER TABLE {db}.hour_rollup ADD COLUMN IF NOT EXISTS removed UInt64 DEFAULT 0;

-- A removal may arrive before the message it removes: the worker then reloads it with the conversation.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.conversation_index_changes_mv TO {db}.conversation_index AS
SELECT platform, account_id, root_id FROM {db}.changes WHERE op = 'remove';
