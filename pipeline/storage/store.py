"""ClickHouse access: one client (chDB in-process or HTTP server), migrations, inserts, queries."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.errors import StackBusyError, StoreError
from pipeline.settings import Settings
from pipeline.storage.engine_memory import PURGE_EVERY_S, PURGE_SQL, STATS_SQL, EngineMemory, parse_jemalloc_stats
from pipeline.storage.migrations import apply_migrations
from pipeline.storage.query import Parameters, QueryResult, bind_values
from pipeline.storage.readonly import ONE_READ_STATEMENT, READ_LIMITS, check_read_statement
from pipeline.storage.rows import encode_rows
from pipeline.storage.server_migrations import apply_access

__all__ = ["Session", "Store", "chdb_locked"]

log = logging.getLogger(__name__)
# Raw rows are the events' own JSON: extra fields (``type``) are skipped, null text becomes ''.
_JSON_INSERT = {
    "date_time_input_format": "best_effort",
    "input_format_null_as_default": 1,
    "input_format_skip_unknown_fields": 1,
    # A backfill batch may span years of monthly partitions; ClickHouse refuses >100 by default.
    "max_partitions_per_insert_block": 0,
}


class Store:
    """Serambi's ClickHouse: same code path for ``chdb:///path`` and ``http(s)://`` URLs.

    chDB allows one engine per process and one process per data dir, so a :class:`Store` is
    opened once per process and shared. It holds three sessions, each serialised by a lock of its own: the
    writer's (inserts, migrations, the worker's own queries), a read-only one for ad-hoc queries and views
    (:mod:`pipeline.storage.readonly`), so an outside query can neither change the writer's settings nor make it
    wait, and the hot path's reads (:meth:`read`). Background jobs open sessions of their own
    (:meth:`open_session`).
    """

    def __init__(self, settings: Settings) -> None:
        self.database = settings.clickhouse_database
        self._ttl_days = settings.raw_ttl_days
        self._dsn = settings.clickhouse_dsn
        self._grafana_password = settings.grafana_clickhouse_password
        self.cluster = settings.clickhouse_cluster or None
        """The ClickHouse cluster the schema is rendered for (``SERAMBI_CLICKHOUSE_CLUSTER``); ``None``: one server."""
        self._lock = threading.Lock()
        self._client = _connect(settings)
        self.purge_every_s: float | None = PURGE_EVERY_S if settings.uses_chdb else None
        """chDB: seconds between two purges of its allocator's freed pages, each after an insert
        (:mod:`pipeline.storage.engine_memory`); ``None``: never (a server manages its own memory)."""
        self._purged_at = time.monotonic()
        self._read_lock = threading.Lock()
        self._reader = _connect(settings, second_session=True)
        # The worker's own reads on the hot path (conversations reloaded while a chunk is prepared) get a session
        # of their own: a board view or an ad-hoc query on the read session must not hold up the stream.
        self._hot_lock = threading.Lock()
        self._hot = _connect(settings, second_session=True)
        self._settings = settings
        self._sessions: list[Session] = []

    def open_session(self, *, writable: bool = False) -> Session:
        """A session of its own (on chDB: the same engine) for a background job: read-only unless ``writable``.

        So the job's long reads (topic lists, alert terms, gauges) and derivations (rollups) never hold the sessions
        of the worker's inserts and hot-path reads. It lives as long as the store (:meth:`close` closes it after
        any query in flight), since a job's thread may outlive the job's stop; the caller may close it earlier.
        """
        session = Session(_connect(self._settings, second_session=True), self.database, writable=writable)
        self._sessions.append(session)
        return session

    def command(self, sql: str, parameters: Parameters | None = None) -> None:
        """Run one statement that returns no rows; values travel as bound ``{name:Type}`` parameters."""
        _check_placeholders(sql, parameters)
        bound = bind_values(parameters)
        with self._lock:
            try:
                self._client.command(sql, parameters=bound)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: bool = False) -> QueryResult:
        """Run a query; values travel as bound ``{name:Type}`` parameters, never spliced into ``sql``.

        With ``read_only`` it runs on the read-only session with bounded time, rows and memory, and only if
        ClickHouse's parser says it is a plain SELECT/SHOW/DESCRIBE (see :mod:`pipeline.storage.readonly`).
        See :func:`pipeline.storage.query.bind_values` for how values are sent.
        """
        _check_placeholders(sql, parameters)
        bound = bind_values(parameters)
        if read_only:
            return self._read_checked(sql, bound)
        with self._lock:
            return _run(self._client, sql, bound)

    def read(self, sql: str, parameters: Parameters | None = None) -> QueryResult:
        """Run one of Serambi's own queries on the hot path's session: it waits neither for inserts nor views.

        For the worker's reads that run while its previous chunk is being inserted (conversations reloaded
        into the matcher), so reading and inserting overlap as preparing and inserting do. No limits: these
        queries are ours, not a user's.
        """
        _check_placeholders(sql, parameters)
        bound = bind_values(parameters)
        with self._hot_lock:
            return _run(self._hot, sql, bound)

    def read_view(self, sql: str, parameters: Parameters | None = None) -> QueryResult:
        """Run a view of Serambi's catalog on the read-only session, with its limits, without the parser's check.

        The catalog's SQL is Serambi's own (values only as bound parameters), so the ``EXPLAIN AST`` round trip
        that guards ad-hoc SQL (~17 ms for the leaderboard) is skipped; the session is read-only all the same.
        """
        _check_placeholders(sql, parameters)
        bound = bind_values(parameters)
        with self._read_lock:
            return _run(self._reader, sql, bound, READ_LIMITS)

    def _read_checked(self, sql: str, bound: dict[str, Any] | None) -> QueryResult:
        with self._read_lock:
            try:
                ast = self._reader.query(f"EXPLAIN AST {sql}", parameters=bound, settings=READ_LIMITS)
            except ClickHouseError as exc:
                msg = f"{ONE_READ_STATEMENT}; ClickHouse cannot parse this one: {_first_line(exc)}"
                raise StoreError(msg) from exc
            check_read_statement([str(row[0]) for row in ast.result_rows])
            return _run(self._reader, sql, bound, READ_LIMITS)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows into ``<database>.<table>``.

        Rows travel as JSONEachRow, parsed by ClickHouse itself: measured here ~7x faster than
        clickhouse-connect's Python-side Native encoding, on chDB and over HTTP alike.
        """
        if rows:
            self.insert_encoded(table, columns, encode_rows(columns, rows))

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Insert rows already encoded by :func:`encode_rows` (no Python work under the lock).

        On chDB, also returns the engine's freed memory to the system, at most every :attr:`purge_every_s`.
        """
        with self._lock:
            try:
                self._client.raw_insert(
                    f"{self.database}.{table}",
                    list(columns),
                    insert_block=body,
                    fmt="JSONEachRow",
                    settings=_JSON_INSERT,
                )
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc
            self._purge_engine_memory()

    def engine_memory(self) -> EngineMemory | None:
        """What chDB's allocator holds in this process; ``None`` on a ClickHouse server (or if chDB cannot say)."""
        if not self._dsn.startswith("chdb:"):
            return None
        with self._read_lock:
            try:
                rows = self._reader.query(STATS_SQL).result_rows
            except ClickHouseError:
                return None
        return parse_jemalloc_stats(str(rows[0][0])) if rows else None

    def _purge_engine_memory(self) -> None:
        # Holding self._lock: the purge runs in the writer's session, between two inserts.
        if self.purge_every_s is None or time.monotonic() - self._purged_at < self.purge_every_s:
            return
        try:
            self._client.command(PURGE_SQL)
        except ClickHouseError as exc:  # a chDB built without jemalloc: nothing to purge, ever
            log.warning("chDB's freed memory is not purged (%s); its RSS may stay near its peak", _first_line(exc))
            self.purge_every_s = None
        self._purged_at = time.monotonic()

    def migrate(self) -> list[str]:
        """Apply the packaged migrations not applied yet, in order, and the raw TTL; return their names.

        On a ClickHouse server, also create or update the users whose password is set: the workers' writer, the
        board's and Grafana's read-only readers (:mod:`pipeline.storage.server_migrations`). With
        ``SERAMBI_CLICKHOUSE_CLUSTER`` the schema is rendered for the cluster (:mod:`pipeline.storage.ddl`).
        """
        applied = apply_migrations(self, ttl_days=self._ttl_days, cluster=self.cluster)
        # Users whose password is set (the others are skipped with a line saying so); none on chDB.
        applied += apply_access(self, self._dsn, cluster=self.cluster, grafana_password=self._grafana_password)
        return applied

    def close(self) -> None:
        """Close the sessions, the background jobs' too."""
        for session in self._sessions:
            session.close()
        with self._lock, self._read_lock, self._hot_lock:
            self._hot.close()
            self._reader.close()
            self._client.close()


class Session:
    """A ClickHouse session of one background job (:meth:`Store.open_session`), for Serambi's own queries.

    On chDB it shares the process's engine; its own lock means the job never waits for, nor holds up, the worker's
    inserts and hot-path reads. Values travel as bound ``{name:Type}`` parameters; each query's time is bounded,
    rows are not (the job bounds what it reads). Read-only (``readonly=1``) unless opened ``writable``.
    """

    _LIMITS: ClassVar[dict[str, Any]] = {"max_execution_time": 300}

    def __init__(self, client: Any, database: str, *, writable: bool) -> None:
        self.database = database
        self.writable = writable
        self._client = client
        self._lock = threading.Lock()
        self._closed = False

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: bool = False) -> QueryResult:
        """Run one query; with ``read_only`` (always, in a read-only session) the engine refuses any write."""
        _check_placeholders(sql, parameters)
        settings = self._LIMITS if self.writable and not read_only else {**self._LIMITS, "readonly": 1}
        with self._lock:
            return _run(self._client, sql, bind_values(parameters), settings)

    def command(self, sql: str, parameters: Parameters | None = None) -> None:
        """Run one statement that returns no rows (a writable session only)."""
        if not self.writable:
            msg = "this session only reads: open it writable, or write through the Store"
            raise StoreError(msg)
        _check_placeholders(sql, parameters)
        with self._lock:
            try:
                self._client.command(sql, parameters=bind_values(parameters))
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc)) from exc

    def close(self) -> None:
        """Close the session once the query in flight, if any, is done; closing again does nothing."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._client.close()


def _check_placeholders(sql: str, parameters: Parameters | None) -> None:
    # clickhouse-connect formats parameters into the SQL text itself (client-side, escaped) when the SQL
    # has no ``{name:Type}`` placeholder; refuse that, so every value is bound by the server.
    unplaced = [name for name in parameters or () if not re.search(r"\{\s*" + re.escape(name) + r"\s*:", sql)]
    if unplaced:
        msg = f"parameters without a {{name:Type}} placeholder in the SQL: {', '.join(sorted(unplaced))}"
        raise StoreError(msg)


def _connect(settings: Settings, *, second_session: bool = False) -> Any:
    # The second session of this process shares its engine: the data dir's lock is already ours.
    dsn = settings.clickhouse_dsn
    if settings.uses_chdb and not second_session:
        path = Path(dsn.removeprefix("chdb://"))
        path.mkdir(parents=True, exist_ok=True)
        if chdb_locked(path):
            msg = (
                f"another process owns the ClickHouse data in {path}; "
                "use the running stack (serambi status) or set another SERAMBI_DATA_DIR"
            )
            raise StackBusyError(msg)
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:
        path = Path(dsn.removeprefix("chdb://"))
        if settings.uses_chdb and not second_session and chdb_locked(path):
            # Another process took the data dir between our check and chDB's start.
            msg = f"another process is opening the ClickHouse data in {path}; wait for it, or use another data dir"
            raise StackBusyError(msg) from exc
        if settings.uses_chdb:
            msg = f"cannot open ClickHouse (chDB in {path}): {_first_line(exc)}"
        else:
            msg = _unreachable(dsn, exc)
        raise StoreError(msg) from exc


def _unreachable(dsn: str, exc: BaseException) -> str:
    # One line the operator can act on: where (without the password), why in words, what to do; not the
    # client library's retry chatter and query id.
    url = urlsplit(dsn)
    where = f"{url.scheme}://{url.hostname or '?'}" + (f":{url.port}" if url.port else "")
    text = str(exc)
    causes = (
        ("Connection refused", "connection refused (is it running, on this port?)"),
        ("NameResolutionError", "host name not found"),
        ("Name or service not known", "host name not found"),
        ("timed out", "no answer (timed out)"),
        ("Authentication failed", "user name or password refused"),
        ("SSL", "TLS handshake failed (https:// on a plain HTTP port?)"),
    )
    found = (words for marker, words in causes if marker in text)
    why = next(found, re.sub(r"\?query_id=[\w-]+", "", _first_line(exc)))
    return (
        f"cannot reach ClickHouse at {where} (SERAMBI_CLICKHOUSE_URL): {why}; start it or fix "
        "SERAMBI_CLICKHOUSE_URL (empty = chDB in the data dir)"
    )


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


def _run(client: Any, sql: str, bound: dict[str, Any] | None, settings: dict[str, Any] | None = None) -> QueryResult:
    # The caller holds the lock of the session ``client`` is.
    try:
        result = client.query(sql, parameters=bound, settings=settings)
    except ClickHouseError as exc:
        raise StoreError(_first_line(exc)) from exc
    return QueryResult(tuple(result.column_names), [tuple(r) for r in result.result_rows])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
