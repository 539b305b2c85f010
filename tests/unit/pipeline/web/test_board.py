"""The board's HTTP side without ClickHouse: URL values become bound parameters, figures are rounded like the
report, the token and the Host are checked, static files are the package's own, and a busy port is explained."""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import orjson
import pytest

from pipeline.errors import ConfigError
from pipeline.storage.query import QueryResult
from pipeline.storage.sql.catalog import CATALOG, view
from pipeline.web.board import COOKIE, BoardOptions, board_app
from pipeline.web.board_server import BoardServer

NOW = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
TOKEN = "s3cret-board-token"


@dataclass
class RecordingEngine:
    """Answers every query with ``columns`` and ``rows``; keeps what it was asked (SQL text, bound parameters)."""

    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    asked: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None, *, read_only: Literal[True]) -> QueryResult:
        assert read_only is True
        self.asked.append((sql, dict(parameters or {})))
        return QueryResult(self.columns, list(self.rows))


class Answer:
    """A response: status, headers, JSON or text body."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> Any:
        return orjson.loads(self.body)


def fetch(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    """GET ``url`` without following redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=dict(headers or {}))
        return Answer(connection.getresponse())
    finally:
        connection.close()


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


def _serve(engine: RecordingEngine, options: BoardOptions | None = None) -> Iterator[str]:
    server = BoardServer(board_app(engine, "serambi", options, clock=lambda: NOW), "127.0.0.1", 0).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def board(engine: RecordingEngine) -> Iterator[str]:
    yield from _serve(engine)


@pytest.fixture
def locked(engine: RecordingEngine) -> Iterator[str]:
    yield from _serve(engine, BoardOptions(token=TOKEN))


def test_url_values_reach_sql_only_as_bound_parameters(board: str, engine: RecordingEngine) -> None:
    hostile = ["x') OR 1=1 --", "jpj'; DROP TABLE serambi.interactions; --"]
    query = urlencode([("agency", hostile[0]), ("agency", hostile[1]), ("tier", "state"), ("platform", "x")])
    assert fetch(f"{board}api/views/leaderboard?{query}").status == 200
    sql, parameters = engine.asked[-1]
    assert parameters["agencies"] == hostile
    assert parameters["tiers"] == ["state"]
    assert parameters["platforms"] == ["x"]
    assert parameters["since"] == NOW - timedelta(days=7)
    assert parameters["until"] == NOW
    assert not any(value in sql for value in [*hostile, "state"])


@pytest.mark.parametrize(("window", "days"), [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)])
def test_a_named_window_ends_now(board: str, engine: RecordingEngine, window: str, days: int) -> None:
    body = fetch(f"{board}api/views/quadrant?window={window}").json()
    assert engine.asked[-1][1]["since"] == NOW - timedelta(days=days)
    assert body["window"] == {
        "name": window,
        "since": f"{(NOW - timedelta(days=days)).isoformat()[:-6]}Z",
        "until": "2026-11-05T08:00:00Z",
    }


def test_explicit_instants_keep_their_offset(board: str, engine: RecordingEngine) -> None:
    # An unescaped '+' of an offset arrives as a space; it is read back as the offset.
    answer = fetch(f"{board}api/views/leaderboard?since=2026-11-01T08:00+08:00&until=2026-11-02T00:00:00Z")
    assert answer.status == 200, answer.body
    assert engine.asked[-1][1]["since"] == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert engine.asked[-1][1]["until"] == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("window=1w", "unknown window '1w'"),
        ("since=2026-11-01", "needs an offset"),
        ("since=2026-11-01T00:00Z&window=7d", "window replaces since/until"),
        ("limit=1001", "limit must be"),
        ("limit=-1", "limit must be"),
        ("agency=" + "a" * 201, "at most 200 agency values"),
        ("Agency=jpj", "unknown parameter 'Agency'"),
    ],
)
def test_bad_queries_are_refused_before_any_sql(board: str, engine: RecordingEngine, query: str, says: str) -> None:
    answer = fetch(f"{board}api/views/leaderboard?{query}")
    assert answer.status == 400
    assert says in answer.json()["error"]
    assert engine.asked == []


def test_figures_are_rounded_like_the_report_and_unsafe_links_dropped(board: str, engine: RecordingEngine) -> None:
    spec = view("unanswered")
    values = {
        "agency_id": "jpj",
        "account_id": "a1",
        "platform": "x",
        "message_id": "m1",
        "asked_at": datetime(2026, 11, 5, 7, 0, tzinfo=UTC).replace(tzinfo=None),  # as a driver may give UTC
        "age_seconds": 3600.123456,
        "status": "overdue",
        "link": "javascript:alert(1)",
    }
    engine.columns, engine.rows = spec.column_names, [tuple(values[c] for c in spec.column_names)]
    row = fetch(f"{board}api/views/unanswered").json()["rows"][0]
    assert row["age_seconds"] == 3600.123
    assert row["asked_at"] == "2026-11-05T07:00:00Z"
    assert row["link"] is None
    lead = view("leaderboard")
    sample = {"ratio": 0.123456789, "seconds": float("nan")}
    engine.columns, engine.rows = lead.column_names, [tuple(sample.get(c.unit.value, 1) for c in lead.columns)]
    row = fetch(f"{board}api/views/leaderboard").json()["rows"][0]
    assert row["reply_rate"] == 0.123457
    assert row["median_response_seconds"] is None


def test_every_view_is_served_with_its_columns(board: str) -> None:
    for name, spec in CATALOG.items():
        body = fetch(f"{board}api/views/{name}").json()
        assert [c["name"] for c in body["columns"]] == list(spec.column_names)
        assert body["rows"] == []
    meta = fetch(f"{board}api/meta").json()
    assert [v["name"] for v in meta["views"]] == list(CATALOG)
    assert meta["windows"] == ["24h", "7d", "30d", "90d"]


def test_unknown_view_is_a_json_404(board: str) -> None:
    answer = fetch(f"{board}api/views/leaderboard;drop")
    assert answer.status == 404
    assert "no view" in answer.json()["error"]


def test_pages_and_files_come_from_the_package_with_a_strict_policy(board: str) -> None:
    for path, kind in [
        ("", "text/html"),
        ("agency/jpj", "text/html"),
        ("static/board.js", "javascript"),
        ("static/vendor/uplot/uPlot.iife.min.js", "javascript"),
        ("static/board.css", "text/css"),
    ]:
        answer = fetch(board + path)
        assert answer.status == 200, path
        assert kind in answer.headers["Content-Type"], path
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "unsafe" not in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    for path in ["static/../board.py", "static/%2e%2e/board.py", "static/index.html", "static/nothing.js"]:
        assert fetch(board + path).status == 404, path


def test_the_pages_load_nothing_from_another_host(board: str) -> None:
    for page in ("", "agency/jpj"):
        html = fetch(board + page).body.decode()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), page


def test_a_token_is_needed_when_set(locked: str) -> None:
    assert fetch(f"{locked}api/meta").status == 401
    assert fetch(f"{locked}api/meta", {"Authorization": "Bearer wrong"}).status == 401
    assert fetch(f"{locked}api/meta", {"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert fetch(f"{locked}?token=wrong").status == 401


def test_opening_the_board_with_the_token_sets_a_strict_cookie_and_drops_it_from_the_url(locked: str) -> None:
    answer = fetch(f"{locked}agency/jpj?window=30d&token={TOKEN}")
    assert answer.status == 303
    assert answer.headers["Location"] == "/agency/jpj?window=30d"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert fetch(f"{locked}api/meta", {"Cookie": f"{COOKIE}={TOKEN}"}).status == 200
    assert fetch(f"{locked}api/meta", {"Cookie": f"{COOKIE}=nope"}).status == 401


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 421),
        ("evil.example:8780", 421),
        ("localhost:8780", 200),
        ("127.0.0.1", 200),
        ("[::1]:8780", 200),
    ],
)
def test_without_a_token_only_loopback_names_are_answered(board: str, host: str, status: int) -> None:
    # A site re-pointing its own name at 127.0.0.1 (DNS rebinding) sends that name as Host: refused.
    assert fetch(f"{board}api/meta", {"Host": host}).status == status


def test_a_busy_port_names_the_setting_or_falls_back(engine: RecordingEngine) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="SERAMBI_BOARD_PORT"):
            BoardServer(board_app(engine, "serambi"), "127.0.0.1", port)
        server = BoardServer(board_app(engine, "serambi"), "127.0.0.1", port, fallback=True).start()
        try:
            assert f":{port}/" not in server.url
            assert f"port {port} is in use" in server.describe()
            assert fetch(f"{server.url}api/meta").status == 200
        finally:
            server.stop()


class _DownEngine(RecordingEngine):
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None, *, read_only: Literal[True]) -> QueryResult:
        msg = "ClickHouse is down (fake)"
        raise ConnectionRefusedError(msg)


def test_probes_are_open_without_a_token_or_a_loopback_name(locked: str, engine: RecordingEngine) -> None:
    # Kubernetes probes the pod's address, with no token: liveness and readiness answer, and say nothing else.
    assert fetch(f"{locked}health", {"Host": "10.1.2.3:8780"}).json() == {"status": "ok"}
    ready = fetch(f"{locked}ready", {"Host": "10.1.2.3:8780"})
    assert (ready.status, ready.json()) == (200, {"status": "ready"})
    assert engine.asked[-1][0] == "SELECT 1"
    assert fetch(f"{locked}api/meta", {"Host": "10.1.2.3:8780"}).status == 401  # the rest still needs the token


def test_readiness_fails_while_clickhouse_does_not_answer() -> None:
    for url in _serve(_DownEngine()):
        answer = fetch(f"{url}ready")
        assert (answer.status, answer.json()["reason"]) == (503, "ClickHouse: ConnectionRefusedError")
        assert fetch(f"{url}health").status == 200


def test_metrics_are_open_and_count_requests_by_route_template(locked: str) -> None:
    fetch(f"{locked}api/views/no-such-view?window=7d", {"Authorization": f"Bearer {TOKEN}"})
    fetch(f"{locked}api/meta")  # refused: no token
    text = fetch(f"{locked}metrics", {"Host": "10.1.2.3:8780"}).body.decode()
    assert 'serambi_board_requests_total{route="/api/views/{name}",status="4xx"} 1.0' in text
    assert 'serambi_board_requests_total{route="/api/meta",status="4xx"} 1.0' in text
    assert "no-such-view" not in text  # bounded labels: the template, never the URL
