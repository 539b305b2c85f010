from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from pipeline.runtime.statefile import StackState, clear_state, client_token, read_state, write_private, write_state
from pipeline.settings import Settings, load_settings


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "serambi.toml"
    toml.write_text('partitions = 12\nkafka_bootstrap_servers = "from-toml:9092"\n')
    monkeypatch.setenv("SERAMBI_CONFIG_FILE", str(toml))
    monkeypatch.setenv("SERAMBI_KAFKA_BOOTSTRAP_SERVERS", "from-env:9092")
    settings = Settings()
    assert settings.partitions == 12
    assert settings.kafka_bootstrap_servers == "from-env:9092"
    assert not settings.embedded_broker


def test_settings_are_frozen_and_validated() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.partitions = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="partitions"):
        Settings(partitions=0)


def test_chdb_default_and_secret_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.clickhouse_dsn == f"chdb://{tmp_path.resolve()}/chdb"
    assert settings.uses_chdb
    remote = Settings(clickhouse_url=SecretStr("https://u:hunter2@ch:8443/db"))
    assert not remote.uses_chdb
    assert "hunter2" not in repr(remote)


def test_local_key_is_created_once_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERAMBI_PSEUDONYM_KEY", raising=False)
    first = load_settings(data_dir=tmp_path).pseudonym_key.get_secret_value()
    second = load_settings(data_dir=tmp_path).pseudonym_key.get_secret_value()
    assert first == second
    assert len(first) == 64
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SERAMBI_PSEUDONYM_KEY", "from-env")
    assert load_settings(data_dir=tmp_path).pseudonym_key.get_secret_value() == "from-env"


def test_state_of_a_live_stack_is_read(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "stack.json"
        url = f"http://127.0.0.1:{server.server_address[1]}"
        mine = StackState(os.getpid(), url, "127.0.0.1:2", "2026-11-02T00:00:00+00:00", 7)
        write_state(path, mine)
        assert read_state(path) == mine
        clear_state(path, os.getpid())
        assert not path.exists()
    finally:
        server.shutdown()


def test_stale_state_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    write_state(path, StackState(2**22 + 12345, "http://127.0.0.1:1", "b", "t"))
    assert read_state(path) is None  # no such process
    write_state(path, StackState(os.getpid(), "http://127.0.0.1:1", "b", "t"))
    assert read_state(path) is None  # a live pid (reused) whose API does not answer


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "serambi.example.my", ""])
def test_api_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ValidationError, match="SERAMBI_API_TOKEN"):
        Settings(api_host=host)
    assert Settings(api_host=host, api_token=SecretStr("t0ken")).api_host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_api_on_loopback_needs_no_token(host: str) -> None:
    assert Settings(api_host=host).api_host == host


def test_state_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stack.json"
    (tmp_path / "data").mkdir(mode=0o755)
    path.with_suffix(".tmp").write_text("left over by a crash")
    path.with_suffix(".tmp").chmod(0o644)
    old = os.umask(0)
    try:
        write_state(path, StackState(1, "http://127.0.0.1:1", "b", "t"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert json.loads(path.read_text())["pid"] == 1


def test_data_dir_is_made_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERAMBI_PSEUDONYM_KEY", raising=False)
    old = os.umask(0)
    try:
        load_settings(data_dir=tmp_path / "new")  # created for its pseudonym key
    finally:
        os.umask(old)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    existing = tmp_path / "old"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    load_settings(data_dir=existing, pseudonym_key=SecretStr("k"))
    assert existing.stat().st_mode & 0o777 == 0o700


def test_client_token_is_the_admin_token_else_the_api_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_token=SecretStr("api"))
    assert client_token(settings).get_secret_value() == "api"
    write_private(settings.admin_token_file, "admin\n")
    assert settings.admin_token_file.stat().st_mode & 0o777 == 0o600
    assert client_token(settings).get_secret_value() == "admin"
