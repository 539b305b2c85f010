-- The Kafka partition of the events topic each interaction was read from. A worker that is assigned partitions
-- (at start-up or after a rebalance) warms its matcher with the open conversations of exactly those partitions;
-- one conversation is on one partition (the Publisher keys records by conversation). Interactions stored
-- before this migration have 65535 (unknown): they are never warmed up, only reloaded when their conversation
-- is next met, which is what correctness rests on anyway.
ALTER TABLE {db}.interactions ADD COLUMN IF NOT EXISTS kafka_partition UInt16 DEFAULT 65535 AFTER schema_version;
