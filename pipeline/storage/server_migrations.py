"""Migrations only a ClickHouse server takes: users, roles, settings profiles (chDB has no access control).

``schemas/clickhouse/server/NNNN_name.sql`` (package data), applied in order on every call (each statement is
idempotent), so a changed password takes effect at the next start. Today: the Grafana data source's read-only
user ``serambi_grafana`` (SELECT on Serambi's database, ``readonly = 2``, capped time, memory and rows).

The password comes from ``SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD``. It never reaches SQL, a log or an error:
ClickHouse receives a salted SHA-256 of it (``IDENTIFIED WITH sha256_hash BY ... SALT ...``) as bound
parameters, which is also all the server stores.

Example::

    applied = apply_server_migrations(store, settings.clickhouse_dsn, password_from_env())
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from importlib import resources
from importlib.abc import Traversable
from typing import Any, Final, Protocol

from pydantic import SecretStr

from pipeline.errors import ConfigError

__all__ = [
    "GRAFANA_PASSWORD_ENV",
    "GRAFANA_USER",
    "ServerRunner",
    "apply_server_migrations",
    "password_from_env",
    "server_migration_files",
    "server_statements",
]

GRAFANA_USER: Final = "serambi_grafana"
GRAFANA_PASSWORD_ENV: Final = "SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD"  # noqa: S105 (a variable name)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


def server_statements(database: str) -> list[tuple[str, str]]:
    """``(file name, statement)`` of every server migration, with ``{db}`` set to ``database``."""
    if not _IDENTIFIER.match(database):
        msg = f"the ClickHouse database name {database!r} is not a plain identifier"
        raise ConfigError(msg)
    found = []
    for _, entry in server_migration_files():
        text = entry.read_text(encoding="utf-8")
        body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        found += [(entry.name, s.strip().replace("{db}", database)) for s in body.split(";") if s.strip()]
    return found


def password_from_env(environ: Mapping[str, str] | None = None) -> SecretStr:
    """The Grafana reader's password from ``SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD`` ('' when unset)."""
    return SecretStr((os.environ if environ is None else environ).get(GRAFANA_PASSWORD_ENV, ""))


def _password_parameters(password: SecretStr) -> dict[str, str]:
    plain = password.get_secret_value()
    if not plain:
        msg = (
            f"set {GRAFANA_PASSWORD_ENV} to create the ClickHouse user {GRAFANA_USER!r} that Grafana reads with "
            "(deploy/grafana/README.md); the same variable goes into Grafana's environment"
        )
        raise ConfigError(msg)
    if len(plain) < _MIN_PASSWORD_CHARS:
        msg = f"{GRAFANA_PASSWORD_ENV} is too short: use at least {_MIN_PASSWORD_CHARS} characters"
        raise ConfigError(msg)
    # ClickHouse checks SHA256(password || salt) against the stored hash (its sha256_password scheme).
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((plain + salt).encode("utf-8")).hexdigest()
    return {"password_sha256_hex": digest, "password_salt": salt}


def apply_server_migrations(runner: ServerRunner, dsn: str, password: SecretStr) -> list[str]:
    """Apply the server migrations when ``dsn`` is a ClickHouse server (http/https); return the files applied.

    With chDB (``chdb://``) there is nothing to apply (no users there) and the password is not needed.
    On a server an empty or short password raises :class:`ConfigError` before any statement runs.
    """
    if not dsn.startswith(("http://", "https://")):
        return []
    parameters = _password_parameters(password)
    applied: list[str] = []
    for name, statement in server_statements(runner.database):
        # Bind only what this statement names (the store refuses a value without a placeholder).
        bound = {k: v for k, v in parameters.items() if "{" + k + ":" in statement}
        runner.command(statement, bound or None)
        if name not in applied:
            applied.append(name)
    return applied
