"""The SQL fragments as text: one definition, generated from the Python twins (no ClickHouse here).

tests/integration/test_views.py evaluates them in chDB against classify() and message_status().
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import timedelta
from importlib import resources

import pytest

from pipeline.domain.classify import ClassThresholds
from pipeline.domain.windows import ROLLING_WINDOWS
from pipeline.storage.sql.fragments import (
    FACTS_SELECT,
    agency_reply_sql,
    class_sql,
    facts_sql,
    float_sql,
    interval_sql,
    param,
    pull_post_sql,
    sla_seconds_sql,
)
from schemas.tables import FACT_COLUMNS, ORACLE_FACTS, RESPONSE_FACTS


def _flat(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


@pytest.mark.parametrize(
    "thresholds",
    [
        ClassThresholds(),
        ClassThresholds(
            min_messages=37,
            min_output=11,
            soapbox_max_two_way=0.125,
            soapbox_max_reply_rate=0.3,
            dinner_min_two_way=0.55,
            dinner_min_reply_rate=0.775,
        ),
    ],
)
def test_class_sql_is_generated_from_every_threshold(thresholds: ClassThresholds) -> None:
    sql = class_sql(thresholds)
    for field in dataclasses.fields(thresholds):
        value = getattr(thresholds, field.name)
        assert float_sql(value) in sql, field.name
    assert sql.count("multiIf(") == 1
    assert {"'insufficient_data'", "'dinner_party'", "'soapbox'", "'mixed'"} <= set(re.findall(r"'[a-z_]+'", sql))


def test_class_sql_names_the_columns_it_is_given() -> None:
    sql = class_sql(ClassThresholds(), two_way="tw", reply_rate="rr", citizen_messages="cm", output="out")
    assert "coalesce(tw, 0)" in sql
    assert "(rr) IS NOT NULL" in sql
    assert "(cm) < 10.0" in sql
    assert "(out) < 5.0" in sql


def test_rolling_intervals_come_from_the_domain_timedeltas() -> None:
    assert interval_sql(ROLLING_WINDOWS["24h"]) == "INTERVAL 86400 SECOND"
    assert interval_sql(ROLLING_WINDOWS["7d"]) == "INTERVAL 604800 SECOND"
    for span in ROLLING_WINDOWS.values():
        assert interval_sql(span) == f"INTERVAL {int(span.total_seconds())} SECOND"


@pytest.mark.parametrize("span", [timedelta(0), timedelta(seconds=-5), timedelta(milliseconds=1500)])
def test_intervals_are_positive_whole_seconds(span: timedelta) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        interval_sql(span)


def test_numbers_for_views_are_validated_floats() -> None:
    assert float_sql(24) == "24.0"
    assert float_sql(0.1) == "0.1"
    assert float(float_sql(1 / 3)) == 1 / 3  # repr round-trips: SQL compares the very same double
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            float_sql(bad)
    with pytest.raises(ValueError, match="could not convert"):
        float_sql("1; DROP TABLE x")  # type: ignore[arg-type]


def test_placeholders_take_only_plain_names() -> None:
    assert param("agency", "String") == "{agency:String}"
    assert param("t_since", "DateTime64(6, 'UTC')") == "{t_since:DateTime64(6, 'UTC')}"
    for bad in ("", "a b", "x}", "1st", "a:String"):
        with pytest.raises(ValueError, match="not a parameter name"):
            param(bad, "String")


def test_the_facts_select_list_is_one_for_stream_and_oracle() -> None:
    assert set(FACTS_SELECT) <= set(FACT_COLUMNS)
    select = ", ".join(FACTS_SELECT)
    assert facts_sql("db") == f"SELECT {select} FROM db.{RESPONSE_FACTS} FINAL"
    assert facts_sql("db", ORACLE_FACTS) == f"SELECT {select} FROM db.{ORACLE_FACTS} FINAL"


def test_sla_falls_back_to_the_default_when_the_agency_is_unknown() -> None:
    assert sla_seconds_sql("{d:Float64}", "ag") == "if(ag.agency_id = '', {d:Float64}, ag.sla_hours) * 3600"


def test_the_activity_rollup_migration_carries_the_same_predicates() -> None:
    # Migrations are history and are not rewritten; this fails if a fragment changes without a new migration.
    migration = _flat(resources.files("schemas").joinpath("clickhouse/0002_response_facts.sql").read_text("utf-8"))
    assert _flat(pull_post_sql("p.links", "ag.official_domains")) in migration
    assert _flat(agency_reply_sql()) in migration
