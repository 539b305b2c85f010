-- The Grafana data source's ClickHouse user: it reads Serambi's tables and nothing else, within limits.
-- Applied only to a ClickHouse server (chDB has no access control) by pipeline/storage/server_migrations.py,
-- on every start-up, so a changed password (SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD) takes effect. The
-- password never reaches this SQL: the server receives a salted SHA-256 of it as a bound parameter.
--
-- readonly = 2: reads only, but the plugin may still set per-query settings (it sends some); the limits
-- below are capped (MAX) or fixed (CONST), so a dashboard cannot lift them.
CREATE SETTINGS PROFILE OR REPLACE serambi_grafana_profile SETTINGS
    readonly = 2,
    max_execution_time = 60 MAX 120,
    max_memory_usage = 4000000000 MAX 4000000000,
    max_result_rows = 1000000 MAX 1000000,
    result_overflow_mode = 'throw' CONST,
    max_rows_to_read = 2000000000 MAX 2000000000,
    max_concurrent_queries_for_user = 20 MAX 20,
    allow_ddl = 0 CONST,
    allow_introspection_functions = 0 CONST;

CREATE ROLE IF NOT EXISTS serambi_grafana_reader;

-- SELECT on Serambi's database only: no INSERT, ALTER, CREATE, no other database, no table functions
-- that reach files, URLs or other servers (those need their own grants: CREATE TEMPORARY TABLE, URL, ...).
GRANT SELECT ON {db}.* TO serambi_grafana_reader;

CREATE USER IF NOT EXISTS serambi_grafana
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String};

GRANT serambi_grafana_reader TO serambi_grafana;

ALTER USER serambi_grafana
    IDENTIFIED WITH sha256_hash BY {password_sha256_hex:String} SALT {password_salt:String}
    DEFAULT ROLE serambi_grafana_reader
    DEFAULT DATABASE {db}
    SETTINGS PROFILE 'serambi_grafana_profile';
