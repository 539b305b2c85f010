"""Agency drill-down (an agency's social team, ``$agency``): its accounts, rhythms, speed and open messages.

Its accounts and platforms, when citizens write and how fast they are answered (weekday x hour), the
response-time distribution, its push / pull / networking mix, and the messages still unanswered with links
to the platform.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, table, timeseries
from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import CHARTER_WALL_SECONDS, META_REPLY_RATE, META_RESPONSE_SECONDS, QueryFormat
from dashboards.layout import clickhouse_variables, dashboard_base, place
from dashboards.listening import rising_pain_points, week_topics
from dashboards.panels import (
    MATRIX_ROWS,
    cell_override,
    class_mappings,
    data_link,
    from_view,
    thresholds,
    weekday_hour_matrix,
)

__all__ = ["FOLDER", "TITLE", "UID", "dashboard"]

UID = "serambi-agency"
TITLE = "Agency drill-down"
FOLDER = "agency-teams"

_ACCOUNT = ["agency_id", "account_id", "platform"]


def _response_thresholds() -> sdk.ThresholdsConfig:
    return thresholds("green", (META_RESPONSE_SECONDS, "yellow"), (CHARTER_WALL_SECONDS, "red"))


def accounts_answering() -> table.Panel:
    """Each account's reply rates (every message; those that need a reply), SLA compliance, two-way ratio, class."""
    columns = [*_ACCOUNT, "class", "reply_rate", "needs_reply_rate", "sla_compliance", "two_way_ratio"]
    return (
        from_view(table.Panel().title("Accounts: answering"), "agency_accounts", columns)
        .mappings(class_mappings())
        .thresholds(thresholds("red", (META_REPLY_RATE, "green")))
        .overrides(
            [
                cell_override(["class"], "color-background", mode="basic"),
                cell_override(["reply_rate", "needs_reply_rate", "sla_compliance"], "color-text"),
            ]
        )
        .height(9)
        .span(10)
    )


def accounts_volume() -> table.Panel:
    """Each account's citizen messages, answered, and backlog at the window's end."""
    columns = [*_ACCOUNT, "citizen_messages", "answered", "backlog"]
    return (
        from_view(table.Panel().title("Accounts: volume"), "agency_accounts", columns)
        .overrides([cell_override(["backlog"], "gauge", mode="basic")])
        .height(9)
        .span(8)
    )


def accounts_response_time() -> table.Panel:
    """Each account's median time to the first reply."""
    columns = [*_ACCOUNT, "median_response_seconds"]
    return (
        from_view(table.Panel().title("Accounts: response time"), "agency_accounts", columns)
        .thresholds(_response_thresholds())
        .overrides([cell_override(["median_response_seconds"], "color-text")])
        .height(9)
        .span(6)
    )


def arrivals_heatmap() -> table.Panel:
    """Citizen messages by weekday (rows, 1 = Monday) and hour of day (columns), UTC."""
    columns = ["weekday", "hour", "citizen_messages"]
    panel = from_view(table.Panel().title("When citizens write (weekday x hour, UTC)"), "arrivals_heatmap", columns)
    for step in weekday_hour_matrix("citizen_messages"):
        panel = panel.with_transformation(step)
    return (
        panel.color_scheme(sdk.FieldColor().mode(model.FieldColorModeId.CONTINUOUS_BL_PU))
        .cell_options(
            common_model.TableColoredBackgroundCellOptions(mode=common_model.TableCellBackgroundDisplayMode.BASIC)
        )
        .overrides([cell_override([MATRIX_ROWS], "auto")])
        .sort_by([sdk_common.TableSortByFieldState().display_name(MATRIX_ROWS)])
        .height(9)
        .span(24)
    )


def response_heatmap() -> table.Panel:
    """Median time to the first reply by the weekday and hour the message was written, UTC."""
    columns = ["weekday", "hour", "median_response_seconds"]
    title = "How fast, by when they wrote (median, weekday x hour, UTC)"
    panel = from_view(table.Panel().title(title), "response_heatmap", columns)
    for step in weekday_hour_matrix("median_response_seconds"):
        panel = panel.with_transformation(step)
    return (
        panel.thresholds(_response_thresholds())
        .color_scheme(sdk.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .cell_options(
            common_model.TableColoredBackgroundCellOptions(mode=common_model.TableCellBackgroundDisplayMode.BASIC)
        )
        .overrides([cell_override([MATRIX_ROWS], "auto")])
        .sort_by([sdk_common.TableSortByFieldState().display_name(MATRIX_ROWS)])
        .height(9)
        .span(24)
    )


def response_distribution() -> barchart.Panel:
    """Answered messages by response-time band."""
    return (
        from_view(barchart.Panel().title("Response-time distribution"), "response_distribution", ["bucket", "answered"])
        .x_field("bucket")
        .show_value(common_model.VisibilityMode.AUTO)
        .height(9)
        .span(8)
    )


def strategy_mix() -> timeseries.Panel:
    """Posts without a link (push), posts linking to an official domain (pull) and replies (networking) per day."""
    return (
        from_view(timeseries.Panel().title("Push, pull and networking"), "strategy_mix", None, QueryFormat.TIME_SERIES)
        .draw_style(common_model.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(sdk_common.StackingConfig().mode(common_model.StackingMode.NORMAL))
        .height(9)
        .span(16)
    )


def unanswered() -> table.Panel:
    """The messages still unanswered, oldest first; a click opens the message on its platform."""
    statuses = {"pending": "yellow", "overdue": "red"}
    mappings: list[model.ValueMapping] = [
        model.ValueMap(
            options={k: model.ValueMappingResult(color=c, index=i) for i, (k, c) in enumerate(statuses.items())}
        )
    ]
    return (
        from_view(table.Panel().title("Unanswered messages (oldest first)"), "unanswered")
        .mappings(mappings)
        .data_links([data_link("Open the message on its platform", "${__data.fields.link}")])
        .overrides([cell_override(["status"], "color-text")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("age_seconds").desc(True)])
        .height(10)
        .span(24)
    )


def dashboard() -> sdk.Dashboard:
    """The agency drill-down."""
    board = dashboard_base(UID, TITLE, "agency", time_from="now-30d")
    board = board.variables(clickhouse_variables())
    board = board.description("One agency (or a few) in detail: accounts, rhythms, speed, strategy, its open messages.")
    panels = [
        accounts_answering(),
        accounts_volume(),
        accounts_response_time(),
        arrivals_heatmap(),
        response_heatmap(),
        response_distribution(),
        strategy_mix(),
        week_topics(),
        rising_pain_points(),
        unanswered(),
    ]
    return place(board, panels)
