"""Cross-agency overview (central office): the leaderboard, the soapbox-to-dinner-party quadrant, weekly trends.

Reference lines from DOMAIN.md colour the figures: Meta's "very responsive" badge (>= 90 % answered, <= 15 min)
and the complaint charters (1 working day of business time; 24 h of wall clock, the default SLA).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.builders import table, text, timeseries, xychart
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import text as text_model
from grafana_foundation_sdk.models import xychart as xychart_model

from dashboards.common import (
    CHARTER_BUSINESS_SECONDS,
    CHARTER_WALL_SECONDS,
    META_REPLY_RATE,
    META_RESPONSE_SECONDS,
    QueryFormat,
)
from dashboards.layout import clickhouse_variables, dashboard_base, place
from dashboards.panels import (
    cell_override,
    class_mappings,
    data_link,
    from_view,
    thresholds,
    thresholds_override,
)

__all__ = ["FOLDER", "TITLE", "UID", "dashboard"]

UID = "serambi-overview"
TITLE = "Cross-agency overview"
FOLDER = "central-office"

_AGENCY_LINK = "/d/serambi-agency?var-agency=${__data.fields.agency_id}&${datasource:queryparam}&${__url_time_range}"


def _reply_rate_thresholds() -> sdk.ThresholdsConfig:
    return thresholds("red", (META_REPLY_RATE, "green"))


def _wall_thresholds() -> sdk.ThresholdsConfig:
    return thresholds("green", (META_RESPONSE_SECONDS, "yellow"), (CHARTER_WALL_SECONDS, "red"))


def _business_thresholds() -> sdk.ThresholdsConfig:
    return thresholds("green", (META_RESPONSE_SECONDS, "yellow"), (CHARTER_BUSINESS_SECONDS, "red"))


def references() -> text.Panel:
    """What the colours and lines mean."""
    content = (
        f"**Reference lines.** Green reply rate and SLA compliance: at least {META_REPLY_RATE:.0%} "
        f"(Meta's *very responsive* badge, which also asks for <= {META_RESPONSE_SECONDS // 60} min). "
        f"Response time: green up to {META_RESPONSE_SECONDS // 60} min, yellow up to the charters' "
        f"{CHARTER_WALL_SECONDS // 3600} h (wall clock) or 1 working day ({CHARTER_BUSINESS_SECONDS // 3600} "
        "business hours), red beyond. Click an agency's row to open its drill-down."
    )
    return text.Panel().title("How to read this").mode(text_model.TextMode.MARKDOWN).content(content).height(3).span(24)


def leaderboard_answering() -> table.Panel:
    """Reply rates (every message; those that need a reply), SLA compliance and two-way ratio, and the class."""
    columns = [
        "agency_id",
        "name",
        "tier",
        "class",
        "reply_rate",
        "needs_reply_rate",
        "sla_compliance",
        "two_way_ratio",
    ]
    return (
        from_view(table.Panel().title("Leaderboard: answering"), "leaderboard", columns)
        .mappings(class_mappings())
        .thresholds(_reply_rate_thresholds())
        .data_links([data_link("Open the agency's drill-down", _AGENCY_LINK, new_tab=False)])
        .overrides(
            [
                cell_override(["class"], "color-background", mode="basic"),
                cell_override(["reply_rate", "needs_reply_rate", "sla_compliance"], "color-text"),
            ]
        )
        .sort_by([sdk_common.TableSortByFieldState().display_name("reply_rate").desc(True)])
        .height(12)
        .span(10)
    )


def leaderboard_response_time() -> table.Panel:
    """Median and p90 time to the first reply (wall clock and business time) and the oldest unanswered."""
    columns = [
        "agency_id",
        "median_response_seconds",
        "p90_response_seconds",
        "median_business_seconds",
        "p90_business_seconds",
        "oldest_unanswered_seconds",
    ]
    business = ["median_business_seconds", "p90_business_seconds"]
    return (
        from_view(table.Panel().title("Leaderboard: response time"), "leaderboard", columns)
        .thresholds(_wall_thresholds())
        .data_links([data_link("Open the agency's drill-down", _AGENCY_LINK, new_tab=False)])
        .overrides(
            [
                cell_override(columns[1:], "color-text"),
                thresholds_override(business, _business_thresholds()),
            ]
        )
        .height(12)
        .span(8)
    )


def leaderboard_volume() -> table.Panel:
    """Citizen messages, answered, pending, overdue and the backlog now."""
    columns = ["agency_id", "citizen_messages", "answered", "pending", "overdue", "backlog"]
    return (
        from_view(table.Panel().title("Leaderboard: volume and backlog"), "leaderboard", columns)
        .data_links([data_link("Open the agency's drill-down", _AGENCY_LINK, new_tab=False)])
        .overrides([cell_override(["backlog"], "gauge", mode="basic")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("backlog").desc(True)])
        .height(12)
        .span(6)
    )


def quadrant() -> xychart.Panel:
    """Two-way ratio (x) against reply rate (y), bubble = citizen messages; green at >= 90 % answered."""

    def by_name(column: str) -> xychart.MatcherConfig:
        return xychart.MatcherConfig().id("byName").options(column)

    series = (
        xychart.XYSeriesConfig()
        .name(xychart.XychartXYSeriesConfigName().fixed("agencies"))
        .x(xychart.XychartXYSeriesConfigX().matcher(by_name("two_way_ratio")))
        .y(xychart.XychartXYSeriesConfigY().matcher(by_name("reply_rate")))
        .size(xychart.XychartXYSeriesConfigSize().matcher(by_name("citizen_messages")))
        .color(xychart.XychartXYSeriesConfigColor().matcher(by_name("reply_rate")))
    )
    # No unit and no min/max here: they would apply to the bubble-size field too (a count); the axes are
    # shares from 0 to 1, held by soft limits that do not reach the size scale.
    panel = from_view(xychart.Panel().title("Soapbox or dinner party"), "quadrant", mixed_units=True)
    return (
        panel.mapping(xychart_model.SeriesMapping.MANUAL)
        .series([series])
        .show(xychart_model.XYShowMode.POINTS)
        .point_size(xychart.XychartFieldConfigPointSize().min(6).max(40))
        .axis_soft_min(0)
        .axis_soft_max(1)
        .thresholds(_reply_rate_thresholds())
        .color_scheme(sdk.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .height(12)
        .span(12)
    )


def _trend(title: str, column: str, config: sdk.ThresholdsConfig | None) -> timeseries.Panel:
    panel = from_view(timeseries.Panel().title(title), "weekly_trends", ["time", column], QueryFormat.TIME_SERIES)
    panel = panel.show_points(common_model.VisibilityMode.ALWAYS).line_width(2).height(10).span(12)
    if config is not None:
        line = sdk_common.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.DASHED)
        panel = panel.thresholds(config).thresholds_style(line)
    return panel


def trend_reply_rate() -> timeseries.Panel:
    """Reply rate per agency and week, with Meta's 90 % line."""
    return _trend("Reply rate per week", "reply_rate", _reply_rate_thresholds())


def trend_response_time() -> timeseries.Panel:
    """Median response time per agency and week, with the 15 min and 24 h lines."""
    return _trend("Median response time per week", "median_response_seconds", _wall_thresholds())


def trend_messages() -> timeseries.Panel:
    """Citizen messages per agency and week."""
    return _trend("Citizen messages per week", "citizen_messages", None)


def dashboard() -> sdk.Dashboard:
    """The cross-agency overview."""
    board = dashboard_base(UID, TITLE, "central", time_from="now-30d")
    board = board.variables(clickhouse_variables())
    board = board.description("Every agency side by side: who answers citizens, how fast, and the trend.")
    panels = [
        references(),
        leaderboard_answering(),
        leaderboard_response_time(),
        leaderboard_volume(),
        quadrant(),
        trend_reply_rate(),
        trend_response_time(),
        trend_messages(),
    ]
    return place(board, panels)
