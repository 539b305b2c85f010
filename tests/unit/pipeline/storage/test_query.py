"""Bound parameters: one wire form for every value, and no value ever in the SQL text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline.runtime.client import StackClient
from pipeline.storage.query import Parameters, QueryResult, bind_values
from pipeline.storage.sql.report import ReportWindow, build_report

HOSTILE = "x'); DROP TABLE serambi.posts; -- {agency:String} \\"


class RecordingEngine:
    """A QueryEngine that records what it was asked and answers with no rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: bool) -> QueryResult:
        assert read_only is True
        self.calls.append((sql, dict(parameters or {})))
        return QueryResult(("agency_id",), [])


def test_datetimes_travel_as_utc_text_with_microseconds() -> None:
    moment = datetime(2026, 11, 5, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert bind_values({"t": moment, "n": 24.0, "s": "it's"}) == {
        "t": "2026-11-05 06:00:00.123456",
        "n": 24.0,
        "s": "it's",
    }
    assert bind_values({"ts": [datetime(2026, 1, 1, tzinfo=UTC)]}) == {"ts": ["2026-01-01 00:00:00.000000"]}
    assert bind_values(None) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        bind_values({"t": datetime(2026, 1, 1)})  # noqa: DTZ001 - the point of the test


def test_the_report_binds_window_agency_and_sla_and_splices_none_of_them() -> None:
    engine = RecordingEngine()
    since = datetime(2026, 11, 5, 6, 0, 0, 250000, tzinfo=UTC)
    until = datetime(2026, 11, 10, tzinfo=UTC)
    window = ReportWindow(since=since, until=until, agency_id=HOSTILE, default_sla_hours=36.5)
    rows = build_report(engine, "serambi", window)
    assert [row["agency_id"] for row in rows] == [HOSTILE]
    [(sql, parameters)] = engine.calls
    assert parameters == {
        "since": since,
        "until": until,
        "default_sla_hours": 36.5,
        "agencies": [HOSTILE],
        "platforms": [],
        "tiers": [],
    }
    for placeholder in ("{since:DateTime64(6, 'UTC')}", "{until:DateTime64(6, 'UTC')}", "{agencies:Array(String)}"):
        assert placeholder in sql
    assert "{default_sla_hours:Float64}" in sql
    assert "DROP" not in sql
    assert "36.5" not in sql
    assert "2026" not in sql


def test_without_an_agency_every_agency_is_chosen() -> None:
    engine = RecordingEngine()
    build_report(engine, "serambi", ReportWindow(until=datetime(2026, 1, 1, tzinfo=UTC)))
    [(sql, parameters)] = engine.calls  # one query: the leaderboard lists the directory's silent agencies itself
    assert parameters["agencies"] == []
    assert "empty({agencies:Array(String)})" in sql


def test_the_stack_client_only_runs_read_only_queries() -> None:
    with pytest.raises(ValueError, match="read-only"):
        StackClient("http://127.0.0.1:9").query("SELECT 1", read_only=False)  # type: ignore[arg-type]
