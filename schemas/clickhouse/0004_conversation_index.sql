-- Which conversations have stored interactions, sorted by conversation: the worker asks, before each chunk,
-- which of the chunk's conversations it must reload into its matcher. Looking that up here uses the primary
-- key; `interactions` is sorted by agency and time, so the same question there scans a column.
CREATE TABLE IF NOT EXISTS {db}.conversation_index
(
    platform   LowCardinality(String),
    account_id String,
    root_id    String
)
ENGINE = ReplacingMergeTree
ORDER BY (platform, account_id, root_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.conversation_index_mv TO {db}.conversation_index AS
SELECT platform, account_id, root_id FROM {db}.interactions;

-- Conversations stored before this migration.
INSERT INTO {db}.conversation_index SELECT DISTINCT platform, account_id, root_id FROM {db}.interactions;
