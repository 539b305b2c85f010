"""The views benchmark's pure parts: percentiles, the timing loop, the result's JSON and table, the board's render."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any, ClassVar, Literal

import pytest
from click.testing import CliRunner

from pipeline.bench.views import (
    FIRST_RENDER,
    RANGES,
    TARGET_INTERACTIONS,
    BoardTiming,
    QueryTiming,
    ViewsBenchOptions,
    ViewsBenchResult,
    percentile,
    time_board,
    time_view,
)
from pipeline.bench.views_data import LoadFigures
from pipeline.cli.bench import bench
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import CATALOG

ANCHOR = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([float(v) for v in range(1, 21)], 0.5, 10.5),
        ([float(v) for v in range(1, 21)], 0.95, 19.05),  # numpy's linear: 19 + 0.05 * (20 - 19)
        ([5.0, 1.0, 3.0], 0.5, 3.0),  # order does not matter
        ([7.0], 0.95, 7.0),
        ([1.0, 2.0], 0.0, 1.0),
        ([1.0, 2.0], 1.0, 2.0),
    ],
)
def test_percentile_interpolates_between_order_statistics(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "q"), [([], 0.5), ([1.0], -0.1), ([1.0], 1.5)])
def test_percentile_refuses_no_values_or_a_quantile_outside_0_1(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


class _CountingEngine:
    """A query engine answering two rows to every query, counting the queries."""

    def __init__(self) -> None:
        self.calls = 0

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        self.calls += 1
        return QueryResult(("agency_id",), [("a",), ("b",)])


def test_time_view_warms_up_once_then_times_each_run_and_counts_the_rows() -> None:
    engine = _CountingEngine()
    wanted = ViewFilter(ANCHOR - RANGES["7d"], ANCHOR)
    timings, rows = time_view(engine, "db", "leaderboard", wanted, ViewsBenchOptions(runs=5))
    assert len(timings) == 5
    assert engine.calls == 6  # the warm-up is not counted
    assert all(t >= 0 for t in timings)
    assert rows == 2


def test_time_view_stops_repeating_once_the_budget_is_spent_but_counts_one_run() -> None:
    engine = _CountingEngine()
    wanted = ViewFilter(ANCHOR - RANGES["24h"], ANCHOR)
    timings, _ = time_view(engine, "db", "leaderboard", wanted, ViewsBenchOptions(runs=20, budget_seconds=1e-9))
    assert len(timings) == 1
    assert engine.calls == 2


def _timing(view: str, audience: str, p95: float | None, error: str | None = None) -> QueryTiming:
    return QueryTiming(view, "7d", audience, 20, None if p95 is None else p95 / 2, p95, 60, error)


@pytest.mark.parametrize(
    ("timing", "met"),
    [
        (_timing("leaderboard", "central", 150.0), True),  # the bound is inclusive
        (_timing("leaderboard", "central", 150.1), False),
        (_timing("leaderboard", "central", None, "TIMEOUT_EXCEEDED"), False),
        (_timing("unanswered", "agency", 900.0), None),  # no target for drill-down views
        (_timing("backlog_now", "ops", 900.0), None),
    ],
)
def test_the_target_applies_to_overview_views_only(timing: QueryTiming, met: bool | None) -> None:
    assert timing.target_met is met


def _result(queries: tuple[QueryTiming, ...], board: BoardTiming | None, interactions: int) -> ViewsBenchResult:
    load = LoadFigures(interactions, interactions // 4, interactions // 20, 60, 12.5, {"agencies": 0.1, "posts": 1.0})
    sizes = (
        {"table": "interactions", "rows": interactions, "compressed_bytes": 2**20, "uncompressed_bytes": 0, "parts": 3},
    )
    return ViewsBenchResult(interactions, 60, 20, ANCHOR, load, False, "refreshed", 3.0, sizes, queries, board)


def _all_queries(p95: float) -> tuple[QueryTiming, ...]:
    return tuple(
        QueryTiming(name, label, spec.audience.value, 20, p95 / 2, p95, 10)
        for name, spec in CATALOG.items()
        for label in RANGES
    )


def test_the_json_names_every_view_and_range_with_its_percentiles() -> None:
    board = BoardTiming("http://127.0.0.1:1/", (("/",), ("/api/meta",)), 20, 40.0, 55.0)
    out = json.loads(_result(_all_queries(100.0), board, 50_000_000).as_json())
    assert out["interactions"] == 50_000_000
    assert out["load_seconds"] == 12.5
    assert {(q["view"], q["range"]) for q in out["queries"]} == {(v, r) for v in CATALOG for r in RANGES}
    first = out["queries"][0]
    assert {"view", "range", "p50_ms", "p95_ms", "rows", "runs", "error", "target_met"} <= set(first)
    assert (first["p50_ms"], first["p95_ms"], first["rows"]) == (50.0, 100.0, 10)
    assert out["board"] == {
        "url": "http://127.0.0.1:1/",
        "stages": [["/"], ["/api/meta"]],
        "runs": 20,
        "p50_ms": 40.0,
        "p95_ms": 55.0,
        "error": None,
    }
    assert out["target"]["met"] is True
    assert out["target"]["views"] == sorted(v.name for v in CATALOG.values() if v.audience.value == "central")


def test_without_a_board_the_json_says_null_and_the_table_says_not_available() -> None:
    result = _result(_all_queries(100.0), None, 1_000_000)
    assert json.loads(result.as_json())["board"] is None
    assert "board: not available in this build" in result.table()


def test_the_table_has_a_line_per_view_and_range_and_marks_only_overview_views() -> None:
    lines = _result(_all_queries(100.0), None, TARGET_INTERACTIONS).table()
    for name, spec in CATALOG.items():
        for label in RANGES:
            [line] = [x for x in lines if re.match(rf"{name}\s+{label}\s", x)]
            assert line.endswith("met") == (spec.audience.value == "central")
    assert lines[-1] == "target: overview views p95 <= 150 ms: met"


def test_the_verdict_names_what_missed_and_says_when_the_run_was_not_at_the_target_size() -> None:
    queries = (
        QueryTiming("leaderboard", "90d", "central", 20, 90.0, 400.0, 60),
        QueryTiming("quadrant", "24h", "central", 0, None, None, None, "TIMEOUT_EXCEEDED"),
        QueryTiming("unanswered", "90d", "agency", 20, 900.0, 1000.0, 100),
    )
    result = _result(queries, None, 1_000_000)
    assert not result.target_met
    lines = result.table()
    assert lines[-1] == (
        "target: overview views p95 <= 150 ms: missed (leaderboard 90d, quadrant 24h); the target is set at 50,000,000"
    )
    assert any(line.startswith("quadrant") and "failed: TIMEOUT_EXCEEDED" in line for line in lines)


class _Board(BaseHTTPRequestHandler):
    """A page naming two static files; JSON answers; 404 for anything else. Records the paths asked."""

    seen: ClassVar[list[str]] = []
    page = b'<link href="/static/a.css"><script src="/static/b.js"></script><script src="/static/b.js"></script>'

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path == "/":
            body, status = self.page, 200
        elif self.path.startswith(("/static/", "/api/")):
            body, status = b"{}", 200
        else:
            body, status = b"no", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def board_url() -> Iterator[str]:
    _Board.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Board)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_time_board_loads_the_page_its_static_files_and_each_json_stage(board_url: str) -> None:
    stages = (("/api/meta",), ("/api/views/leaderboard?window=7d", "/api/views/quadrant?window=7d"))
    timing = time_board(board_url, runs=3, budget_s=60, json_stages=stages)
    assert timing.error is None
    assert timing.runs == 3
    assert timing.p50_ms is not None
    assert timing.p95_ms is not None
    assert timing.p50_ms <= timing.p95_ms
    assert timing.stages == (("/",), ("/static/a.css", "/static/b.js"), *stages)
    # The page once to find its files, then a warm-up and three timed renders of 6 requests each.
    assert len(_Board.seen) == 1 + 4 * 6
    assert sorted(set(_Board.seen)) == sorted({"/", "/static/a.css", "/static/b.js", *stages[0], *stages[1]})


def test_time_board_reports_a_failing_request_instead_of_figures(board_url: str) -> None:
    timing = time_board(board_url, runs=3, budget_s=60, json_stages=(("/missing",),))
    assert timing.p95_ms is None
    assert timing.error is not None
    assert "404" in timing.error


def _static(name: str) -> str:
    path = files("pipeline.web") / "static" / name
    if not path.is_file():
        pytest.skip(f"this build has no board page script {name}")
    return path.read_text(encoding="utf-8")


def test_the_first_render_requests_are_those_the_board_scripts_make() -> None:
    board_js, overview_js = _static("board.js"), _static("overview.js")
    board = pytest.importorskip("pipeline.web.board")
    meta, views = FIRST_RENDER
    assert meta == ("/api/meta",)
    assert 'getJSON("/api/meta")' in board_js
    # overview.js's load(): `view("leaderboard", { window: win })` (the default window) or a fixed window.
    asked = re.findall(r'view\("(\w+)", \{ window: (win|"\w+") \}\)', overview_js)
    expected = [
        f"/api/views/{name}?window={board.DEFAULT_WINDOW if window == 'win' else window.strip(chr(34))}"
        for name, window in asked
    ]
    assert expected
    assert sorted(views) == sorted(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interactions", "5999"], "at least 6,000 interactions for 60 agencies"),
        (["--agencies", "11"], "11 is not in the range 12<=x<=200"),
        (["--runs", "0"], "0 is not in the range x>=1"),
    ],
)
def test_the_command_refuses_a_shape_it_cannot_generate_before_loading_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(bench, ["views", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
