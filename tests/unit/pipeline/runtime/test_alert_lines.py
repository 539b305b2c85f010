"""The demo's alert lines: each transition the worker stored is said once, from a fake alerts table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipeline.runtime.alert_lines import AlertLines
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.sql.alerts import ALERT_ROW_COLUMNS
from schemas.alerts import AlertEvent
from tests.helpers.alerts import START, alert_fields

_INSTANTS = ("started_at", "updated_at", "resolved_at")


class AlertsTable:
    """The ``alerts`` table as ``list_alerts`` reads it: each alert's latest transition, newest first."""

    def __init__(self) -> None:
        self.latest: dict[str, AlertEvent] = {}
        self.failing = False

    def store(self, **changes: Any) -> None:
        event = AlertEvent.model_validate(alert_fields(**changes))
        self.latest[event.alert_id] = event

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: bool) -> QueryResult:
        assert read_only
        if self.failing:
            msg = "ClickHouse is busy"
            raise RuntimeError(msg)
        columns = (*(f"{c}_text" if c in _INSTANTS else c for c in ALERT_ROW_COLUMNS), "total")
        events = sorted(self.latest.values(), key=lambda e: e.started_at, reverse=True)
        rows = [self._row(event, len(events)) for event in events]
        return QueryResult(columns, rows)

    @staticmethod
    def _row(event: AlertEvent, total: int) -> tuple[Any, ...]:
        values = event.model_dump()
        for column in _INSTANTS:
            at = values[column]
            values[column] = None if at is None else at.replace(tzinfo=None).isoformat(sep=" ")
        return (*(values[column] for column in ALERT_ROW_COLUMNS), total)


def _lines(table: AlertsTable) -> tuple[AlertLines, list[str]]:
    said: list[str] = []
    return AlertLines(table, "serambi", said.append), said


def test_each_transition_is_said_once_with_backlog_and_arrivals_against_normal() -> None:
    table = AlertsTable()
    lines, said = _lines(table)
    lines.prime()
    lines.poll()
    assert said == []
    table.store()
    lines.poll()
    lines.poll()  # nothing new: nothing said
    assert said == [
        "ALERT raised:   unanswered surge at jpj (warning) since Mon 02 Nov 03:00 UTC: backlog 40, "
        "6.0 arrivals/min against a normal 1.0/min"
    ]
    later = START + timedelta(minutes=65)
    terms = ["banjir", "paras air", "bot"]
    table.store(transition="update", severity="critical", backlog=90, updated_at=later.isoformat(), top_terms=terms)
    lines.poll()
    assert said[-1] == (
        "ALERT updated:  unanswered surge at jpj (critical) since Mon 02 Nov 03:00 UTC: backlog 90, "
        "6.0 arrivals/min against a normal 1.0/min, citizens ask about: banjir, paras air, bot"
    )
    resolved = {"updated_at": later.isoformat(), "resolved_at": later.isoformat(), "top_terms": terms}
    table.store(transition="resolve", backlog=3, **resolved)
    lines.poll()
    assert said[-1].startswith("ALERT resolved: unanswered surge at jpj (warning)")
    assert said[-1].endswith("citizens ask about: banjir, paras air, bot; lasted 1 h 05 min of event time")
    assert len(said) == 3
    assert lines.summary().startswith("surge alerts this run: 1 raised, 1 resolved")


def test_an_alert_raised_and_resolved_between_two_polls_is_said_as_both() -> None:
    table = AlertsTable()
    lines, said = _lines(table)
    lines.prime()
    end = (START + timedelta(minutes=20)).isoformat()
    table.store(alert_id="quick", transition="resolve", updated_at=end, resolved_at=end)
    lines.poll()
    assert [line.split(":")[0] for line in said] == ["ALERT raised", "ALERT resolved"]
    assert said[1].endswith("lasted 20 min of event time")
    assert (lines.raised, lines.resolved) == (1, 1)


def test_alerts_of_an_earlier_run_are_not_said_and_a_failing_read_is_skipped() -> None:
    table = AlertsTable()
    table.store(alert_id="old")
    lines, said = _lines(table)
    lines.prime()
    table.failing = True
    lines.poll()  # logged, not raised: the demo goes on
    table.failing = False
    later = (START + timedelta(hours=1)).isoformat()
    table.store(alert_id="new", agency="metmy", started_at=later, updated_at=later)
    lines.poll()
    table.store(alert_id="new", agency="metmy", started_at=later, updated_at=later)  # a replayed raise
    lines.poll()
    assert len(said) == 1
    assert "at metmy" in said[0]
    assert (lines.raised, lines.resolved) == (1, 0)
