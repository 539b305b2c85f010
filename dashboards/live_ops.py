"""Live operations (on-call): backlogs now, active surges, the alert timeline, arrivals against their baseline."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import CHARTER_WALL_SECONDS, QueryFormat
from dashboards.layout import clickhouse_variables, dashboard_base, place
from dashboards.panels import cell_override, from_view, thresholds

__all__ = ["FOLDER", "TITLE", "UID", "dashboard"]

UID = "serambi-live-ops"
TITLE = "Live operations"
FOLDER = "ops"


def _severity_mappings() -> list[model.ValueMapping]:
    colours = {"warning": "orange", "critical": "red"}
    results = {k: model.ValueMappingResult(color=c, index=i) for i, (k, c) in enumerate(colours.items())}
    return [model.ValueMap(options=results)]


def backlog_now() -> table.Panel:
    """Unanswered citizen messages per agency at the window's end, and how many are past the SLA."""
    return (
        from_view(table.Panel().title("Backlog now"), "backlog_now", ["agency_id", "backlog", "overdue"])
        .overrides([cell_override(["backlog", "overdue"], "gauge", mode="basic")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("backlog").desc(True)])
        .height(10)
        .span(8)
    )


def oldest_unanswered() -> table.Panel:
    """Age of each agency's oldest unanswered message; red past the 24 h charter."""
    return (
        from_view(table.Panel().title("Oldest unanswered"), "backlog_now", ["agency_id", "oldest_unanswered_seconds"])
        .thresholds(thresholds("green", (CHARTER_WALL_SECONDS, "red")))
        .overrides([cell_override(["oldest_unanswered_seconds"], "color-background", mode="basic")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("oldest_unanswered_seconds").desc(True)])
        .height(10)
        .span(6)
    )


def active_surges() -> table.Panel:
    """Surge alerts not resolved: who, since when, how far above the usual rate, what their citizens ask about."""
    return (
        from_view(table.Panel().title("Active surges"), "active_alerts")
        .mappings(_severity_mappings())
        .overrides([cell_override(["severity"], "color-background", mode="basic")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("started_at").desc(True)])
        .height(10)
        .span(10)
    )


def alert_timeline() -> table.Panel:
    """Every surge alert open at some point of the window: start, end (the window's end while active), its terms."""
    return (
        from_view(table.Panel().title("Alert timeline"), "alert_timeline")
        .mappings(_severity_mappings())
        .overrides([cell_override(["severity"], "color-text")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("time").desc(True)])
        .height(10)
        .span(12)
    )


def arrivals_vs_baseline() -> timeseries.Panel:
    """Citizen messages per hour and agency against the mean of the same hour over the 4 weeks before."""
    return (
        from_view(
            timeseries.Panel().title("Arrivals vs baseline"), "arrivals_vs_baseline", None, QueryFormat.TIME_SERIES
        )
        .line_width(2)
        .height(10)
        .span(12)
    )


def dashboard() -> sdk.Dashboard:
    """Live operations."""
    board = dashboard_base(UID, TITLE, "ops", time_from="now-24h", refresh="1m")
    board = board.variables(clickhouse_variables())
    board = board.description(
        "What needs attention now: backlogs, surges of unanswered messages, their alerts and what citizens ask about."
    )
    panels = [backlog_now(), oldest_unanswered(), active_surges(), alert_timeline(), arrivals_vs_baseline()]
    return place(board, panels)
