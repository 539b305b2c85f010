"""Operations' views: backlogs now, active surges, the alert timeline and arrivals against their baseline."""

from __future__ import annotations

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.drilldown import _stub
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View

__all__ = ["VIEWS"]

BACKLOG_NOW = (
    Column("agency_id", Unit.TEXT, "the agency's id"),
    Column("backlog", Unit.COUNT, "messages unanswered at the window's end, whatever their age"),
    Column("overdue", Unit.COUNT, "of them, past the SLA"),
    Column("oldest_unanswered_seconds", Unit.SECONDS, "age of the oldest of them"),
)
ACTIVE_ALERTS = (
    Column("alert_id", Unit.TEXT, "the alert's id"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("platform", Unit.TEXT, "the platform, or 'all'"),
    Column("severity", Unit.TEXT, "warning or critical"),
    Column("started_at", Unit.TIME, "when the surge began (event time)"),
    Column("backlog", Unit.COUNT, "unanswered messages at the last update"),
    Column("arrivals_per_minute", Unit.COUNT, "citizen messages per minute in the surge window"),
    Column("baseline_per_minute", Unit.COUNT, "the usual rate for that hour"),
)
ALERT_TIMELINE = (
    Column("time", Unit.TIME, "when the alert started"),
    Column("end_time", Unit.TIME, "when it resolved (the window's end while active)"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("severity", Unit.TEXT, "warning or critical (the latest)"),
    Column("alert_id", Unit.TEXT, "the alert's id"),
)
ARRIVALS_VS_BASELINE = (
    Column("time", Unit.TIME, "the hour, UTC"),
    Column("agency_id", Unit.TEXT, "the agency"),
    Column("arrivals", Unit.COUNT, "citizen messages asked in that hour"),
    Column("baseline", Unit.COUNT, "the mean of the same hour of the week over the 4 weeks before"),
)


def _view(name: str, title: str, columns: tuple[Column, ...], description: str, time: str | None = None) -> View:
    return View(name, title, Audience.OPS, columns, lambda db, b: _stub(columns), time, description)


VIEWS = (
    _view("backlog_now", "Backlogs now", BACKLOG_NOW, "Unanswered messages per agency at the window's end."),
    _view("active_alerts", "Active surges", ACTIVE_ALERTS, "Surge alerts not resolved."),
    _view("alert_timeline", "Alert timeline", ALERT_TIMELINE, "Every alert open in the window.", "time"),
    _view("arrivals_vs_baseline", "Arrivals vs baseline", ARRIVALS_VS_BASELINE, "Hourly arrivals per agency.", "time"),
)
_ = Binding
