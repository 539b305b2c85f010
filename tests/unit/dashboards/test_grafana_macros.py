"""The test expander of Grafana's variables and the ClickHouse plugin's macros (tests/helpers/grafana_macros.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.storage.sql.binding import MacroBinding
from pipeline.storage.sql.catalog import CATALOG
from tests.helpers.grafana_macros import ALL, MacroError, conditional_all, expand, macros, template_variables

SINCE = datetime(2026, 3, 2, 8, 0, 0, 250000, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)
S0, S1 = int(SINCE.timestamp()), int(UNTIL.timestamp())
CONDITION = "$__conditionalAll(agency_id IN (${agency:singlequote}), $agency)"


@pytest.mark.parametrize("value", [ALL, []])
def test_conditional_all_is_true_for_all_or_nothing(value: tuple[str, ...]) -> None:
    assert conditional_all(f"WHERE {CONDITION}", {"agency": value}) == "WHERE 1=1"


def test_conditional_all_keeps_the_condition_for_chosen_values() -> None:
    assert conditional_all(CONDITION, {"agency": ["jpj"]}) == "agency_id IN (${agency:singlequote})"


def test_conditional_all_with_nested_brackets_and_several_occurrences() -> None:
    tiers = (
        "$__conditionalAll(a IN (SELECT agency_id FROM db.agencies FINAL WHERE tier IN (${tier:singlequote})), $tier)"
    )
    sql = f"{CONDITION} AND {tiers}"
    out = conditional_all(sql, {"agency": ALL, "tier": ["federal"]})
    assert out == "1=1 AND a IN (SELECT agency_id FROM db.agencies FINAL WHERE tier IN (${tier:singlequote}))"


def test_conditional_all_keeps_the_condition_of_an_unknown_variable() -> None:
    # The plugin finds no variable, so it cannot know it is All: the condition stays.
    assert conditional_all("$__conditionalAll(x = 1, $nothing)", {}) == "x = 1"


def test_conditional_all_replaces_like_javascript() -> None:
    # The plugin builds the result with String.replace: `$'` in the condition means "the text after the match".
    sql = "WHERE $__conditionalAll(match(id, '^x$'), $agency) AND y"
    assert conditional_all(sql, {"agency": ["a"]}) == "WHERE match(id, '^x AND y) AND y"
    assert conditional_all("$__conditionalAll(a = '$$', $agency)", {"agency": ["a"]}) == "a = '$'"


def test_singlequote_quotes_each_value_and_escapes_quotes() -> None:
    out = template_variables("IN (${agency:singlequote})", {"agency": ["jpj", "o'brien"]})
    assert out == "IN ('jpj','o\\'brien')"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${agency:csv}", "a,b"),
        ("${agency:sqlstring}", "'a','b'"),
        ("${agency:doublequote}", '"a","b"'),
        ("$agency", "{a,b}"),
        ("[[agency]]", "{a,b}"),
        ("${agency}", "{a,b}"),
    ],
)
def test_other_formats(text: str, expected: str) -> None:
    assert template_variables(text, {"agency": ["a", "b"]}) == expected


def test_all_outside_conditional_all_needs_the_options() -> None:
    with pytest.raises(MacroError, match="pass its options"):
        template_variables("${agency:singlequote}", {"agency": ALL})
    out = template_variables("${agency:singlequote}", {"agency": ALL}, {"agency": ["a", "b"]})
    assert out == "'a','b'"


def test_unknown_variables_and_plugin_macros_are_left_to_the_plugin() -> None:
    sql = "$__fromTime $__interval_s $other ${x:raw}"
    assert template_variables(sql, {"agency": ["a"]}) == sql


def test_time_macros() -> None:
    out = macros("$__fromTime|$__toTime|$__fromTime_ms|$__toTime_ms|$__interval_s", SINCE, UNTIL, 60)
    ms0, ms1 = int(SINCE.timestamp() * 1000), int(UNTIL.timestamp() * 1000)
    assert out == (
        f"toDateTime({S0})|toDateTime({S1})|fromUnixTimestamp64Milli({ms0})|fromUnixTimestamp64Milli({ms1})|60"
    )


def test_column_macros() -> None:
    out = macros("WHERE $__timeFilter(created_at) GROUP BY $__timeInterval(created_at)", SINCE, UNTIL, 0)
    assert out == (
        f"WHERE created_at >= toDateTime({S0}) AND created_at <= toDateTime({S1}) "
        "GROUP BY toStartOfInterval(toDateTime(created_at), INTERVAL 1 second)"
    )
    out = macros("$__timeFilter_ms(toDateTime64(t, 3))", SINCE, UNTIL, 1)
    assert out.startswith("toDateTime64(t, 3) >= fromUnixTimestamp64Milli(")


def test_an_unknown_macro_fails() -> None:
    with pytest.raises(MacroError, match=r"\$__unixEpochFilter"):
        macros("WHERE $__unixEpochFilter(t)", SINCE, UNTIL, 1)


def test_expansion_order_conditional_all_first() -> None:
    # Were variables interpolated first, All would become a list of every agency, not 1=1.
    sql = f"SELECT 1 WHERE {CONDITION} AND t < $__toTime"
    assert expand(sql, SINCE, UNTIL, {"agency": ALL}) == f"SELECT 1 WHERE 1=1 AND t < toDateTime({S1})"
    out = expand(sql, SINCE, UNTIL, {"agency": ["jpj", "o'brien"]})
    assert out == f"SELECT 1 WHERE agency_id IN ('jpj','o\\'brien') AND t < toDateTime({S1})"


@pytest.mark.parametrize("name", sorted(CATALOG))
@pytest.mark.parametrize("agencies", [ALL, ["jpj"], ["jpj", "o'brien"]])
def test_every_catalog_view_expands_completely(name: str, agencies: Sequence[str]) -> None:
    sql = CATALOG[name].sql("serambi", MacroBinding())
    out = expand(sql, SINCE, UNTIL, {"agency": agencies, "platform": ALL, "tier": ["federal"]})
    # Regular expressions in string literals end with `$`: look for variables and macros only.
    assert not re.search(r"\$(__\w|\{|\[\[|agency|platform|tier)", out)
    if tuple(agencies) != ALL and "${agency:singlequote}" in sql:
        assert "'jpj'" in out
