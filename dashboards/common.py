"""Shared defaults of every dashboard: data sources, template variables, the ClickHouse query model, units.

No data source uid is written anywhere: panels and variables reference the dashboard's data source variables
(``${datasource}`` for ClickHouse, ``${prometheus}`` for Prometheus), so one JSON works on every Grafana.
ClickHouse panels read the SQL of a catalog view (:mod:`pipeline.storage.sql.catalog`) rendered with the
Grafana plugin's macros; nothing here writes metric SQL.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

from pipeline.storage.sql.binding import GRAFANA_VARIABLES, MacroBinding
from pipeline.storage.sql.catalog import view
from pipeline.storage.sql.viewspec import Unit, View
from schemas.tables import AGENCIES

__all__ = [
    "CHARTER_BUSINESS_SECONDS",
    "CHARTER_WALL_SECONDS",
    "CLICKHOUSE_PLUGIN",
    "CLICKHOUSE_VARIABLE",
    "DATABASE",
    "FILTER_VARIABLES",
    "GRAFANA_UNITS",
    "META_REPLY_RATE",
    "META_RESPONSE_SECONDS",
    "PROMETHEUS_PLUGIN",
    "PROMETHEUS_VARIABLE",
    "ClickHouseQuery",
    "ClickHouseTarget",
    "QueryFormat",
    "clickhouse_ref",
    "clickhouse_target",
    "datasource_variable",
    "filter_variables",
    "prometheus_ref",
    "prometheus_variable",
    "variable_sql",
    "view_sql",
]

DATABASE: Final = "serambi"
"""The ClickHouse database the dashboards read (Serambi's default ``SERAMBI_CLICKHOUSE_DATABASE``)."""

CLICKHOUSE_PLUGIN: Final = "grafana-clickhouse-datasource"
PROMETHEUS_PLUGIN: Final = "prometheus"
CLICKHOUSE_VARIABLE: Final = "datasource"
PROMETHEUS_VARIABLE: Final = "prometheus"

# Reference lines (../shared/DOMAIN.md): Meta's "very responsive" badge and the complaint charters.
META_REPLY_RATE: Final = 0.9
META_RESPONSE_SECONDS: Final = 15 * 60
CHARTER_WALL_SECONDS: Final = 24 * 3600
# One working day of business time: the usual 08:00-17:00 (business seconds count working hours only).
CHARTER_BUSINESS_SECONDS: Final = 9 * 3600

GRAFANA_UNITS: Final = {Unit.RATIO: "percentunit", Unit.SECONDS: "s", Unit.COUNT: "short"}
"""Grafana's unit of each quantity. Text, URLs and instants need none; hours and weekdays are labels of
heatmap rows and columns, not quantities."""

FILTER_VARIABLES: Final = tuple(GRAFANA_VARIABLES.values())
"""The ClickHouse dashboards' filter variables, in display order: agency, platform, tier."""


class QueryFormat(IntEnum):
    """The plugin's ``format`` of a query result."""

    TIME_SERIES = 0
    TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """A grafana-clickhouse-datasource (v4.x) SQL query; the SDK has no builder for this plugin."""

    def __init__(self, raw_sql: str, ref_id: str = "A", query_format: QueryFormat = QueryFormat.TABLE) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.query_format = query_format

    def to_json(self) -> dict[str, object]:
        """The target as the plugin stores it in a dashboard."""
        return {
            "refId": self.ref_id,
            "datasource": clickhouse_ref().to_json(),
            "editorType": "sql",
            "rawSql": self.raw_sql,
            "format": int(self.query_format),
            "queryType": "timeseries" if self.query_format == QueryFormat.TIME_SERIES else "table",
        }


class ClickHouseTarget(cogbuilder.Builder[ClickHouseQuery]):
    """Builder wrapper so a :class:`ClickHouseQuery` goes wherever the SDK takes a target builder."""

    def __init__(self, query: ClickHouseQuery) -> None:
        self._query = query

    def build(self) -> ClickHouseQuery:
        """The query."""
        return self._query


def clickhouse_ref() -> model.DataSourceRef:
    """The ClickHouse data source the dashboard's ``$datasource`` variable chose."""
    return model.DataSourceRef(type_val=CLICKHOUSE_PLUGIN, uid=f"${{{CLICKHOUSE_VARIABLE}}}")


def prometheus_ref() -> model.DataSourceRef:
    """The Prometheus data source the dashboard's ``$prometheus`` variable chose."""
    return model.DataSourceRef(type_val=PROMETHEUS_PLUGIN, uid=f"${{{PROMETHEUS_VARIABLE}}}")


def view_sql(catalog_view: View) -> str:
    """The view's SQL over :data:`DATABASE` with the plugin's macros and the dashboards' variables."""
    return catalog_view.sql(DATABASE, MacroBinding()).strip()


def clickhouse_target(name: str, query_format: QueryFormat = QueryFormat.TABLE) -> ClickHouseTarget:
    """A target running catalog view ``name``, exactly as the catalog renders it."""
    return ClickHouseTarget(ClickHouseQuery(view_sql(view(name)), query_format=query_format))


def datasource_variable() -> sdk.DatasourceVariable:
    """``$datasource``: any ClickHouse data source of the plugin (the provisioned one by default)."""
    return sdk.DatasourceVariable(CLICKHOUSE_VARIABLE).label("ClickHouse").type(CLICKHOUSE_PLUGIN)


def prometheus_variable() -> sdk.DatasourceVariable:
    """``$prometheus``: any Prometheus data source."""
    return sdk.DatasourceVariable(PROMETHEUS_VARIABLE).label("Prometheus").type(PROMETHEUS_PLUGIN)


# Options of the filter variables, from the agency directory as ClickHouse holds it (no metric here).
_VARIABLE_SQL: Final = {
    "agency": f"SELECT DISTINCT agency_id FROM {DATABASE}.{AGENCIES} ORDER BY agency_id",
    "platform": (
        "SELECT DISTINCT arrayJoin(arrayMap(a -> JSONExtractString(a, 'platform'), "
        f"JSONExtractArrayRaw(definition, 'accounts'))) AS platform FROM {DATABASE}.{AGENCIES} ORDER BY platform"
    ),
    "tier": f"SELECT DISTINCT tier FROM {DATABASE}.{AGENCIES} ORDER BY tier",
}


def variable_sql(name: str) -> str:
    """The ClickHouse query listing the options of filter variable ``name``."""
    return _VARIABLE_SQL[name]


def filter_variables() -> list[sdk.QueryVariable]:
    """``$agency``, ``$platform``, ``$tier``: multi-value with All, options from ClickHouse, All selected."""
    return [
        sdk.QueryVariable(name)
        .label(name.capitalize())
        .datasource(clickhouse_ref())
        .query(variable_sql(name))
        .multi(True)
        .include_all(True)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .current(model.VariableOption(text=["All"], value=["$__all"], selected=True))
        for name in FILTER_VARIABLES
    ]
