"""Numbered ClickHouse migrations, shipped as package data (``schemas/clickhouse/NNNN_name.sql``).

Read with :mod:`importlib.resources`, so a wheel or a container applies them without a source checkout.
Each file is applied once, in order, and recorded in ``schema_migrations``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from importlib.abc import Traversable
from typing import Any, Protocol

from schemas.tables import RAW_TABLES

__all__ = ["MigrationRunner", "apply_migrations", "migration_files"]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationRunner(Protocol):
    """What migrations need of :class:`pipeline.storage.store.Store`."""

    database: str

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run one statement."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one query (``.rows`` holds the result)."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows."""


def migration_files() -> list[tuple[int, Traversable]]:
    """``(version, file)`` of every packaged migration, in version order."""
    folder = resources.files("schemas").joinpath("clickhouse")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found, key=lambda item: item[0])


def apply_migrations(runner: MigrationRunner, *, ttl_days: int = 0) -> list[str]:
    """Apply the migrations ``runner``'s database lacks; then set or remove the raw TTL. Return names applied."""
    db = runner.database
    runner.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    runner.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in runner.query(f"SELECT version FROM {db}.schema_migrations").rows}
    applied = []
    for version, entry in migration_files():
        if version in done:
            continue
        for statement in _statements(entry.read_text(encoding="utf-8")):
            runner.command(statement.replace("{db}", db))
        runner.insert(
            "schema_migrations", ("version", "name", "applied_at"), [(version, entry.name, datetime.now(UTC))]
        )
        applied.append(entry.name)
    _apply_ttl(runner, ttl_days)
    return applied


def _apply_ttl(runner: MigrationRunner, ttl_days: int) -> None:
    rows = runner.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": runner.database}
    ).rows
    engines = dict(rows)
    for table in RAW_TABLES:
        if ttl_days:
            ttl = f"toDateTime(created_at) + toIntervalDay({int(ttl_days)})"
            runner.command(f"ALTER TABLE {runner.database}.{table} MODIFY TTL {ttl}")
        elif " TTL " in str(engines.get(table, "")):
            runner.command(f"ALTER TABLE {runner.database}.{table} REMOVE TTL")


def _statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
