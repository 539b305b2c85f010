"""Migrations only a ClickHouse server takes: users, roles, settings profiles (chDB has no access control).

``schemas/clickhouse/server/NNNN_name.sql`` (package data), one file per user, applied in order on every call
(each statement is idempotent), so a changed password takes effect at the next run:

- ``serambi_grafana`` (:data:`GRAFANA`): Grafana's data source; SELECT, ``readonly = 2`` (the plugin sets
  per-query settings, which ``readonly = 1`` refuses), capped time, memory and rows;
- ``serambi_writer`` (:data:`WRITER`): ``serambi worker``; SELECT, INSERT, and ALTER DELETE (the rollup
  refresher deletes old builds with ``DELETE FROM``; nothing runs ALTER UPDATE);
- ``serambi_reader`` (:data:`READER`): ``serambi web``; SELECT, ``readonly = 1`` with the limits of the store's
  read session (:data:`pipeline.storage.readonly.READ_LIMITS`).

Each password comes from its variable (``SERAMBI_<ROLE>_CLICKHOUSE_PASSWORD``, or the file of that name in
``SERAMBI_SECRETS_DIR``). It never reaches SQL, a log or an error: ClickHouse receives a salted SHA-256 of it
(``IDENTIFIED WITH sha256_hash BY ... SALT ...``) as bound parameters, which is also all the server stores.
On a cluster every statement runs ``ON CLUSTER`` (users stored on each node).

Example::

    users = apply_access(store, settings.clickhouse_dsn, cluster="prod")  # users whose password is set
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import SecretStr

from pipeline.errors import ConfigError
from pipeline.storage.ddl import check_identifier, on_cluster, split_statements

__all__ = [
    "GRAFANA",
    "GRAFANA_PASSWORD_ENV",
    "GRAFANA_USER",
    "READER",
    "SERVER_USERS",
    "WRITER",
    "ServerRunner",
    "ServerUser",
    "apply_access",
    "apply_server_migrations",
    "password_from_env",
    "server_migration_files",
    "server_statements",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerUser:
    """A ClickHouse user Serambi creates: its name, password variable, migration file and who uses it."""

    name: str
    password_env: str
    file: str
    used_by: str


GRAFANA: Final = ServerUser(
    "serambi_grafana", "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD", "0001_grafana_reader.sql", "Grafana's data source"
)
WRITER: Final = ServerUser(
    "serambi_writer", "SERAMBI_WRITER_CLICKHOUSE_PASSWORD", "0002_writer.sql", "`serambi worker`"
)
READER: Final = ServerUser(
    "serambi_reader", "SERAMBI_READER_CLICKHOUSE_PASSWORD", "0003_board_reader.sql", "`serambi web`"
)
SERVER_USERS: Final = (GRAFANA, WRITER, READER)
GRAFANA_USER: Final = GRAFANA.name
GRAFANA_PASSWORD_ENV: Final = GRAFANA.password_env
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIN_PASSWORD_CHARS = 12


class ServerRunner(Protocol):
    """What server migrations need of :class:`pipeline.storage.store.Store`."""

    database: str

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """Run one statement with bound ``{name:Type}`` parameters."""


def server_migration_files() -> list[tuple[int, Traversable]]:
    """``(version, file)`` of every packaged server migration, in version order."""
    folder = resources.files("schemas").joinpath("clickhouse").joinpath("server")
    found = [(int(m.group(1)), e) for e in folder.iterdir() if (m := _MIGRATION_NAME.match(e.name))]
    return sorted(found, key=lambda item: item[0])


def server_statements(
    database: str, *, user: ServerUser = GRAFANA, cluster: str | None = None
) -> list[tuple[str, str]]:
    """``(file name, statement)`` creating ``user`` (Grafana's by default), ``{db}`` set to ``database``."""
    check_identifier(database, "database name")
    entry = resources.files("schemas").joinpath("clickhouse").joinpath("server").joinpath(user.file)
    statements = split_statements(entry.read_text(encoding="utf-8"))
    return [(user.file, on_cluster(s.replace("{db}", database), cluster)) for s in statements]


def password_from_env(environ: Mapping[str, str] | None = None, variable: str = GRAFANA_PASSWORD_ENV) -> SecretStr:
    """The password in ``variable`` (default Grafana's), else in ``$SERAMBI_SECRETS_DIR/<variable>`` ('' if neither)."""
    env = os.environ if environ is None else environ
    value = env.get(variable, "")
    secrets_dir = env.get("SERAMBI_SECRETS_DIR", "")
    if not value and secrets_dir and (Path(secrets_dir) / variable).is_file():
        value = (Path(secrets_dir) / variable).read_text(encoding="utf-8").strip()
    return SecretStr(value)


def apply_server_migrations(
    runner: ServerRunner, dsn: str, password: SecretStr, *, cluster: str | None = None
) -> list[str]:
    """Create or update Grafana's reader when ``dsn`` is a ClickHouse server (http/https); return the files applied.

    With chDB (``chdb://``) there is nothing to apply (no users there) and the password is not needed.
    On a server an empty or short password raises :class:`ConfigError` before any statement runs.
    """
    if not _is_server(dsn):
        return []
    return _apply_user(runner, GRAFANA, password, cluster)


def apply_access(
    runner: ServerRunner,
    dsn: str,
    *,
    cluster: str | None = None,
    grafana_password: SecretStr | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """On a ClickHouse server, create or update every user whose password is set; return the files applied.

    Passwords come from :func:`password_from_env` (Grafana's from ``grafana_password`` when given, as the
    settings read it). A user without one is skipped with a logged line; a password shorter than 12
    characters raises :class:`ConfigError`.
    """
    if not _is_server(dsn):
        return []
    applied: list[str] = []
    for user in SERVER_USERS:
        given = grafana_password if user is GRAFANA else None
        password = given if given is not None else password_from_env(environ, user.password_env)
        if not password.get_secret_value():
            log.warning("no %s: the ClickHouse user %s (%s) is not created", user.password_env, user.name, user.used_by)
            continue
        applied += _apply_user(runner, user, password, cluster)
    return applied


def _apply_user(runner: ServerRunner, user: ServerUser, password: SecretStr, cluster: str | None) -> list[str]:
    parameters = _password_parameters(user, password)
    for _, statement in server_statements(runner.database, user=user, cluster=cluster):
        # Bind only what this statement names (the store refuses a value without a placeholder).
        bound = {k: v for k, v in parameters.items() if "{" + k + ":" in statement}
        runner.command(statement, bound or None)
    return [user.file]


def _password_parameters(user: ServerUser, password: SecretStr) -> dict[str, str]:
    plain = password.get_secret_value()
    if not plain:
        where = " (deploy/grafana/README.md)" if user is GRAFANA else ""
        msg = (
            f"set {user.password_env} to create the ClickHouse user {user.name!r} of {user.used_by}{where}; "
            "the same password goes into its environment"
        )
        raise ConfigError(msg)
    if len(plain) < _MIN_PASSWORD_CHARS:
        msg = f"{user.password_env} is too short: use at least {_MIN_PASSWORD_CHARS} characters"
        raise ConfigError(msg)
    # ClickHouse checks SHA256(password || salt) against the stored hash (its sha256_password scheme).
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((plain + salt).encode("utf-8")).hexdigest()
    return {"password_sha256_hex": digest, "password_salt": salt}


def _is_server(dsn: str) -> bool:
    return dsn.startswith(("http://", "https://"))
