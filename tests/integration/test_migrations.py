"""Migrations on real ClickHouse engines (chDB in-process, and the chDB-backed HTTP server for two processes):
every rendering parses, runs once per database under a lock, re-runs cleanly, and refuses a schema ahead or
behind (pipeline/storage/migrations.py, pipeline/storage/ddl.py)."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import clickhouse_connect
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import MigrationLockError, SchemaAheadError, SchemaBehindError
from pipeline.storage.ddl import SCHEMA_MIGRATIONS_DDL, migration_files, render_migrations, render_statement
from pipeline.storage.migration_lock import LOCK_TABLE, LockTiming, _KeeperLock
from pipeline.storage.migrations import apply_migrations, require_current_schema, schema_status
from pipeline.storage.server_migrations import SERVER_USERS, server_statements
from pipeline.storage.store import Store
from tests.helpers.chserver import clickhouse_server
from tests.helpers.settings import SettingsFactory

FAST = LockTiming(wait_seconds=30, poll_seconds=0.02, progress_seconds=0.5)
NAMES = [entry.name for _, entry in migration_files()]


@pytest.fixture
def fresh(settings_factory: SettingsFactory) -> Iterator[Store]:
    """A store on a database that does not exist yet."""
    store = Store(settings_factory())
    yield store
    store.close()


class _Recorder:
    """The store as a migration runner, recording what it is told to run (a lock's statements, for parsing)."""

    def __init__(self, store: Store) -> None:
        self.database = store.database
        self.sql: list[str] = []

    def command(self, sql: str, parameters: dict[str, object] | None = None) -> None:
        self.sql.append(sql)

    def query(self, sql: str, parameters: dict[str, object] | None = None) -> object:
        raise AssertionError(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        raise AssertionError(table)


def _parses(store: Store, statement: str) -> str:
    (row,) = store.query("SELECT formatQuery({q:String})", {"q": statement}).rows
    assert row[0], statement
    return str(row[0])


def _take_lock_as(store: Store, owner: str) -> None:
    """The lock as a migrator named ``owner`` takes it (pipeline/storage/migration_lock.py, _TableLock)."""
    store.command(f"CREATE DATABASE IF NOT EXISTS {store.database}")
    store.command(f"CREATE TABLE {store.database}.{LOCK_TABLE} (held UInt8) ENGINE = Memory COMMENT '{owner}'")


def _versions_recorded(store: Store) -> list[tuple[int, int]]:
    sql = f"SELECT version, count() FROM {store.database}.schema_migrations GROUP BY version ORDER BY version"
    return [(int(v), int(n)) for v, n in store.query(sql).rows]


@pytest.mark.parametrize("cluster", [None, "prod"])
def test_every_rendered_statement_parses_with_clickhouse(store: Store, cluster: str | None) -> None:
    statements = [s for m in render_migrations(store.database, cluster) for s in m.statements]
    statements += [s.replace("{db}", store.database) for s in render_statement(SCHEMA_MIGRATIONS_DDL, cluster)]
    for user in SERVER_USERS:
        statements += [s for _, s in server_statements(store.database, user=user, cluster=cluster)]
    for statement in statements:
        _parses(store, statement)
    if cluster:
        formatted = _parses(store, statements[0])
        assert "ON CLUSTER prod" in formatted
        assert "ReplicatedReplacingMergeTree" in formatted


def test_the_cluster_locks_statements_parse(store: Store) -> None:
    recorder = _Recorder(store)
    lock = _KeeperLock(recorder, "host:1", "prod")
    assert lock.take()
    lock.release()
    database, create, insert, delete = recorder.sql
    assert database == f"CREATE DATABASE IF NOT EXISTS {store.database} ON CLUSTER prod"
    assert f"ENGINE = KeeperMap('/serambi/{store.database}/migration_lock')" in create
    assert f"{LOCK_TABLE} ON CLUSTER prod" in create  # every node: the migrator may reach any of them
    assert "keeper_map_strict_mode = 1" in insert
    assert delete.startswith(f"DELETE FROM {store.database}.{LOCK_TABLE} WHERE key = 'migrations' AND token = ")
    for sql in recorder.sql:
        _parses(store, sql)


def test_the_users_profiles_name_settings_clickhouse_knows(store: Store) -> None:
    for user in SERVER_USERS:
        statements = server_statements(store.database, user=user)
        (profile,) = [s for _, s in statements if s.startswith("CREATE SETTINGS PROFILE")]
        names = re.findall(r"(\w+) = ", profile)
        known = store.query(
            "SELECT name FROM system.settings WHERE name IN {names:Array(String)}", {"names": names}
        ).rows
        assert sorted(r[0] for r in known) == sorted(names), user.name


def test_a_migration_cut_short_is_finished_by_the_next_run(store: Store) -> None:
    # Every statement runs again on the schema it already made (as after a crash before the version was
    # recorded): all are IF NOT EXISTS or re-runnable; backfills land in ReplacingMergeTree tables.
    store.command(f"TRUNCATE TABLE {store.database}.schema_migrations")
    assert apply_migrations(store, timing=FAST) == NAMES
    assert apply_migrations(store, timing=FAST) == []
    assert _versions_recorded(store) == [(v, 1) for v, _ in migration_files()]
    assert not store.query(
        f"SELECT name FROM system.tables WHERE database = '{store.database}' AND name LIKE 'schema_migration_lock%'"
    ).rows


def test_two_threads_migrating_at_once_apply_each_migration_once(fresh: Store) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            results.append(apply_migrations(fresh, timing=FAST))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(results, key=len) == [[], NAMES]
    assert _versions_recorded(fresh) == [(v, 1) for v, _ in migration_files()]


def test_a_held_lock_is_waited_for_then_named(fresh: Store, caplog: pytest.LogCaptureFixture) -> None:
    _take_lock_as(fresh, "busy-host:4242")
    timing = LockTiming(wait_seconds=0.3, poll_seconds=0.02, progress_seconds=0.1)
    with caplog.at_level(logging.WARNING), pytest.raises(MigrationLockError, match=r"held by busy-host:4242 since"):
        apply_migrations(fresh, timing=timing)
    assert "waiting for the migration lock" in caplog.text
    assert schema_status(fresh)[0] == []  # nothing applied
    fresh.command(f"DROP TABLE {fresh.database}.{LOCK_TABLE}")  # the removal the error names
    assert apply_migrations(fresh, timing=FAST) == NAMES


def test_a_lock_older_than_the_stale_age_is_broken_with_a_line(fresh: Store, caplog: pytest.LogCaptureFixture) -> None:
    _take_lock_as(fresh, "dead-host:7")  # another host: only its age tells whether it died
    with pytest.raises(MigrationLockError, match="dead-host:7"):
        apply_migrations(fresh, timing=LockTiming(wait_seconds=0))  # younger than 30 min: kept
    with caplog.at_level(logging.WARNING):
        assert apply_migrations(fresh, timing=LockTiming(wait_seconds=0, stale_seconds=0)) == NAMES
    assert "breaking the migration lock" in caplog.text
    assert "dead-host:7" in caplog.text
    left = fresh.query(
        f"SELECT name FROM system.tables WHERE database = '{fresh.database}' AND name LIKE 'schema_migration_lock%'"
    )
    assert left.rows == []  # the broken lock, set aside, is dropped too


def test_a_lock_of_a_process_gone_from_this_host_is_broken_at_once(
    fresh: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # As after `serambi run` or `db migrate` killed during its migrations and started again.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    _take_lock_as(fresh, f"{socket.gethostname()}:{int(gone.stdout)} (process 0123abcd)")
    with caplog.at_level(logging.WARNING):
        assert apply_migrations(fresh, timing=LockTiming(wait_seconds=0)) == NAMES
    assert "its process on this host is gone" in caplog.text


def test_a_schema_behind_is_refused_with_what_to_run(store: Store) -> None:
    require_current_schema(store)
    *_, (previous, _), (latest, name) = [(v, e.name) for v, e in migration_files()]
    store.command(f"DELETE FROM {store.database}.schema_migrations WHERE version = {{v:UInt32}}", {"v": latest})
    behind = rf"is at {previous:04d}, this serambi needs {latest:04d}: run `serambi db migrate`"
    with pytest.raises(SchemaBehindError, match=behind):
        require_current_schema(store)
    assert apply_migrations(store, timing=FAST) == [name]  # a migration applied again changes nothing
    require_current_schema(store)


def test_an_empty_database_is_behind(fresh: Store) -> None:
    assert schema_status(fresh) == ([], [v for v, _ in migration_files()])
    with pytest.raises(SchemaBehindError, match=f"is empty, this serambi needs {migration_files()[-1][0]:04d}"):
        require_current_schema(fresh)


def test_a_schema_ahead_is_refused_and_nothing_runs_backwards(store: Store) -> None:
    store.insert("schema_migrations", ("version", "name"), [(9999, "9999_future.sql")])
    with pytest.raises(SchemaAheadError, match=r"holds migration\(s\) 9999.*upgrade the image"):
        require_current_schema(store)
    with pytest.raises(SchemaAheadError, match="9999"):
        apply_migrations(store, timing=FAST)
    tables = {r[0] for r in store.query(f"SHOW TABLES FROM {store.database}").rows}
    assert LOCK_TABLE not in tables  # released
    assert "posts" in tables  # nothing dropped


def test_db_render_prints_the_cluster_rendering() -> None:
    result = CliRunner().invoke(main, ["db", "render", "--cluster", "prod"], env={"SERAMBI_CLICKHOUSE_DATABASE": "rd"})
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE IF NOT EXISTS rd.interactions ON CLUSTER prod AS rd.interactions_local" in result.output
    assert "-- 0010_kafka_partition.sql" in result.output
    assert "-- 0011_needs_reply.sql" in result.output
    assert "ALTER TABLE rd.interactions_local ON CLUSTER prod ADD PROJECTION IF NOT EXISTS by_time_needs_reply" in (
        result.output
    )
    single = CliRunner().invoke(main, ["db", "render", "--cluster", ""], env={"SERAMBI_CLICKHOUSE_DATABASE": "rd"})
    assert "ON CLUSTER" not in single.output
    assert "CREATE TABLE IF NOT EXISTS rd.interactions\n(" in single.output


_MIGRATE = """if True:
    import json, sys
    from pydantic import SecretStr
    from pipeline.settings import load_settings
    from pipeline.storage.migrations import LockTiming, apply_migrations
    from pipeline.storage.store import Store
    url, database, data_dir = sys.argv[1:]
    store = Store(load_settings(data_dir=data_dir, clickhouse_url=SecretStr(url), clickhouse_database=database))
    print("ready", flush=True)
    sys.stdin.readline()  # both start together
    print(json.dumps(apply_migrations(store, timing=LockTiming(wait_seconds=120, poll_seconds=0.02))), flush=True)
    store.close()
"""


def test_two_processes_migrating_one_server_apply_each_migration_once(tmp_path: Path) -> None:
    database = f"m_{uuid.uuid4().hex[:10]}"
    with clickhouse_server(tmp_path / "ch") as url:
        migrators = [
            subprocess.Popen(
                [sys.executable, "-c", _MIGRATE, url, database, str(tmp_path / name)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for name in ("a", "b")
        ]  # fmt: skip
        for migrator in migrators:
            assert migrator.stdout is not None
            assert migrator.stdout.readline() == "ready\n"
        for migrator in migrators:
            assert migrator.stdin is not None
            migrator.stdin.write("go\n")
            migrator.stdin.flush()
        outputs = [m.communicate(timeout=120) for m in migrators]
        assert [m.returncode for m in migrators] == [0, 0], [err for _, err in outputs]
        applied = sorted((json.loads(out) for out, _ in outputs), key=len)
        assert applied == [[], NAMES]
        client = clickhouse_connect.get_client(dsn=url)
        counts = client.query(
            f"SELECT version, count() FROM {database}.schema_migrations GROUP BY version ORDER BY version"
        )
        assert counts.result_rows == [(v, 1) for v, _ in migration_files()]
