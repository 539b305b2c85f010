from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from pipeline.storage.sql.alerts import ALERT_ROW_COLUMNS, TOP_TERMS
from schemas.alerts import MAX_TOP_TERMS, AlertEvent
from schemas.jsonschema import check_schemas, render_schema
from schemas.tables import ALERT_COLUMNS
from schemas.topics import ALERTS, TOPICS
from tests.helpers.alerts import START, real_surge_alerts
from tests.helpers.alerts import alert_fields as alert


def test_every_transition_the_detector_emits_is_a_valid_alert_event() -> None:
    alerts = real_surge_alerts()
    assert [a.transition.value for a in alerts][:: len(alerts) - 1] == ["raise", "resolve"]
    for surge in alerts:
        event = AlertEvent.model_validate(surge.to_dict())
        # no field of either side is lost; the worker adds the terms (the detector knows no texts)
        assert set(type(event).model_fields) == {*surge.to_dict(), "top_terms"}
        assert event.top_terms == ()
        assert (event.alert_id, event.transition, event.started_at) == (
            surge.alert_id,
            surge.transition.value,
            surge.started_at,
        )
        assert event.active is (surge.resolved_at is None)
        assert AlertEvent.model_validate_json(event.model_dump_json()) == event


def test_an_alert_event_round_trips_through_json_and_is_frozen() -> None:
    event = AlertEvent.model_validate(alert())
    assert AlertEvent.model_validate(orjson.loads(event.model_dump_json())) == event
    assert event.key() == b"a1b2c3"
    with pytest.raises(ValidationError, match="frozen"):
        event.backlog = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resolved_at": START.isoformat()}, "resolved_at is set on a resolve transition and only there"),
        ({"transition": "resolve"}, "resolved_at is set on a resolve transition and only there"),
        ({"updated_at": (START - timedelta(minutes=1)).isoformat()}, "updated_at is before started_at"),
        (
            {"transition": "resolve", "resolved_at": (START - timedelta(minutes=1)).isoformat()},
            "resolved_at is before started_at",
        ),
        ({"started_at": "2026-11-02T03:00:00", "updated_at": "2026-11-02T03:00:00"}, "timezone info"),
        ({"score": float("inf")}, "finite number"),
        ({"backlog": -1}, "greater than or equal to 0"),
        ({"platform": "myspace"}, "platform"),
        ({"transition": "escalate"}, "transition"),
        ({"severity": "page"}, "severity"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"example_ids": [f"m{n}" for n in range(11)]}, "example_ids"),
        ({"citizen_id": "123"}, "Extra inputs are not permitted"),
        ({"alert_id": "a b"}, "alert_id"),
        ({"top_terms": [f"t{n}" for n in range(6)]}, "top_terms"),
        ({"top_terms": ["x" * 65]}, "top_terms"),
        ({"top_terms": [""]}, "top_terms"),
        ({"top_terms": ["banjir\nFAKE LINE"]}, "top_terms"),
    ],
)
def test_inconsistent_or_malformed_alert_events_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertEvent.model_validate(alert(**changes))


def test_a_resolve_carries_its_resolution_time() -> None:
    later = (START + timedelta(minutes=40)).isoformat()
    event = AlertEvent.model_validate(alert(transition="resolve", updated_at=later, resolved_at=later))
    assert not event.active
    assert event.resolved_at == START + timedelta(minutes=40)


def test_the_alerts_topic_is_declared_with_a_committed_schema() -> None:
    assert ALERTS in TOPICS
    assert (ALERTS.name, ALERTS.partitions, ALERTS.value_model) == ("serambi.alerts.v1", 1, AlertEvent)
    schema = orjson.loads(render_schema(ALERTS))
    assert schema["properties"]["transition"]["enum"] == ["raise", "update", "resolve"]
    assert "alert id" in schema["description"]
    assert set(schema["required"]) >= {"alert_id", "transition", "agency", "started_at", "updated_at"}
    check_schemas()  # the committed schemas/jsonschema/serambi.alerts.v1.json is current


def test_the_alerts_table_has_one_column_per_field_in_the_migrations() -> None:
    assert sorted(ALERT_ROW_COLUMNS) == sorted(AlertEvent.model_fields)
    sql = resources.files("schemas").joinpath("clickhouse", "0005_alerts.sql").read_text(encoding="utf-8")
    declared = re.findall(r"^ {4}([a-z_]+) +[A-Z]", sql, flags=re.MULTILINE)
    assert declared == [*ALERT_COLUMNS, "version", "ingested_at"]
    terms = resources.files("schemas").joinpath("clickhouse", "0012_alert_terms.sql").read_text(encoding="utf-8")
    added = re.findall(r"ADD COLUMN IF NOT EXISTS ([a-z_]+) Array\(String\) DEFAULT \[\] AFTER example_ids", terms)
    assert added == [TOP_TERMS]
    assert (*ALERT_COLUMNS, TOP_TERMS) == ALERT_ROW_COLUMNS


def test_an_alert_event_of_before_the_terms_is_still_valid_and_terms_round_trip() -> None:
    old = AlertEvent.model_validate(alert())  # written by a worker that knew no top_terms
    assert old.top_terms == ()
    event = AlertEvent.model_validate(alert(top_terms=["banjir", "paras air"]))
    assert event.top_terms == ("banjir", "paras air")
    assert AlertEvent.model_validate_json(event.model_dump_json()) == event
    schema = orjson.loads(render_schema(ALERTS))
    assert "top_terms" not in schema["required"]  # old records stay valid
    assert schema["properties"]["top_terms"]["maxItems"] == MAX_TOP_TERMS
