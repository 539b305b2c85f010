-- The web board's ClickHouse user (`serambi web`: SERAMBI_CLICKHOUSE_URL=http://serambi_reader@host:8123): reads
-- Serambi's tables and nothing else, within limits. Applied only to a ClickHouse server by
-- pipeline/storage/server_migrations.py when SERAMBI_READER_CLICKHOUSE_PASSWORD is set, on every
-- `serambi db migrate`; the server receives a salted SHA-256 of the password as a bound parameter. On a cluster
-- each statement runs ON CLUSTER.
--
-- readonly = 1: no writes and no setting changes at all. The limits equal the store's read session
-- (pipeline/storage/readonly.py READ_LIMITS, checked by a test): the client sends those settings with each read,
-- and under readonly = 1 a setting may only be "changed" to the value it already has.
-- distributed_product_mode = 'global': see 0002_writer.sql (a cluster's JOINs of two Distributed tables).
CREATE SETTINGS PROFILE OR REPLACE serambi_reader_profile SETTINGS
    readonly = 1,
    max_execution_time = 60,
    max_result_rows = 1000000,
    result_overflow_mode = 'throw',
    max_memory_usage = 4294967296,
    distributed_product_mode = 'global';

CREATE ROLE IF NOT EXISTS serambi_reader_role;

GRANT SELECT ON {db}.* TO serambi_reader_role;

CREATE USER IF NOT EXISTS serambi_reader
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String};

GRANT serambi_reader_role TO serambi_reader;

ALTER USER serambi_reader
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String}
    DEFAULT ROLE serambi_reader_role
    DEFAULT DATABASE {db}
    SETTINGS PROFILE 'serambi_reader_profile';
