from __future__ import annotations

from pipeline.stream.offsets import DrainState, HandledOffsets


def test_drained_when_every_partition_is_handled() -> None:
    handled = HandledOffsets()
    handled.mark("events", 0, 9)
    handled.mark("events", 0, 4)  # out of order marks never move backwards
    ends = {("events", 0): 10, ("events", 1): 0}
    state = DrainState.compute(ends, handled.snapshot())
    assert state.drained
    assert state.as_dict() == {"drained": True, "lag_records": {"events": 0}, "unsettled_spool_segments": 0}


def test_lag_counts_unhandled_records_per_topic() -> None:
    handled = HandledOffsets()
    handled.mark("events", 0, 4)
    state = DrainState.compute({("events", 0): 10, ("events", 1): 3, ("dead", 0): 1}, handled.snapshot())
    assert not state.drained
    assert state.lag == {"events": 5 + 3, "dead": 1}


def test_committed_offsets_of_earlier_runs_count_as_handled() -> None:
    state = DrainState.compute({("events", 0): 10}, {}, committed={("events", 0): 10})
    assert state.drained
    state = DrainState.compute({("events", 0): 10}, {("events", 0): 7}, committed={("events", 0): 5})
    assert state.lag == {"events": 2}
