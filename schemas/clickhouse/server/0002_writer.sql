-- The workers' ClickHouse user (`serambi worker`: SERAMBI_CLICKHOUSE_URL=http://serambi_writer@host:8123). Applied
-- only to a ClickHouse server by pipeline/storage/server_migrations.py when SERAMBI_WRITER_CLICKHOUSE_PASSWORD is
-- set, on every `serambi db migrate`, so a changed password takes effect; the server receives a salted SHA-256 of
-- it as a bound parameter, never the password. On a cluster each statement runs ON CLUSTER.
--
-- Not read-only: the store sets per-insert settings (JSON input formats, partitions per insert).
-- insert_distributed_sync: an insert into a Distributed table (a cluster) returns once the shards stored it, so
--   the worker commits its Kafka offsets only after the rows are on the shards, not in a local send queue.
-- distributed_product_mode = 'global': a JOIN or IN whose subquery reads another Distributed table runs the
--   subquery once and ships its result to every shard (ClickHouse refuses such queries by default). No effect
--   on one server.
CREATE SETTINGS PROFILE OR REPLACE serambi_writer_profile SETTINGS
    insert_distributed_sync = 1,
    distributed_product_mode = 'global';

CREATE ROLE IF NOT EXISTS serambi_writer_role;

-- Reads and inserts in Serambi's database; ALTER DELETE because the rollup refresher deletes old builds
-- (`DELETE FROM`, pipeline/storage/sql/rollup_sql.py). No ALTER UPDATE, CREATE, DROP: migrations and views are
-- the admin's (`serambi db migrate`).
GRANT SELECT, INSERT, ALTER DELETE ON {db}.* TO serambi_writer_role;

CREATE USER IF NOT EXISTS serambi_writer
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String};

GRANT serambi_writer_role TO serambi_writer;

ALTER USER serambi_writer
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String}
    DEFAULT ROLE serambi_writer_role
    DEFAULT DATABASE {db}
    SETTINGS PROFILE 'serambi_writer_profile';
