"""Rendering the migrations for one node (the files as written) and for a replicated cluster
(pipeline/storage/ddl.py; every rendered statement parses with ClickHouse's parser in
tests/integration/test_migrations.py)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from pipeline.errors import ConfigError
from pipeline.storage.ddl import (
    EVERY_SHARD,
    SHARDING_KEYS,
    local_table,
    migration_files,
    on_cluster,
    render_migrations,
    render_statement,
    split_statements,
)

DB = "serambi_prod"
CLUSTER = "prod"


def _cluster_statements() -> list[str]:
    return [s for m in render_migrations(DB, CLUSTER) for s in m.statements]


def _created_tables() -> dict[str, str]:
    """Table name -> its CREATE statement, as the files write them."""
    found = {}
    for _, entry in migration_files():
        for statement in split_statements(entry.read_text("utf-8")):
            if match := re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", statement):
                found[match.group(1)] = statement
    return found


def test_one_node_renders_the_files_as_written() -> None:
    rendered = render_migrations(DB, None)
    assert [(m.version, m.name) for m in rendered] == [(v, e.name) for v, e in migration_files()]
    assert [m.name for m in rendered][9:] == [
        "0010_kafka_partition.sql",
        "0011_needs_reply.sql",
        "0012_alert_terms.sql",
        "0013_citizen_topics.sql",
    ]
    for migration in rendered:
        text = resources.files("schemas").joinpath(f"clickhouse/{migration.name}").read_text("utf-8")
        assert list(migration.statements) == [s.replace("{db}", DB) for s in split_statements(text)]


def test_a_sharded_table_becomes_a_replicated_local_table_and_a_distributed_one() -> None:
    statements = _cluster_statements()
    (local,) = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.interactions_local ")]
    assert local.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.interactions_local ON CLUSTER {CLUSTER}\n(")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/interactions_local', "
        "'{replica}', ingested_at)\nPARTITION BY toYYYYMM(created_at)"
    ) in local
    assert (
        f"CREATE TABLE IF NOT EXISTS {DB}.interactions ON CLUSTER {CLUSTER} AS {DB}.interactions_local "
        f"ENGINE = Distributed({CLUSTER}, {DB}, interactions_local, cityHash64(platform, account_id, root_id))"
    ) in statements
    engineless = [s for s in statements if f"{DB}.activity_minutes_local " in s and s.startswith("CREATE TABLE")]
    assert (
        "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/activity_minutes_local', "
        in (engineless[0])
    )


def test_a_small_table_is_one_table_replicated_to_every_node() -> None:
    statements = _cluster_statements()
    (agencies,) = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.agencies ")]
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/agencies', '{shard}-{replica}', " in (
        agencies
    )
    assert not [s for s in statements if "agencies_local" in s or "Distributed(prod, serambi_prod, agencies" in s]


def test_materialized_views_read_and_write_the_tables_of_their_shard() -> None:
    statements = _cluster_statements()
    (posts_view,) = [s for s in statements if "VIEW IF NOT EXISTS serambi_prod.activity_minutes_posts " in s]
    assert posts_view.startswith(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.activity_minutes_posts ON CLUSTER {CLUSTER} "
        f"TO {DB}.activity_minutes_local AS"
    )
    assert f"FROM {DB}.posts_local AS p" in posts_view
    assert f"FROM {DB}.agencies FINAL" in posts_view  # every node holds the whole directory
    (touches,) = [s for s in statements if "VIEW IF NOT EXISTS serambi_prod.rollup_touches_facts " in s]
    assert f"TO {DB}.rollup_touches AS" in touches
    assert f"FROM {DB}.response_facts_local " in touches


def test_alters_go_to_the_local_table_and_column_changes_to_the_distributed_one_too() -> None:
    statements = _cluster_statements()
    partition = [s for s in statements if "kafka_partition UInt16" in s]
    assert partition == [
        f"ALTER TABLE {DB}.interactions_local ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS kafka_partition UInt16 "
        "DEFAULT 65535 AFTER schema_version",
        f"ALTER TABLE {DB}.interactions ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS kafka_partition UInt16 "
        "DEFAULT 65535 AFTER schema_version",
    ]
    verdict = [s for s in statements if "ADD COLUMN IF NOT EXISTS needs_reply Bool" in s]
    assert verdict == [
        f"ALTER TABLE {DB}.interactions_local ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS needs_reply Bool "
        "DEFAULT true AFTER kafka_partition",
        f"ALTER TABLE {DB}.interactions ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS needs_reply Bool "
        "DEFAULT true AFTER kafka_partition",
    ]
    # The rollups are one replicated table per node (no Distributed twin): their new counts alter that table.
    rollup = [s for s in statements if "_rollup " in s and "needs_reply" in s]
    assert len(rollup) == 7
    assert all(re.match(rf"ALTER TABLE {DB}\.(day|hour)_rollup ON CLUSTER {CLUSTER} ADD COLUMN ", s) for s in rollup)
    projections = [s for s in statements if "PROJECTION" in s or "MODIFY SETTING" in s]
    assert len(projections) == 12  # 0007's nine, and 0011 replacing the interactions' by one that holds needs_reply
    assert all(re.match(rf"ALTER TABLE {DB}\.\w+_local ON CLUSTER {CLUSTER} ", s) for s in projections)


def test_backfills_run_once_through_the_distributed_tables() -> None:
    inserts = [s for s in _cluster_statements() if s.startswith("INSERT")]
    assert len(inserts) == 4
    assert inserts[0] == (
        f"INSERT INTO {DB}.conversation_index SETTINGS insert_distributed_sync = 1\n"
        f"SELECT DISTINCT platform, account_id, root_id FROM {DB}.interactions"
    )
    assert all("ON CLUSTER" not in s and "_local" not in s for s in inserts)


def test_every_other_statement_runs_on_the_cluster() -> None:
    for statement in _cluster_statements():
        if not statement.startswith("INSERT"):
            assert f" ON CLUSTER {CLUSTER}" in statement.split("\n")[0], statement


def test_every_table_is_placed_and_sharded_by_columns_it_has() -> None:
    tables = _created_tables()
    assert set(tables) <= set(SHARDING_KEYS) | EVERY_SHARD
    assert not set(SHARDING_KEYS) & EVERY_SHARD
    for table, key in SHARDING_KEYS.items():
        columns = re.findall(r"^\s{4}(\w+)\s", tables[table], flags=re.MULTILINE)
        used = re.findall(r"\w+", key.removeprefix("cityHash64"))
        assert set(used) <= set(columns), table
    for table in ("interactions", "changes", "response_facts", "conversation_index"):
        assert SHARDING_KEYS[table] == "cityHash64(platform, account_id, root_id)"  # one conversation, one shard


def test_local_table_names() -> None:
    assert local_table("posts", None) == "posts"
    assert local_table("posts", CLUSTER) == "posts_local"
    assert local_table("agencies", CLUSTER) == "agencies"
    with pytest.raises(ValueError, match="SHARDING_KEYS"):
        local_table("oracle_facts", CLUSTER)


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("OPTIMIZE TABLE {db}.posts FINAL", "teach pipeline/storage/ddl.py"),
        ("CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v ENGINE = MergeTree ORDER BY a AS SELECT 1", "teach"),
        ("RENAME TABLE {db}.posts TO {db}.posts_old", "sharded table is not renamed"),
        ("CREATE TABLE IF NOT EXISTS {db}.mystery (a UInt8) ENGINE = MergeTree ORDER BY a", "EVERY_SHARD"),
    ],
)
def test_a_statement_the_renderer_does_not_know_is_refused(statement: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        render_statement(statement, CLUSTER)
    assert render_statement(statement, None) == [statement]


def test_other_engines_and_drops() -> None:
    memory = "CREATE TABLE IF NOT EXISTS {db}.scratch (a UInt8) ENGINE = Memory"
    assert render_statement(memory, CLUSTER) == [
        "CREATE TABLE IF NOT EXISTS {db}.scratch ON CLUSTER prod (a UInt8) ENGINE = Memory"
    ]
    assert render_statement("DROP TABLE IF EXISTS {db}.posts SYNC", CLUSTER) == [
        "DROP TABLE IF EXISTS {db}.posts ON CLUSTER prod SYNC",
        "DROP TABLE IF EXISTS {db}.posts_local ON CLUSTER prod SYNC",
    ]


def test_on_cluster_places_the_clause_in_access_statements() -> None:
    assert on_cluster("GRANT SELECT ON d.* TO r", "c") == "GRANT ON CLUSTER c SELECT ON d.* TO r"
    assert on_cluster("CREATE USER IF NOT EXISTS u\n    IDENTIFIED WITH x", "c") == (
        "CREATE USER IF NOT EXISTS u ON CLUSTER c\n    IDENTIFIED WITH x"
    )
    assert on_cluster("CREATE SETTINGS PROFILE OR REPLACE p SETTINGS readonly = 1", "c") == (
        "CREATE SETTINGS PROFILE OR REPLACE p ON CLUSTER c SETTINGS readonly = 1"
    )
    assert on_cluster("ALTER USER u DEFAULT ROLE r", "c") == "ALTER USER u ON CLUSTER c DEFAULT ROLE r"
    assert (
        on_cluster("CREATE OR REPLACE VIEW d.v AS SELECT 1", "c")
        == "CREATE OR REPLACE VIEW d.v ON CLUSTER c AS SELECT 1"
    )
    assert on_cluster("GRANT x TO y", None) == "GRANT x TO y"
    with pytest.raises(ValueError, match="ON CLUSTER"):
        on_cluster("SELECT 1", "c")


@pytest.mark.parametrize(("database", "cluster"), [("x; DROP", None), ("ok", "c d")])
def test_names_that_are_not_identifiers_are_refused(database: str, cluster: str | None) -> None:
    with pytest.raises(ConfigError, match="identifier"):
        render_migrations(database, cluster)
