"""Panel helpers every dashboard uses: a catalog view as a panel's query, units, thresholds, overrides.

Grafana 11.6's dashboard JSON Schema (the one the tests validate against) types an override property's
``value`` and a matcher's ``options`` as objects. So overrides here only set object-valued properties
(thresholds, cell options) with the ``byNames`` matcher, and a panel's unit is its ``defaults.unit``: every
numeric column a panel shows must have the same catalog unit (:func:`catalog_unit` refuses a mix), and a view
with columns of several units is shown as one panel per unit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import GRAFANA_UNITS, QueryFormat, clickhouse_ref, clickhouse_target
from pipeline.storage.sql.catalog import view

__all__ = [
    "CLASS_COLOURS",
    "by_names",
    "catalog_unit",
    "cell_override",
    "class_mappings",
    "data_link",
    "from_view",
    "show_only",
    "thresholds",
    "thresholds_override",
    "weekday_hour_matrix",
]

CLASS_COLOURS = {"dinner_party": "green", "mixed": "yellow", "soapbox": "red", "insufficient_data": "text"}
"""The colour of each class (DOMAIN.md: soapbox / mixed / dinner party; too few messages to judge)."""


class _Panel(Protocol):
    def datasource(self, datasource: model.DataSourceRef) -> Self: ...
    def with_target(self, target: cogbuilder.Builder[cogvariants.Dataquery]) -> Self: ...
    def description(self, description: str) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def with_transformation(self, transformation: model.DataTransformerConfig) -> Self: ...


P = TypeVar("P", bound=_Panel)


def catalog_unit(name: str, columns: Sequence[str]) -> str | None:
    """Grafana's unit for ``columns`` of view ``name``: the one unit of its numeric columns, None when none is."""
    catalog_view = view(name)
    units = {c.name: c.unit for c in catalog_view.columns}
    if unknown := [c for c in columns if c not in units]:
        msg = f"view {name!r} has no column {', '.join(unknown)}: one of {', '.join(units)}"
        raise ValueError(msg)
    found = {GRAFANA_UNITS[units[c]] for c in columns if units[c] in GRAFANA_UNITS}
    if len(found) > 1:
        msg = f"a panel of view {name!r} shows columns of several units ({', '.join(sorted(found))}): split it"
        raise ValueError(msg)
    return found.pop() if found else None


def from_view(
    panel: P,
    name: str,
    columns: Sequence[str] | None = None,
    query_format: QueryFormat = QueryFormat.TABLE,
    *,
    mixed_units: bool = False,
) -> P:
    """``panel`` reads catalog view ``name`` on ``$datasource`` and shows ``columns`` (all when None) in their unit.

    ``mixed_units``: the panel plots columns of several units on purpose (the quadrant: two shares and a
    count as bubble size), so no unit is set.
    """
    catalog_view = view(name)
    shown = list(columns) if columns is not None else list(catalog_view.column_names)
    unit = None if mixed_units else catalog_unit(name, shown)
    panel = (
        panel.datasource(clickhouse_ref())
        .with_target(clickhouse_target(name, query_format))
        .description(f"{catalog_view.description} (catalog view `{name}`)")
    )
    if unit is not None:
        panel = panel.unit(unit)
    if columns is not None:
        panel = panel.with_transformation(show_only(shown, time_series=query_format == QueryFormat.TIME_SERIES))
    return panel


def show_only(columns: Sequence[str], *, time_series: bool = False) -> model.DataTransformerConfig:
    """Keep only ``columns`` (in a time series, also the per-label series the plugin made from each)."""
    if not time_series:
        return model.DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"names": list(columns)}})
    # The plugin turns a long result (time, agency_id, value) into one field per agency, displayed
    # "value <agency>": match the column's name alone or followed by its labels.
    pattern = "^(" + "|".join(re.escape(c) for c in columns) + ")( .*)?$"
    return model.DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"pattern": pattern}})


def thresholds(base: str, *steps: tuple[float, str]) -> sdk.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step, then each ``(value, colour)``.

    The base step's value is written as 0 (every figure here is >= 0), not null: Grafana resets the first
    step to -Infinity when it loads a dashboard, and the schema wants a number.
    """
    ordered = [model.Threshold(value=0, color=base), *(model.Threshold(value=v, color=c) for v, c in steps)]
    return sdk.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(ordered)


def by_names(*names: str) -> model.MatcherConfig:
    """Match the fields called ``names`` (Grafana's ``byNames`` matcher, whose options are an object)."""
    return model.MatcherConfig(id_val="byNames", options={"mode": "include", "names": list(names)})


def cell_override(names: Sequence[str], cell_type: str, **options: object) -> sdk.DashboardFieldConfigSourceOverrides:
    """Table cells of ``names`` drawn as ``cell_type`` (``color-background``, ``color-text``, ``gauge``...)."""
    return (
        sdk.DashboardFieldConfigSourceOverrides()
        .matcher(by_names(*names))
        .properties([model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": cell_type, **options})])
    )


def thresholds_override(names: Sequence[str], config: sdk.ThresholdsConfig) -> sdk.DashboardFieldConfigSourceOverrides:
    """Fields ``names`` judged by their own thresholds (e.g. a business-time column against 1 working day)."""
    return (
        sdk.DashboardFieldConfigSourceOverrides()
        .matcher(by_names(*names))
        .properties([model.DynamicConfigValue(id_val="thresholds", value=config.build().to_json())])
    )


def class_mappings() -> list[model.ValueMapping]:
    """The class column's words, readable and coloured (numbers never equal them, so defaults are safe)."""
    results = {
        name: model.ValueMappingResult(text=name.replace("_", " "), color=colour, index=i)
        for i, (name, colour) in enumerate(CLASS_COLOURS.items())
    }
    return [model.ValueMap(options=results)]


def data_link(title: str, url: str, *, new_tab: bool = True) -> sdk.DashboardLink:
    """A link on every cell of a row (``url`` may use ``${__data.fields.<column>}``)."""
    return sdk.DashboardLink(title).type(model.DashboardLinkType.LINK).url(url).target_blank(new_tab)


def weekday_hour_matrix(value: str) -> list[model.DataTransformerConfig]:
    """Rows of (weekday, hour, ``value``) as a matrix: one row per weekday (1 = Monday), one column per hour.

    A table with coloured cells: Grafana's heatmap panel wants a time axis, and weekday x hour has none.
    The weekday becomes text first, so the panel's unit does not print on the row labels.
    """
    hours = {str(hour): hour + 1 for hour in range(24)}
    return [
        model.DataTransformerConfig(
            id_val="convertFieldType",
            options={"conversions": [{"targetField": "weekday", "destinationType": "string"}], "fields": {}},
        ),
        model.DataTransformerConfig(
            id_val="groupingToMatrix",
            options={"rowField": "weekday", "columnField": "hour", "valueField": value, "emptyValue": "null"},
        ),
        model.DataTransformerConfig(id_val="organize", options={"indexByName": {MATRIX_ROWS: 0, **hours}}),
    ]


MATRIX_ROWS = "weekday\\hour"
"""The name Grafana's grouping-to-matrix gives the row-label field (row field, backslash, column field)."""
