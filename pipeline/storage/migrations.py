"""Numbered ClickHouse migrations (``schemas/clickhouse/NNNN_name.sql``): forward only, once per database, locked.

Each file is rendered for the deployment (:mod:`pipeline.storage.ddl`: as written for chDB or one server, ``ON
CLUSTER`` with replicated tables for a cluster), applied once, in order, and recorded in ``schema_migrations``.
Every statement is re-runnable (``IF NOT EXISTS``; backfills insert into ReplacingMergeTree tables), so a run
cut short is finished by the next one.

One migrator at a time, cluster-wide: :func:`apply_migrations` holds the lock of
:mod:`pipeline.storage.migration_lock` while it works.

Forward only: a database holding a version this code does not know raises :class:`SchemaAheadError`; nothing
is ever undone. Roles that do not migrate call :func:`require_current_schema` at start.

Example::

    apply_migrations(store, cluster=settings.clickhouse_cluster or None)
    require_current_schema(store)  # in `serambi worker` / `serambi web`: refuses a schema that is behind
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.errors import SchemaAheadError, SchemaBehindError
from pipeline.storage.ddl import (
    SCHEMA_MIGRATIONS,
    SCHEMA_MIGRATIONS_DDL,
    check_identifier,
    local_table,
    migration_files,
    render_migrations,
    render_statement,
)
from pipeline.storage.migration_lock import LOCK_TABLE, LockTiming, migration_lock
from schemas.tables import RAW_TABLES

__all__ = [
    "LOCK_TABLE",
    "LockTiming",
    "MigrationRunner",
    "apply_migrations",
    "migration_files",
    "require_current_schema",
    "schema_status",
]


class MigrationRunner(Protocol):
    """What migrations need of :class:`pipeline.storage.store.Store`."""

    database: str

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run one statement."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one query (``.rows`` holds the result)."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""


def apply_migrations(
    runner: MigrationRunner, *, ttl_days: int = 0, cluster: str | None = None, timing: LockTiming | None = None
) -> list[str]:
    """Apply the migrations ``runner``'s database lacks, under the lock; then set or remove the raw TTL.

    ``cluster`` is the ClickHouse cluster (``SERAMBI_CLICKHOUSE_CLUSTER``; ``None`` for chDB or one server).
    Return the names applied. Raises :class:`SchemaAheadError` before applying anything when the database
    holds a version this code does not know, :class:`MigrationLockError` when the lock stays held.
    """
    db = check_identifier(runner.database, "database name")
    _run(runner, "CREATE DATABASE IF NOT EXISTS {db}", cluster)
    with migration_lock(runner, cluster, timing or LockTiming()):
        _run(runner, SCHEMA_MIGRATIONS_DDL, cluster)
        done = _applied_versions(runner)
        migrations = render_migrations(db, cluster)
        _refuse_ahead(db, done, {m.version for m in migrations})
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                runner.command(statement)
            runner.insert(
                SCHEMA_MIGRATIONS, ("version", "name", "applied_at"), [(migration.version, migration.name, _now())]
            )
            applied.append(migration.name)
        _apply_ttl(runner, ttl_days, cluster)
    return applied


def schema_status(runner: MigrationRunner) -> tuple[list[int], list[int]]:
    """``(applied versions, versions this code knows)``, each sorted; nothing applied when there is no database."""
    return sorted(_applied_versions(runner)), [version for version, _ in migration_files()]


def require_current_schema(runner: MigrationRunner) -> None:
    """Return when ``runner``'s database holds exactly the migrations this code knows.

    Raises :class:`SchemaBehindError` (run ``serambi db migrate``) or :class:`SchemaAheadError` (upgrade).
    """
    applied, known = schema_status(runner)
    _refuse_ahead(runner.database, set(applied), set(known))
    missing = sorted(set(known) - set(applied))
    if missing:
        at = f"at {max(applied):04d}" if applied else "empty"
        lacks = f"needs {known[-1]:04d}" if not applied or max(applied) < known[-1] else f"lacks {missing[0]:04d}"
        msg = f"ClickHouse schema of database {runner.database} is {at}, this serambi {lacks}: run `serambi db migrate`"
        raise SchemaBehindError(msg)


def _refuse_ahead(database: str, applied: set[int], known: set[int]) -> None:
    unknown = sorted(applied - known)
    if unknown:
        versions = ", ".join(f"{v:04d}" for v in unknown)
        msg = (
            f"ClickHouse database {database} holds migration(s) {versions}, which this serambi does not know: "
            "this serambi is older than the schema: upgrade the image (migrations never run backwards)"
        )
        raise SchemaAheadError(msg)


def _applied_versions(runner: MigrationRunner) -> set[int]:
    exists = runner.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {table:String}",
        {"db": runner.database, "table": SCHEMA_MIGRATIONS},
    ).rows
    if not exists[0][0]:
        return set()
    rows = runner.query(f"SELECT DISTINCT version FROM {runner.database}.{SCHEMA_MIGRATIONS}").rows
    return {int(row[0]) for row in rows}


def _apply_ttl(runner: MigrationRunner, ttl_days: int, cluster: str | None) -> None:
    rows = runner.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": runner.database}
    ).rows
    engines = {name: str(engine) for name, engine in rows}
    for table in RAW_TABLES:
        engine = engines.get(local_table(table, cluster), "")
        if ttl_days and f"toIntervalDay({int(ttl_days)})" not in engine:  # unchanged: no mutation to re-run
            ttl = f"toDateTime(created_at) + toIntervalDay({int(ttl_days)})"
            _run(runner, f"ALTER TABLE {{db}}.{table} MODIFY TTL {ttl}", cluster)
        elif not ttl_days and " TTL " in engine:
            _run(runner, f"ALTER TABLE {{db}}.{table} REMOVE TTL", cluster)


def _run(runner: MigrationRunner, template: str, cluster: str | None) -> None:
    for statement in render_statement(template, cluster):
        runner.command(statement.replace("{db}", runner.database))


def _now() -> datetime:
    return datetime.now(UTC)
