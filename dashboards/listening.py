"""The agency drill-down's listening panels: what citizens ask about this week, and the rising pain points.

Both read the worker's latest computation of the agency's topic lists in the dashboard's time range (catalog
views ``citizen_topics_week`` and ``rising_pain_points``, :mod:`pipeline.storage.sql.listening`), so a range
ending now shows the present. Topics are free text: they stay in ClickHouse and these tables, never in
Prometheus labels.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import table

from dashboards.panels import cell_override, from_view, thresholds

__all__ = ["rising_pain_points", "week_topics"]

_SHOWN = ["agency_id", "term", "count", "unanswered", "rise", "example"]


def week_topics() -> table.Panel:
    """The terms setting the last 7 days' messages apart from the 4 weeks before, best first."""
    return (
        from_view(table.Panel().title("What citizens ask about this week"), "citizen_topics_week", ["rank", *_SHOWN])
        .sort_by([sdk_common.TableSortByFieldState().display_name("rank")])
        .height(9)
        .span(12)
    )


def rising_pain_points() -> table.Panel:
    """Terms of the last 24 h's unanswered messages that rose against the day before, by rise."""
    columns = ["rank", "agency_id", "term", "unanswered", "rise", "example"]
    return (
        from_view(table.Panel().title("Rising pain points (unanswered, last 24 h)"), "rising_pain_points", columns)
        .thresholds(thresholds("text", (1, "orange"), (10, "red")))
        .overrides([cell_override(["rise"], "color-text")])
        .sort_by([sdk_common.TableSortByFieldState().display_name("rank")])
        .height(9)
        .span(12)
    )
