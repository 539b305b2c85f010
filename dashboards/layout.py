"""Dashboard-level defaults: tags, time range, variables, links between the Serambi dashboards, panel ids."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import datasource_variable, filter_variables, prometheus_variable

__all__ = ["TAG", "clickhouse_variables", "dashboard_base", "place", "prometheus_variables"]

TAG = "serambi"
"""Every Serambi dashboard carries this tag; the dashboards' link menu lists the dashboards with it."""


def clickhouse_variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    """The variables of a ClickHouse dashboard: ``$datasource``, ``$agency``, ``$platform``, ``$tier``."""
    return [datasource_variable(), *filter_variables()]


def prometheus_variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    """The variables of a Prometheus dashboard: ``$prometheus``."""
    return [prometheus_variable()]


def dashboard_base(
    uid: str, title: str, audience: str, *, time_from: str = "now-7d", refresh: str = "5m"
) -> sdk.Dashboard:
    """A dashboard with Serambi's defaults: UTC, weeks from Monday, the menu of the other Serambi dashboards."""
    menu = (
        sdk.DashboardLink("Serambi")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    return (
        sdk.Dashboard(title)
        .uid(uid)
        .tags([TAG, audience])
        .editable()
        .timezone("utc")
        .week_start("monday")
        .time(time_from, "now")
        .refresh(refresh)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(menu)
    )


def place(board: sdk.Dashboard, panels: Sequence[cogbuilder.Builder[model.Panel]]) -> sdk.Dashboard:
    """Add ``panels`` in reading order (the SDK flows them left to right), numbering them 1, 2, ..."""
    for number, panel in enumerate(panels, start=1):
        built = panel.build()
        built.id_val = number
        board = board.with_panel(_Built(built))
    return board


class _Built(cogbuilder.Builder[model.Panel]):
    # The SDK adds builders; this one hands over a panel already built (and numbered).
    def __init__(self, panel: model.Panel) -> None:
        self._panel = panel

    def build(self) -> model.Panel:
        return self._panel
