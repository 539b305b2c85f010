"""The agency and operations views' SQL, read as text: no FINAL on the big tables, one input style per binding."""

from __future__ import annotations

import re

import pytest

from pipeline.storage.sql import drilldown, live
from pipeline.storage.sql.binding import Binding, MacroBinding, ParamBinding
from pipeline.storage.sql.links import permalink_sql

VIEWS = {v.name: v for v in (*drilldown.VIEWS, *live.VIEWS)}
BINDINGS: list[Binding] = [ParamBinding(), MacroBinding()]


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize("binding", BINDINGS, ids=["params", "macros"])
def test_no_final_on_the_big_tables(name: str, binding: Binding) -> None:
    sql = VIEWS[name].sql("db", binding)
    assert not re.search(r"\bdb\.(interactions|posts|response_facts)\s+FINAL\b", sql)


@pytest.mark.parametrize("name", VIEWS)
def test_each_binding_brings_only_its_own_inputs(name: str) -> None:
    params = VIEWS[name].sql("db", ParamBinding())
    macros = VIEWS[name].sql("db", MacroBinding())
    assert "$__" not in params
    assert "{since:" in params or "{until:" in params
    assert not re.search(r"\{\w+:[A-Z]", macros), "a bound placeholder in the dashboards' SQL"
    assert "$__toTime" in macros


def test_every_agency_view_is_filtered_by_agency_platform_and_tier() -> None:
    for name, v in VIEWS.items():
        sql = v.sql("db", ParamBinding())
        for kind in ("agencies", "platforms", "tiers"):
            assert f"{{{kind}:Array(String)}}" in sql, (name, kind)


def test_bands_rise_and_end_open() -> None:
    uppers = [upper for _, upper in drilldown.BANDS]
    assert uppers[-1] is None
    bounded = [u for u in uppers[:-1] if u is not None]
    assert bounded == sorted(bounded)
    assert len(bounded) == len(uppers) - 1
    assert [label for label, _ in drilldown.BANDS] == ["<= 15 min", "<= 1 h", "<= 4 h", "<= 24 h", "<= 3 d", "> 3 d"]


def test_a_link_is_built_from_checked_ids_only() -> None:
    sql = permalink_sql("p", "m", "r")
    # Every branch that concatenates an id is guarded by a match() on that id.
    for platform in ("x", "youtube", "bluesky", "mastodon", "facebook"):
        assert re.search(rf"p = '{platform}' AND match\(m, ", sql), platform
    assert "instagram" not in sql
    assert "tiktok" not in sql
    assert sql.endswith("NULL)")
