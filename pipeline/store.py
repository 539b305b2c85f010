"""ClickHouse access: one client (chDB in-process or HTTP server), migrations, inserts, queries."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.errors import StackBusyError, StoreError
from pipeline.settings import Settings

__all__ = ["MIGRATIONS_DIR", "RAW_TABLES", "QueryResult", "Store", "chdb_locked", "encode_rows"]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "schemas" / "clickhouse"
RAW_TABLES = ("posts", "interactions", "reactions")
# Raw rows are the events' own JSON: extra fields (``type``) are skipped, null text becomes ''.
_JSON_INSERT = {"date_time_input_format": "best_effort", "input_format_null_as_default": 1,
                "input_format_skip_unknown_fields": 1,
                # A backfill batch may span years of monthly partitions; ClickHouse refuses >100 by default.
                "max_partitions_per_insert_block": 0}
# Table functions and clauses that reach files, URLs or other servers from a "read-only" query.
_ESCAPES = re.compile(r"outfile|\b(file|url|s3|hdfs|remote|remoteSecure|mysql|postgresql|jdbc|odbc|"
                      r"executable|azureBlobStorage|input)\b", re.IGNORECASE)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_READ_ONLY = re.compile(r"^\s*(select|with|show|describe|desc|explain)\b", re.IGNORECASE)


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Store:
    """Serambi's ClickHouse: same code path for ``chdb:///path`` and ``http(s)://`` URLs.

    chDB allows one engine per process and one process per data dir, so a :class:`Store` is
    opened once per process and shared (calls are serialised by a lock).
    """

    def __init__(self, settings: Settings) -> None:
        self.database = settings.clickhouse_database
        self._ttl_days = settings.raw_ttl_days
        self._lock = threading.Lock()
        self._client = _connect(settings)

    def command(self, sql: str) -> None:
        """Run one statement that returns no rows."""
        with self._lock:
            try:
                self._client.command(sql)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc

    def query(self, sql: str, *, read_only: bool = False) -> QueryResult:
        """Run a query; with ``read_only`` anything but SELECT/WITH/SHOW/DESCRIBE is refused."""
        if read_only and (not _READ_ONLY.match(sql) or ";" in sql.strip().rstrip(";") or _ESCAPES.search(sql)):
            msg = "only one SELECT/WITH/SHOW/DESCRIBE statement, without files or URLs, is allowed here"
            raise StoreError(msg)
        with self._lock:
            try:
                # The engine enforces read-only too (table functions such as file() are refused).
                result = self._client.query(sql, settings={"readonly": 1} if read_only else None)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc
        return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows into ``<database>.<table>``.

        Rows travel as JSONEachRow, parsed by ClickHouse itself: measured here ~7x faster than
        clickhouse-connect's Python-side Native encoding, on chDB and over HTTP alike.
        """
        if rows:
            self.insert_encoded(table, columns, encode_rows(columns, rows))

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Insert rows already encoded by :func:`encode_rows` (no Python work under the lock)."""
        with self._lock:
            try:
                self._client.raw_insert(f"{self.database}.{table}", list(columns), insert_block=body,
                                        fmt="JSONEachRow", settings=_JSON_INSERT)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc

    def migrate(self, directory: Path = MIGRATIONS_DIR) -> list[str]:
        """Apply numbered migrations not applied yet, in order; return their names."""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.command(
            f"CREATE TABLE IF NOT EXISTS {self.database}.schema_migrations "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {row[0] for row in self.query(f"SELECT version FROM {self.database}.schema_migrations").rows}
        applied = []
        for path in sorted(directory.glob("*.sql")):
            match = _MIGRATION_NAME.match(path.name)
            if not match or int(match.group(1)) in done:
                continue
            for statement in _statements(path.read_text(encoding="utf-8")):
                self.command(statement.replace("{db}", self.database))
            self.insert("schema_migrations", ("version", "name", "applied_at"),
                        [(int(match.group(1)), path.name, datetime.now(UTC))])
            applied.append(path.name)
        self._apply_ttl()
        return applied

    def _apply_ttl(self) -> None:
        engines = dict(self.query(
            f"SELECT name, engine_full FROM system.tables WHERE database = '{self.database}'").rows)
        for table in RAW_TABLES:
            if self._ttl_days:
                ttl = f"toDateTime(created_at) + toIntervalDay({self._ttl_days})"
                self.command(f"ALTER TABLE {self.database}.{table} MODIFY TTL {ttl}")
            elif " TTL " in str(engines.get(table, "")):
                self.command(f"ALTER TABLE {self.database}.{table} REMOVE TTL")

    def close(self) -> None:
        """Close the client."""
        with self._lock:
            self._client.close()


def _connect(settings: Settings) -> Any:
    dsn = settings.clickhouse_dsn
    if settings.uses_chdb:
        path = Path(dsn.removeprefix("chdb://"))
        path.mkdir(parents=True, exist_ok=True)
        if chdb_locked(path):
            msg = (f"another process owns the ClickHouse data in {path}; "
                   "use the running stack (serambi status) or set another SERAMBI_DATA_DIR")
            raise StackBusyError(msg)
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:
        msg = f"cannot open ClickHouse ({'chDB' if settings.uses_chdb else 'HTTP'}): {_first_line(exc)}"
        raise StoreError(msg) from exc


def encode_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as JSONEachRow, the insert format of :meth:`Store.insert_encoded`."""
    return b"\n".join(orjson.dumps(dict(zip(columns, row, strict=True))) for row in rows)


def chdb_locked(path: Path) -> bool:
    """True when a chDB engine in another process holds the data dir at ``path``."""
    status = path / "status"
    if not status.exists():
        return False
    fd = os.open(status, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
