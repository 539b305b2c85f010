"""The ClickHouse users Serambi creates on a server (pipeline/storage/server_migrations.py): the worker's writer,
the board's reader and Grafana's; skipped without a password, never with the password in SQL, ON CLUSTER on a
cluster (their SQL parses with ClickHouse's parser in tests/integration/test_migrations.py)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.errors import ConfigError
from pipeline.storage.readonly import READ_LIMITS
from pipeline.storage.server_migrations import (
    GRAFANA,
    READER,
    SERVER_USERS,
    WRITER,
    apply_access,
    password_from_env,
    server_migration_files,
    server_statements,
)

SERVER = "http://clickhouse.internal:8123"
WRITER_PASSWORD = "writer password long enough"
READER_PASSWORD = "reader password long enough"


@dataclass
class RecordingRunner:
    """Records the statements it is given (a stand-in for the store's server session)."""

    database: str = "serambi"
    statements: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self.statements.append((sql, parameters))


def _profile(user: Any) -> dict[str, str]:
    (profile,) = [s for _, s in server_statements("serambi", user=user) if s.startswith("CREATE SETTINGS PROFILE")]
    return dict(re.findall(r"(\w+) = ('[^']*'|\d+)", profile))


def test_every_server_file_belongs_to_one_user() -> None:
    assert sorted(user.file for user in SERVER_USERS) == [entry.name for _, entry in server_migration_files()]


def test_users_without_a_password_are_skipped_with_a_line(caplog: pytest.LogCaptureFixture) -> None:
    runner = RecordingRunner()
    environ = {WRITER.password_env: WRITER_PASSWORD}
    with caplog.at_level(logging.WARNING):
        assert apply_access(runner, SERVER, environ=environ) == [WRITER.file]
    assert f"no {READER.password_env}: the ClickHouse user serambi_reader" in caplog.text
    assert f"no {GRAFANA.password_env}" in caplog.text
    assert all(READER.name not in sql and GRAFANA.name not in sql for sql, _ in runner.statements)
    assert apply_access(RecordingRunner(), "chdb:///tmp/x", environ=environ) == []


def test_users_are_created_with_salted_hashes_bound_as_parameters() -> None:
    runner = RecordingRunner(database="serambi_prod")
    environ = {WRITER.password_env: WRITER_PASSWORD, READER.password_env: READER_PASSWORD}
    grafana = SecretStr("grafana password long enough")
    assert apply_access(runner, SERVER, grafana_password=grafana, environ=environ) == [u.file for u in SERVER_USERS]
    sent = " ".join(sql + repr(params) for sql, params in runner.statements)
    for password in (WRITER_PASSWORD, READER_PASSWORD, grafana.get_secret_value()):
        assert password not in sent
    for user, password in ((WRITER, WRITER_PASSWORD), (READER, READER_PASSWORD)):
        users = [
            (sql, p)
            for sql, p in runner.statements
            if re.match(rf"(CREATE|ALTER) USER (IF NOT EXISTS )?{user.name}\b", sql)
        ]
        assert len(users) == 2
        for _, params in users:
            assert params is not None
            digest = hashlib.sha256((password + params["password_salt"]).encode()).hexdigest()
            assert params["password_sha256_hex"] == digest
    assert all(p is None for sql, p in runner.statements if "{" not in sql)


def test_a_short_password_is_refused_before_any_statement() -> None:
    runner = RecordingRunner()
    with pytest.raises(ConfigError, match=READER.password_env):
        apply_access(runner, SERVER, environ={READER.password_env: "short"})
    assert runner.statements == []


def test_on_a_cluster_every_access_statement_runs_on_every_node() -> None:
    runner = RecordingRunner()
    environ = {WRITER.password_env: WRITER_PASSWORD, READER.password_env: READER_PASSWORD}
    apply_access(runner, SERVER, cluster="prod", environ=environ)
    assert len(runner.statements) == 12
    assert all(" ON CLUSTER prod" in sql for sql, _ in runner.statements)


def test_the_writer_may_read_insert_and_delete_only() -> None:
    grants = [s for _, s in server_statements("serambi", user=WRITER) if s.startswith("GRANT") and " ON " in s]
    assert grants == ["GRANT SELECT, INSERT, ALTER DELETE ON serambi.* TO serambi_writer_role"]
    profile = _profile(WRITER)
    assert profile == {"insert_distributed_sync": "1", "distributed_product_mode": "'global'"}


def test_the_board_reader_is_read_only_with_the_read_sessions_limits() -> None:
    grants = [s for _, s in server_statements("serambi", user=READER) if s.startswith("GRANT") and " ON " in s]
    assert grants == ["GRANT SELECT ON serambi.* TO serambi_reader_role"]
    profile = _profile(READER)
    # The client re-sends READ_LIMITS with each read; readonly = 1 accepts only the values already in force.
    expected = {k: f"'{v}'" if isinstance(v, str) else str(v) for k, v in READ_LIMITS.items()}
    assert {k: v for k, v in profile.items() if k in READ_LIMITS} == expected
    assert profile["readonly"] == "1"


def test_grafana_keeps_readonly_2() -> None:
    assert _profile(GRAFANA)["readonly"] == "2"  # its plugin sets per-query settings, which readonly = 1 refuses


def test_passwords_come_from_the_variable_or_its_secret_file(tmp_path: Path) -> None:
    (tmp_path / WRITER.password_env).write_text(WRITER_PASSWORD + "\n")
    environ = {"SERAMBI_SECRETS_DIR": str(tmp_path)}
    assert password_from_env(environ, WRITER.password_env).get_secret_value() == WRITER_PASSWORD
    assert password_from_env({**environ, WRITER.password_env: "from env"}, WRITER.password_env).get_secret_value() == (
        "from env"
    )
    assert password_from_env(environ, READER.password_env).get_secret_value() == ""
