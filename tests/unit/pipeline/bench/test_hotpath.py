"""The hot-path benchmark phase runs the production processor path on synthetic load (figures are not asserted)."""

from __future__ import annotations

import gc
import math

import orjson
import pytest

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import STAGES, GcTime, hot_path_us_per_event, measure_hot_path, per_event_us


def test_hot_path_measures_cost_stages_facts_and_memory_of_the_open_conversations() -> None:
    hot = measure_hot_path(SyntheticEvents(partitions=3, batch_events=100, seed=1, events=3000), 3000)
    assert hot.events == 3000
    assert math.isfinite(hot.us_per_event)
    assert hot.us_per_event > 0
    assert set(hot.stages_us) == {*STAGES, "gc", "other"}
    assert hot.stages_us["decode"] > 0
    assert hot.stages_us["match"] > 0
    assert hot.facts > 0.1 * 3000  # the data's replies answer citizen messages
    assert hot.open_conversations > 0
    assert hot.bytes_per_conversation > 0


def test_the_cost_alone_skips_the_memory_pass() -> None:
    cost = hot_path_us_per_event(SyntheticEvents(partitions=3, batch_events=100, seed=1, events=1000), 1000)
    assert math.isfinite(cost)
    assert cost > 0


def test_per_event_us_divides_by_the_events_and_leaves_the_rest_as_other() -> None:
    stages = {"decode": 2.0, "reload": 0.5, "match": 1.0, "evict": 0.25, "encode": 0.25, "insert": 3.0}
    hot = per_event_us(stages, gc_s=0.5, cpu_s=8.0, events=1_000_000)
    assert hot["decode"] == pytest.approx(2.0)
    assert hot["insert"] == pytest.approx(3.0)
    assert hot["gc"] == pytest.approx(0.5)
    assert hot["other"] == pytest.approx(1.0)  # 8 - (4 prepared + 3 inserted by this thread)
    assert "event_loop" not in hot
    threads = {"event_loop": 2.0, "processor_threads": 4.5}
    end = per_event_us(stages, gc_s=0.5, cpu_s=9.0, events=1_000_000, threads=threads)
    assert end["event_loop"] == pytest.approx(2.0)
    assert end["processor_threads"] == pytest.approx(4.5)
    assert end["other"] == pytest.approx(2.5)  # 9 - the Python threads' 6.5: ClickHouse's own threads
    assert per_event_us({}, 0.0, 1.0, 0)["other"] == pytest.approx(1e6)  # no events: no division by zero


def test_gc_time_sums_the_collections_run_inside() -> None:
    with GcTime() as collector:
        gc.collect()
        gc.collect()
    assert collector.collections >= 2
    assert collector.seconds > 0
    after = collector.collections
    gc.collect()
    assert collector.collections == after  # the callback is gone


def test_batch_records_hold_every_event_once() -> None:
    records = SyntheticEvents(partitions=3, batch_events=100, seed=1).batch_records(1000)
    events = [event for _, value in records for event in orjson.loads(value)["events"]]
    assert len(events) == 1000
    assert len({event["event_id"] for event in events}) == 1000
    assert {partition for partition, _ in records} <= {0, 1, 2}
    assert all(len(orjson.loads(value)["events"]) <= 100 for _, value in records)
