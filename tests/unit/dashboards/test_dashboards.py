"""The generated dashboards: valid for Grafana 11.6's schema, no data source uid, SQL from the catalog, units."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry

from dashboards.build import FOLDERS, all_dashboards
from dashboards.common import (
    CHARTER_BUSINESS_SECONDS,
    CHARTER_WALL_SECONDS,
    CLICKHOUSE_PLUGIN,
    GRAFANA_UNITS,
    META_REPLY_RATE,
    META_RESPONSE_SECONDS,
    PROMETHEUS_PLUGIN,
    view_sql,
)
from pipeline.metrics import Metrics
from pipeline.storage.sql.catalog import CATALOG
from pipeline.storage.sql.viewspec import Unit

SCHEMA = Path(__file__).resolve().parents[3] / "dashboards" / "schema" / "dashboard.v11.6.jsonschema.json"
DASHBOARDS = all_dashboards()
BY_UID = {d.uid: d.model for d in DASHBOARDS}
SQL_VIEWS = {view_sql(v): name for name, v in CATALOG.items()}


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _clickhouse_panels() -> list[tuple[str, dict[str, Any]]]:
    return [
        (d.uid, p)
        for d in DASHBOARDS
        for p in d.model["panels"]
        if any(t.get("datasource", {}).get("type") == CLICKHOUSE_PLUGIN for t in p.get("targets", []))
    ]


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    return Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_four_dashboards_in_their_folders() -> None:
    assert {(d.folder, d.uid) for d in DASHBOARDS} == {
        ("central-office", "serambi-overview"),
        ("agency-teams", "serambi-agency"),
        ("ops", "serambi-live-ops"),
        ("ops", "serambi-pipeline-health"),
    }
    assert {d.folder for d in DASHBOARDS} == set(FOLDERS)


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_validates_against_the_grafana_11_6_schema(validator: Draft7Validator, uid: str) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(BY_UID[uid])]
    assert errors == []


def test_the_schema_rejects_a_broken_dashboard(validator: Draft7Validator) -> None:
    broken = copy.deepcopy(BY_UID["serambi-overview"])
    del broken["schemaVersion"]
    broken["panels"][0]["gridPos"]["w"] = "12"
    assert len(list(validator.iter_errors(broken))) >= 2


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_no_hard_coded_data_source_uid(uid: str) -> None:
    refs = [value for key, value in _walk(BY_UID[uid]) if key == "datasource" and isinstance(value, dict)]
    assert refs
    allowed = {CLICKHOUSE_PLUGIN: "${datasource}", PROMETHEUS_PLUGIN: "${prometheus}"}
    assert {(r["type"], r["uid"]) for r in refs} <= set(allowed.items())


@pytest.mark.parametrize("uid", sorted(BY_UID))
def test_panel_ids_are_unique(uid: str) -> None:
    ids = [p["id"] for p in BY_UID[uid]["panels"]]
    assert len(ids) == len(set(ids))


def test_variables_of_the_clickhouse_dashboards() -> None:
    for uid in ("serambi-overview", "serambi-agency", "serambi-live-ops"):
        variables = {v["name"]: v for v in BY_UID[uid]["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == CLICKHOUSE_PLUGIN
        for name in ("agency", "platform", "tier"):
            assert variables[name]["multi"] is True
            assert variables[name]["includeAll"] is True
            assert variables[name]["datasource"] == {"type": CLICKHOUSE_PLUGIN, "uid": "${datasource}"}
            assert variables[name]["query"].startswith("SELECT")
    prometheus = BY_UID["serambi-pipeline-health"]["templating"]["list"]
    assert [(v["name"], v["query"]) for v in prometheus] == [("prometheus", PROMETHEUS_PLUGIN)]


@pytest.mark.parametrize(("uid", "panel"), _clickhouse_panels(), ids=lambda x: x if isinstance(x, str) else x["title"])
def test_clickhouse_panels_run_a_catalog_view_exactly(uid: str, panel: dict[str, Any]) -> None:
    (target,) = panel["targets"]
    assert target["rawSql"] in SQL_VIEWS, "a panel's SQL must be a catalog view's, rendered by view_sql()"
    assert target["editorType"] == "sql"
    assert target["format"] in {0, 1}
    assert target["queryType"] == ("timeseries" if target["format"] == 0 else "table")
    assert panel["datasource"] == {"type": CLICKHOUSE_PLUGIN, "uid": "${datasource}"}
    # Each variable reaches SQL quoted (singlequote) or as the All test of $__conditionalAll, never bare.
    bare = re.sub(r"\$__conditionalAll\(|, \$(agency|platform|tier)\)", "", target["rawSql"])
    assert not re.search(r"\$(agency|platform|tier)\b|\$\{(agency|platform|tier)\}", bare)


def _shown(panel: dict[str, Any]) -> list[str]:
    # The view's columns the panel keeps (its filterFieldsByName), all of them without one.
    shown = list(CATALOG[SQL_VIEWS[panel["targets"][0]["rawSql"]]].column_names)
    for step in panel.get("transformations", []):
        if step["id"] == "filterFieldsByName" and "names" in step["options"]["include"]:
            shown = step["options"]["include"]["names"]
        elif step["id"] == "filterFieldsByName":
            shown = re.findall(r"\w+", step["options"]["include"]["pattern"].split(")(")[0])
    return shown


def _used(panel: dict[str, Any]) -> set[str]:
    # Columns the visualization names: axes, bubble sizes, bars, matrix cells, overrides.
    options = panel.get("options", {})
    used = {
        s[k]["matcher"]["options"] for s in options.get("series", []) for k in ("x", "y", "size", "color") if k in s
    }
    used |= {options["xField"]} if "xField" in options else set()
    for step in panel.get("transformations", []):
        if step["id"] == "groupingToMatrix":
            used |= {step["options"][k] for k in ("rowField", "columnField", "valueField")}
    if not any(s["id"] == "groupingToMatrix" for s in panel.get("transformations", [])):
        used |= {n for o in panel["fieldConfig"]["overrides"] for n in o["matcher"]["options"]["names"]}
    return used


@pytest.mark.parametrize(("uid", "panel"), _clickhouse_panels(), ids=lambda x: x if isinstance(x, str) else x["title"])
def test_panels_show_the_columns_they_draw(uid: str, panel: dict[str, Any]) -> None:
    columns = CATALOG[SQL_VIEWS[panel["targets"][0]["rawSql"]]].column_names
    assert set(_shown(panel)) <= set(columns)
    assert _used(panel) <= set(_shown(panel))


@pytest.mark.parametrize(("uid", "panel"), _clickhouse_panels(), ids=lambda x: x if isinstance(x, str) else x["title"])
def test_units_come_from_the_catalog(uid: str, panel: dict[str, Any]) -> None:
    name = SQL_VIEWS[panel["targets"][0]["rawSql"]]
    columns = {c.name: c.unit for c in CATALOG[name].columns}
    shown = _shown(panel)
    units = {GRAFANA_UNITS[columns[c]] for c in shown if columns[c] in GRAFANA_UNITS}
    if panel["type"] == "xychart":
        # The quadrant plots two ratios and sizes by a count: no one unit fits, so none is set.
        assert panel["fieldConfig"]["defaults"].get("unit") is None
        return
    assert len(units) <= 1
    assert panel["fieldConfig"]["defaults"].get("unit") == (units.pop() if units else None)


def test_a_ratio_is_a_percentage_and_seconds_a_duration() -> None:
    assert GRAFANA_UNITS[Unit.RATIO] == "percentunit"
    assert GRAFANA_UNITS[Unit.SECONDS] == "s"


def test_reference_lines_of_the_overview() -> None:
    steps = {
        (s["color"], s["value"]) for key, value in _walk(BY_UID["serambi-overview"]) if key == "steps" for s in value
    }
    assert ("green", META_REPLY_RATE) in steps
    assert ("yellow", META_RESPONSE_SECONDS) in steps
    assert ("red", CHARTER_WALL_SECONDS) in steps
    assert ("red", CHARTER_BUSINESS_SECONDS) in steps


def test_overview_panels() -> None:
    panels = {p["title"]: p for p in BY_UID["serambi-overview"]["panels"]}
    quadrant = panels["Soapbox or dinner party"]
    assert quadrant["type"] == "xychart"
    (series,) = quadrant["options"]["series"]
    assert series["x"]["matcher"]["options"] == "two_way_ratio"
    assert series["y"]["matcher"]["options"] == "reply_rate"
    assert series["size"]["matcher"]["options"] == "citizen_messages"
    class_cells = [
        o for p in panels.values() for o in p.get("fieldConfig", {}).get("overrides", [])
        if o["matcher"]["options"]["names"] == ["class"]
    ]  # fmt: skip
    assert class_cells
    assert {"Reply rate per week", "Median response time per week", "Citizen messages per week"} <= set(panels)


def test_unanswered_rows_link_to_the_message() -> None:
    (panel,) = [p for p in BY_UID["serambi-agency"]["panels"] if p["title"].startswith("Unanswered")]
    assert [link["url"] for link in panel["fieldConfig"]["defaults"]["links"]] == ["${__data.fields.link}"]


def test_promql_uses_declared_metrics_only() -> None:
    declared = {metric.name for metric in Metrics(CollectorRegistry()).registry.collect()}
    names = set()
    for panel in BY_UID["serambi-pipeline-health"]["panels"]:
        for target in panel["targets"]:
            assert target["datasource"] == {"type": PROMETHEUS_PLUGIN, "uid": "${prometheus}"}
            names |= set(re.findall(r"serambi_\w+", target["expr"]))
    # Counters are declared without _total, histograms expose _bucket.
    assert {re.sub(r"_(total|bucket)$", "", n) for n in names} <= declared
    assert len(names) >= 6
