"""The chDB-backed ClickHouse HTTP server (tests/helpers/chserver.py), as clickhouse-connect and Store use it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import clickhouse_connect
import lz4.frame  # type: ignore[import-untyped]
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from pydantic import SecretStr

from pipeline.settings import load_settings
from pipeline.storage.migrations import migration_files
from pipeline.storage.rows import event_json
from pipeline.storage.server_migrations import server_migration_files
from pipeline.storage.store import Store
from schemas.tables import COLUMNS, POSTS
from tests.helpers.chserver import clickhouse_server
from tests.helpers.events import make_event

ODD_TEXT = "it's \\ a\ttab,\na line ü {x:String} ; FORMAT Native"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with clickhouse_server(tmp_path_factory.mktemp("chserver") / "ch") as found:
        yield found


@pytest.fixture
def database(url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    client = clickhouse_connect.get_client(dsn=url)
    client.command(f"CREATE DATABASE {name}")
    client.close()
    return name


def http(url: str, params: dict[str, str], body: bytes | None = None, **headers: str) -> tuple[int, Any, bytes]:
    """One raw request (GET without a body): status, headers, body."""
    request = urllib.request.Request(f"{url}?{urlencode(params)}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.parametrize("compress", [True, "zstd", "gzip", False])
def test_client_round_trips_bound_parameters_of_several_types(url: str, database: str, compress: bool | str) -> None:
    client = clickhouse_connect.get_client(dsn=url, compress=compress)
    table = f"{database}.typed"
    client.command(
        f"CREATE TABLE {table} (s String, at DateTime64(3, 'UTC'), tags Array(Tuple(String, String, String)), "
        "n UInt32, lc LowCardinality(String)) ENGINE = MergeTree ORDER BY n"
    )
    at = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    rows = [[ODD_TEXT, at, [("a", "b'", "c\\")], 7, "x"], ["other", at, [], 8, "y"]]
    summary = client.insert(table, rows, column_names=["s", "at", "tags", "n", "lc"])  # Native, compressed
    assert summary.written_rows == 2
    found = client.query(
        f"SELECT s, at, tags, n, lc FROM {table} WHERE s = {{s:String}} AND at = {{at:DateTime64(3, 'UTC')}} "
        "AND tags = {tags:Array(Tuple(String, String, String))} AND n = {n:UInt32}",
        parameters={"s": ODD_TEXT, "at": "2024-05-06 07:08:09.123", "tags": [("a", "b'", "c\\")], "n": 7},
    )
    assert found.result_rows == [(ODD_TEXT, at.replace(tzinfo=None), [("a", "b'", "c\\")], 7, "x")]
    assert client.command(f"SELECT count() FROM {table} WHERE n >= {{n:UInt32}}", parameters={"n": 8}) == 1


def test_a_long_parameter_travels_in_a_form(url: str) -> None:
    client = clickhouse_connect.get_client(dsn=url)
    value = "ü\t" * 3000  # past clickhouse-connect's 4096-character URL limit: a query sends it as multipart/form-data
    found = client.query("SELECT lengthUTF8({v:String}), {v:String} = repeat('ü\t', 3000)", parameters={"v": value})
    assert found.result_rows == [(6000, True)]


def test_errors_surface_as_the_clients_error_with_the_servers_message(url: str, database: str) -> None:
    client = clickhouse_connect.get_client(dsn=url)
    with pytest.raises(DatabaseError, match=r"UNKNOWN_TABLE") as missing:
        client.query(f"SELECT * FROM {database}.nope")
    assert missing.value.code == 60
    assert f"{database}.nope" in str(missing.value)
    with pytest.raises(DatabaseError, match=r"Code: 62\. DB::Exception: Syntax error"):
        client.command("SELEC 1")
    status, headers, body = http(url, {"query": f"SELECT * FROM {database}.nope"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception: ")
    status, _, body = http(url, {"query": "SELECT 1; SELECT 2"})
    assert (status, b"Multi-statements are not allowed" in body) == (400, True)


def test_readonly_refuses_writes(url: str, database: str) -> None:
    writer = clickhouse_connect.get_client(dsn=url)
    writer.command(f"CREATE TABLE {database}.kept (n UInt32) ENGINE = MergeTree ORDER BY n")
    reader = clickhouse_connect.get_client(dsn=url, settings={"readonly": 1})
    with pytest.raises(DatabaseError, match="READONLY") as refused:
        reader.command(f"INSERT INTO {database}.kept VALUES (1)")
    assert refused.value.code == 164
    with pytest.raises(DatabaseError, match="READONLY"):
        reader.insert(f"{database}.kept", [[2]], column_names=["n"])
    with pytest.raises(DatabaseError, match="READONLY"):
        reader.command("CREATE ROLE IF NOT EXISTS not_in_readonly")
    status, _, body = http(url, {"query": f"CREATE TABLE {database}.by_get (n UInt8) ENGINE = Memory"})  # GET
    assert (status, b"(READONLY)" in body) == (500, True)
    assert reader.command(f"SELECT count() FROM {database}.kept") == 0


def test_access_control_is_parsed_not_enforced(url: str) -> None:
    client = clickhouse_connect.get_client(dsn=url)
    client.command("CREATE ROLE IF NOT EXISTS some_reader")
    client.command("GRANT SELECT ON some_db.* TO some_reader")
    with pytest.raises(DatabaseError, match="SYNTAX_ERROR"):
        client.command("GRANT SELEC ON some_db.* TO some_reader")
    with pytest.raises(DatabaseError, match="UNKNOWN_QUERY_PARAMETER"):
        client.command("CREATE USER IF NOT EXISTS u IDENTIFIED WITH sha256_hash BY {hash:String}")
    with pytest.raises(DatabaseError, match="NOT_IMPLEMENTED"):
        client.command("SET max_threads = 1")


def test_http_surface_answers_like_a_server(url: str) -> None:
    status, _, body = http(f"{url}ping", {})
    assert (status, body) == (200, b"Ok.\n")
    query = {"query": "SELECT number AS n FROM numbers(3)", "query_id": "q-1", "default_format": "JSONEachRow"}
    status, headers, body = http(url, query, b"", **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert [json.loads(line)["n"] for line in body.splitlines()] == [0, 1, 2]  # not compressed: not enabled
    assert (headers["X-ClickHouse-Query-Id"], headers["X-ClickHouse-Format"]) == ("q-1", "JSONEachRow")
    assert headers["X-ClickHouse-Timezone"]
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] == "3"
    status, headers, body = http(url, {**query, "enable_http_compression": "1"}, b"", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert len(gzip.decompress(body).splitlines()) == 3


def test_request_bodies_of_several_lz4_frames_are_read_whole(url: str, database: str) -> None:
    client = clickhouse_connect.get_client(dsn=url)
    client.command(f"CREATE TABLE {database}.framed (n UInt32) ENGINE = MergeTree ORDER BY n")
    head = f"INSERT INTO {database}.framed (n) FORMAT JSONEachRow\n".encode()
    body = lz4.frame.compress(head + b'{"n": 1}\n') + lz4.frame.compress(b'{"n": 2}\n')  # as clickhouse-connect
    status, headers, _ = http(url, {}, body, **{"Content-Encoding": "lz4"})
    assert (status, json.loads(headers["X-ClickHouse-Summary"])["written_rows"]) == (200, "2")
    assert client.command(f"SELECT sum(n) FROM {database}.framed") == 3


def test_store_migrates_and_round_trips(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD", "a-long-test-password")
    settings = load_settings(
        data_dir=tmp_path / "data",
        clickhouse_url=SecretStr(url),
        clickhouse_database=f"s_{uuid.uuid4().hex[:10]}",
        pseudonym_key=SecretStr("chserver-test-key"),
    )
    store = Store(settings)
    names = [entry.name for _, entry in migration_files()]
    applied = store.migrate()
    assert applied[: len(names)] == names
    assert "0001_grafana_reader.sql" in applied[len(names) :]  # server migrations: users, roles, profiles
    assert store.migrate() == applied[len(names) :]  # those run every time; the rest once
    posts = [make_event("post", text=ODD_TEXT) for _ in range(3)]
    store.insert_encoded(POSTS, COLUMNS[POSTS], b"\n".join(event_json(post) for post in posts))
    sql = f"SELECT event_id, text FROM {settings.clickhouse_database}.posts ORDER BY event_id"
    expected = sorted((post.event_id, ODD_TEXT) for post in posts)
    assert store.query(sql).rows == expected
    assert store.query(sql, read_only=True).rows == expected
    store.close()


def test_two_processes_inserting_concurrently_get_every_row(url: str, database: str, tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(dsn=url)
    client.command(f"CREATE TABLE {database}.rows (writer String, n UInt32) ENGINE = MergeTree ORDER BY (writer, n)")
    code = """if True:
        import sys
        from pydantic import SecretStr
        from pipeline.settings import load_settings
        from pipeline.storage.rows import encode_rows
        from pipeline.storage.store import Store
        url, database, writer, data_dir = sys.argv[1:]
        settings = load_settings(
            data_dir=data_dir, clickhouse_url=SecretStr(url), clickhouse_database=database, pseudonym_key=SecretStr("k")
        )
        store = Store(settings)
        for batch in range(20):
            rows = [(writer, batch * 500 + i) for i in range(500)]
            store.insert_encoded("rows", ("writer", "n"), encode_rows(("writer", "n"), rows))
        store.close()
    """
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, database, name, str(tmp_path / name)], stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()
    counts = client.query(f"SELECT writer, count(), uniqExact(n) FROM {database}.rows GROUP BY writer ORDER BY writer")
    assert counts.result_rows == [("a", 10_000, 10_000), ("b", 10_000, 10_000)]


def test_a_restarted_server_reads_what_the_last_one_wrote(tmp_path: Path) -> None:
    with clickhouse_server(tmp_path / "ch") as first:  # the helper fails unless SIGTERM ends it with exit 0
        client = clickhouse_connect.get_client(dsn=first)
        client.command("CREATE TABLE default.kept (n UInt32) ENGINE = MergeTree ORDER BY n")
        client.insert("default.kept", [[1], [2], [3]], column_names=["n"])
    with clickhouse_server(tmp_path / "ch") as second:
        assert clickhouse_connect.get_client(dsn=second).command("SELECT sum(n) FROM default.kept") == 6


def test_every_server_migration_is_accepted(url: str) -> None:
    # Whichever users their passwords enable: each statement must pass the server (its parser, here).
    client = clickhouse_connect.get_client(dsn=url)
    hashed = {"password_sha256_hex": "ab" * 32, "password_salt": "cd" * 16}
    for _, entry in server_migration_files():
        text = "\n".join(line for line in entry.read_text().splitlines() if not line.strip().startswith("--"))
        for statement in filter(str.strip, text.replace("{db}", "serambi").split(";")):
            bound = {name: value for name, value in hashed.items() if "{" + name + ":" in statement}
            client.command(statement, parameters=bound or None)
