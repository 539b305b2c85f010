"""The chaos benchmark's pure parts: kill plans, the replay dataset, the worker environment, the comparison."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from pipeline.bench.chaos import (
    CHAOS_KEY,
    ChaosOptions,
    KillPoint,
    Stage,
    build_replay,
    compare,
    plan_kills,
    worker_env,
)
from pipeline.settings import load_settings
from schemas.agency import load_directory
from schemas.tables import CHANGES, INTERACTIONS, POSTS, REACTIONS
from schemas.topics import EVENTS


def test_a_plan_is_reproducible_and_draws_only_weighted_stages() -> None:
    weights: tuple[tuple[Stage, float], ...] = (("api", 1.0), ("rows", 1.0), ("commit", 1.0), ("lock", 0.0))
    plan = plan_kills(random.Random(3), 200, 500, weights)
    assert plan == plan_kills(random.Random(3), 200, 500, weights)
    assert len(plan) == 200
    assert {p.stage for p in plan} == {"api", "rows", "commit"}
    positions = [p.at for p in plan if p.stage in ("rows", "commit")]
    assert positions == sorted(positions)  # the kills sweep the replay from its start to its end
    assert all(1 <= position <= 500 for position in positions)
    assert all(p.at == 0 for p in plan if p.stage == "api")


def test_a_kill_point_reads_as_its_stage() -> None:
    assert str(KillPoint("rows", 120)) == "rows@120"
    assert str(KillPoint("commit", 7)) == "commit@7"
    assert str(KillPoint("api")) == "api"


def _replay(seed: int = 5) -> Any:
    return build_replay(
        load_directory(), key=SecretStr(CHAOS_KEY), partitions=3, events=1500, seed=seed, record_events=50
    )


def test_the_replay_is_the_same_bytes_for_the_same_seed_with_pseudonymised_citizens_and_replies() -> None:
    replay = _replay()
    assert replay.records == _replay().records
    assert replay.records != _replay(seed=6).records
    events = [event for record in replay.records for event in orjson.loads(record.value)["events"]]
    assert len(events) == replay.events >= 1500
    assert {record.topic for record in replay.records} == {EVENTS.name}
    assert all(len(orjson.loads(r.value)["events"]) <= 50 for r in replay.records)
    citizens = [e for e in events if e["type"] == "interaction" and e["author_role"] == "citizen"]
    assert citizens
    assert all(e["author_id"].startswith("ps1:") for e in citizens)
    assert any(e["type"] == "interaction" and e["kind"] == "reply" for e in events)
    counts = {POSTS: "post", INTERACTIONS: "interaction", REACTIONS: "reaction", CHANGES: "change"}
    assert replay.published == {table: sum(e["type"] == kind for e in events) for table, kind in counts.items()}
    ends = replay.end_offsets(3)
    assert sum(ends.values()) == len(replay.records)
    assert {p for (topic, p), end in ends.items() if topic == EVENTS.name and end} <= {0, 1, 2}


def test_committed_offsets_count_the_events_of_the_records_before_them() -> None:
    replay = _replay()
    first = replay.records[0]
    assert replay.events_before({}) == 0
    assert replay.events_before(replay.end_offsets(3)) == replay.events
    assert replay.events_before({(first.topic, first.partition or 0): 1}) == len(orjson.loads(first.value)["events"])


def test_workers_get_their_own_settings_and_none_of_the_callers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERAMBI_CLICKHOUSE_URL", "https://user:secret@clickhouse.example:8443/db")
    monkeypatch.setenv("SERAMBI_API_TOKEN", "t")
    settings = load_settings(data_dir=tmp_path / "unused", pseudonym_key=SecretStr("k"), partitions=4)
    env = worker_env(settings, tmp_path / "data", "127.0.0.1:9", ChaosOptions(worker_batch_records=7))
    serambi = {name: value for name, value in env.items() if name.startswith("SERAMBI_")}
    assert serambi == {
        "SERAMBI_DATA_DIR": str(tmp_path / "data"),
        "SERAMBI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "SERAMBI_PSEUDONYM_KEY": CHAOS_KEY,
        "SERAMBI_PARTITIONS": "4",
        "SERAMBI_SLA_HOURS": "24.0",
        "SERAMBI_SINK_BATCH_RECORDS": "7",
        "SERAMBI_BOARD_PORT": "0",
    }


def _figures() -> dict[str, Any]:
    row = {"agency_id": "jpj", "citizen_messages": 10, "answered": 4, "median_response_seconds": 60.0}
    fact = ["m1", "2026-11-02T01:00:00+00:00", "r1", 60.0, 60.0]
    return {
        "report": [row],
        "oracle_report": [dict(row)],
        "facts": [fact],
        "oracle_facts": [list(fact)],
        "stored": {t: {"final": 5, "distinct": 5} for t in (POSTS, INTERACTIONS, REACTIONS)},
        "dead_letters": 0,
        "activity": {"citizen_message": 10},
    }


PUBLISHED = {POSTS: 5, INTERACTIONS: 5, REACTIONS: 5}


def test_equal_figures_have_no_difference() -> None:
    assert compare(PUBLISHED, _figures(), _figures()) == []


def test_every_kind_of_difference_is_named() -> None:
    chaos = copy.deepcopy(_figures())
    chaos["report"][0]["median_response_seconds"] = 61.0
    chaos["facts"] = []
    chaos["stored"][REACTIONS] = {"final": 4, "distinct": 4}
    chaos["activity"] = {"citizen_message": 9}
    differences = compare(PUBLISHED, _figures(), chaos)
    assert "chaos vs clean: jpj.median_response_seconds 61.0 != 60.0" in differences
    assert "chaos stream vs oracle: jpj.median_response_seconds 61.0 != 60.0" in differences
    assert any(d.startswith("chaos stream vs oracle: 1 fact(s) missing") for d in differences)
    assert any(d.startswith("chaos vs clean: 1 fact(s) missing") for d in differences)
    assert "chaos reactions: 4 rows, 4 event ids, 5 published" in differences
    assert any(d.startswith("chaos vs clean activity") for d in differences)


def test_a_doubled_event_is_a_difference() -> None:
    chaos = _figures()
    chaos["stored"][POSTS] = {"final": 6, "distinct": 5}
    assert compare(PUBLISHED, _figures(), chaos) == ["chaos posts: 6 rows, 5 event ids, 5 published"]


def test_an_agency_missing_from_a_report_is_a_difference() -> None:
    chaos = _figures()
    chaos["report"] = []
    assert "chaos vs clean: agency jpj only in one report" in compare(PUBLISHED, _figures(), chaos)
