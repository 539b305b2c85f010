"""The hot-path benchmark phase runs the production processor path on synthetic load (figures are not asserted)."""

from __future__ import annotations

import math

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import hot_path_us_per_event


def test_hot_path_measures_a_finite_cost_per_event() -> None:
    cost = hot_path_us_per_event(SyntheticEvents(partitions=3, batch_events=100, seed=1), 3000)
    assert math.isfinite(cost)
    assert cost > 0


def test_batch_records_hold_every_event_once() -> None:
    import orjson

    records = SyntheticEvents(partitions=3, batch_events=100, seed=1).batch_records(1000)
    events = [event for _, value in records for event in orjson.loads(value)["events"]]
    assert len(events) == 1000
    assert len({event["event_id"] for event in events}) == 1000
    assert {partition for partition, _ in records} <= {0, 1, 2}
