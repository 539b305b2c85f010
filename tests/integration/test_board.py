"""The web board over a stack loaded with simulator data: its leaderboard equals ``serambi report``, every view
answers its columns, filters narrow the rows, and bad or SQL-looking input is refused or matches nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import orjson
import pytest

from pipeline.storage.sql.catalog import CATALOG
from pipeline.storage.sql.report import REPORT_FIELDS, ReportWindow, build_report
from pipeline.web.board import BoardOptions, board_app
from pipeline.web.board_server import BoardServer
from schemas.agency import Directory
from tests.helpers.catalog_data import LoadedStack, load_simulation
from tests.helpers.processes import run_cli

SLA_HOURS = 24.0


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, sample_directory: Directory
) -> Iterator[LoadedStack]:
    stack = load_simulation(tmp_path_factory.mktemp("board"), chdb_dir, sample_directory)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def board(loaded: LoadedStack) -> Iterator[str]:
    app = board_app(loaded.store, loaded.database, BoardOptions(default_sla_hours=SLA_HOURS))
    server = BoardServer(app, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET ``url``: its status and JSON body, errors included."""
    try:
        with urlopen(Request(url, headers=headers or {}), timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except HTTPError as error:
        return error.code, orjson.loads(error.read())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _rows(url: str) -> list[dict[str, Any]]:
    status, body = get(url)
    assert status == 200, body
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def test_leaderboard_has_the_numbers_of_serambi_report(board: str, loaded: LoadedStack) -> None:
    window = {"since": _iso(loaded.since), "until": _iso(loaded.until)}
    shown = {row["agency_id"]: row for row in _rows(f"{board}api/views/leaderboard?{urlencode(window)}")}
    report = build_report(
        loaded.store, loaded.database, ReportWindow(loaded.since, loaded.until, default_sla_hours=SLA_HOURS)
    )
    assert sorted(shown) == [row["agency_id"] for row in report]
    assert sum(row["answered"] for row in report) > 0  # figures to compare, not only zeros
    for row in report:
        for field in REPORT_FIELDS:
            assert shown[row["agency_id"]][field] == row[field], (row["agency_id"], field)


@pytest.fixture(scope="module")
def stack_env(loaded: LoadedStack) -> dict[str, str]:
    """The environment of a CLI process on the loaded stack: it reads through the stack's API, as a user's does."""
    settings = loaded.live.settings
    return {
        **os.environ,
        "SERAMBI_DATA_DIR": str(settings.data_dir),
        "SERAMBI_CLICKHOUSE_URL": settings.clickhouse_url.get_secret_value(),
        "SERAMBI_CLICKHOUSE_DATABASE": loaded.database,
        "SERAMBI_PSEUDONYM_KEY": "catalog",
        "SERAMBI_SLA_HOURS": str(SLA_HOURS),
    }


def test_leaderboard_equals_the_report_command(board: str, loaded: LoadedStack, stack_env: dict[str, str]) -> None:
    window = ["--since", _iso(loaded.since), "--until", _iso(loaded.until)]
    printed = orjson.loads(run_cli(["report", "--format", "json", *window], stack_env).stdout)["agencies"]
    query = urlencode({"since": _iso(loaded.since), "until": _iso(loaded.until)})
    shown = {row["agency_id"]: row for row in _rows(f"{board}api/views/leaderboard?{query}")}
    assert len(printed) == len(shown) > 0
    for row in printed:
        assert {f: shown[row["agency_id"]][f] for f in REPORT_FIELDS} == row


def test_the_report_command_writes_a_self_contained_page(
    loaded: LoadedStack, stack_env: dict[str, str], sample_directory: Directory
) -> None:
    html = run_cli(["report", "--format", "html", "--window", "7d"], stack_env).stdout
    assert html.startswith("<!doctype html>")
    for agency in sample_directory.agencies:
        assert f'<td class="u-text">{agency.id}</td>' in html
    assert "<circle" in html
    assert "http://" not in html
    assert "https://" not in html


def test_every_view_answers_its_columns(board: str) -> None:
    for name, view in CATALOG.items():
        status, body = get(f"{board}api/views/{name}?window=30d")
        assert status == 200, (name, body)
        assert [c["name"] for c in body["columns"]] == list(view.column_names)
        assert all(list(row) == list(view.column_names) for row in body["rows"]), name


def test_filters_narrow_the_rows(board: str, sample_directory: Directory) -> None:
    two = [("agency", "jpj"), ("agency", "metmy"), ("window", "7d")]
    assert sorted(r["agency_id"] for r in _rows(f"{board}api/views/leaderboard?{urlencode(two)}")) == ["jpj", "metmy"]
    state = sorted(a.id for a in sample_directory.agencies if a.tier == "state")
    tiered = _rows(f"{board}api/views/leaderboard?tier=state")
    assert sorted(r["agency_id"] for r in tiered) == state
    assert all(r["tier"] == "state" for r in tiered)


@pytest.mark.parametrize(
    "values",
    [
        [("agency", "x' OR 1=1 --")],
        [("agency", "jpj'); DROP TABLE interactions; --")],
        [("agency", "') OR ('1'='1"), ("tier", "state' OR '1'='1")],
        [("agency", "jpj\\")],
        [("platform", "x' OR '1'='1")],
    ],
)
def test_sql_looking_values_match_nothing(board: str, loaded: LoadedStack, values: list[tuple[str, str]]) -> None:
    before = loaded.store.query(f"SELECT count() FROM {loaded.database}.interactions", read_only=True).rows
    for name in ("leaderboard", "quadrant", "weekly_trends", "unanswered"):
        status, body = get(f"{board}api/views/{name}?{urlencode(values)}")
        assert status == 200, body
        # No agency has such an id; a platform filter alone keeps the directory's agencies, with no figure.
        if any(k == "agency" for k, _ in values):
            assert body["rows"] == [], (name, values)
        else:
            assert all(not r.get("citizen_messages") for r in body["rows"]), (name, values)
    after = loaded.store.query(f"SELECT count() FROM {loaded.database}.interactions", read_only=True).rows
    assert after == before != [(0,)]


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("api/views/no_such_view", 404, "no view 'no_such_view'"),
        ("api/views/leaderboard?window=1y", 400, "unknown window '1y'"),
        ("api/views/leaderboard?since=2026-01-01T00:00:00", 400, "needs an offset"),
        ("api/views/leaderboard?since=yesterday", 400, "not an ISO-8601 time"),
        ("api/views/leaderboard?since=2026-02-01T00:00Z&until=2026-01-01T00:00Z", 400, "must start before"),
        ("api/views/leaderboard?until=2026-01-01T00:00Z", 400, "until needs a since"),
        ("api/views/leaderboard?window=7d&since=2026-01-01T00:00Z", 400, "window replaces since/until"),
        ("api/views/unanswered?limit=0", 400, "limit must be"),
        ("api/views/leaderboard?agencies=jpj", 400, "unknown parameter 'agencies'"),
        ("api/nothing", 404, "Not Found"),
    ],
)
def test_bad_input_gets_a_json_error(board: str, path: str, status: int, says: str) -> None:
    answer, body = get(board + path)
    assert answer == status
    assert says in body["error"]
