-- Where each polling or streaming connector's pages ended (schemas.records.CursorMark): the worker stores a page's
-- cursor parts in the same write as the page's events, after them. A page whose parts are all here is stored
-- whole, so its cursor is where `serambi connect` resumes: nothing fetched before it can be missing.
CREATE TABLE IF NOT EXISTS {db}.source_cursors
(
    source      LowCardinality(String),
    account     String,
    seq         UInt64,
    part        UInt32,
    parts       UInt32,
    state       String,
    fetched_at  DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (source, account, seq, part);
