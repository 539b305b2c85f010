"""Pacing on a fake clock: replays keep their spacing divided by the speed; the simulator never runs ahead."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.core.pacing import ReplayPacer, StoppableSink, Stopped, Timeline, check_speed, run_at_speed
from connectors.core.testing import FakeClock, ListEventSink
from schemas.events import Event
from tests.helpers.events import T0, EventFactory


class _TimedSink(ListEventSink):
    """Remembers the fake wall time of each publish, and how many flushes came before it."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[tuple[datetime, int]] = []

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        self.at.append((self.clock.now(), self.flushes))
        return super().publish(event)


@pytest.mark.parametrize("speed", [0, -1, math.nan])
def test_check_speed_refuses_what_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be > 0"):
        check_speed(speed)


def test_timeline_maps_both_ways() -> None:
    wall = datetime(2026, 1, 1, tzinfo=T0.tzinfo)
    line = Timeline(wall, T0, 60)
    assert line.event_time(wall + timedelta(minutes=1)) == T0 + timedelta(hours=1)
    assert line.wall_time(T0 + timedelta(hours=1)) == wall + timedelta(minutes=1)
    assert line.wall_time(line.event_time(wall + timedelta(seconds=7))) == wall + timedelta(seconds=7)


def test_timeline_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Timeline(datetime(2026, 1, 1), T0, 1)  # noqa: DTZ001


def test_replay_keeps_the_spacing_divided_by_the_speed(event_factory: EventFactory) -> None:
    clock = FakeClock()
    sink = _TimedSink(clock)
    pacer = ReplayPacer(sink, 3600, clock=clock)
    offsets_hours = [0, 1, 1, 3, 2]  # the last is out of order: already due, no wait
    for hours in offsets_hours:
        pacer.publish(event_factory("comment", created_at=T0 + timedelta(hours=hours)))
    start = clock.start
    assert [at for at, _ in sink.at] == [start + timedelta(seconds=s) for s in (0, 1, 1, 3, 3)]
    assert clock.sleeps == [1, 2]
    assert [flushes for _, flushes in sink.at] == [0, 1, 1, 2, 2]  # what was due went out before each wait


def test_replay_passes_mappings_and_dead_letters_at_once(event_factory: EventFactory) -> None:
    clock = FakeClock()
    sink = ListEventSink()
    pacer = ReplayPacer(sink, 10, clock=clock)
    pacer.publish(event_factory("post", created_at=T0))
    pacer.dead_letter("line 2: not JSON", b"{", error_type="not_json")
    assert pacer.publish(event_factory("post", created_at=T0 + timedelta(days=1)).model_dump(mode="json"))
    pacer.flush()
    assert clock.sleeps == []
    assert len(sink.events) == 2
    assert sink.dead_letters[0].error_type == "not_json"
    assert sink.flushes == 1


class _SignalDuringWait(FakeClock):
    """A Ctrl-C arriving while the replay waits: the first wait sets ``stop``, then waits like a real clock."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        self.stop.set()
        super().sleep(seconds, stop)


def test_replay_stops_during_a_wait_without_publishing_the_awaited_event(event_factory: EventFactory) -> None:
    stop = threading.Event()
    clock = _SignalDuringWait(stop)
    sink = ListEventSink()
    pacer = ReplayPacer(sink, 1, clock=clock, stop=stop)
    pacer.publish(event_factory("post", created_at=T0))
    with pytest.raises(Stopped):
        pacer.publish(event_factory("post", created_at=T0 + timedelta(hours=2)))  # a 2-hour wait at speed 1
    assert clock.now() == clock.start  # the wait ended at once
    assert len(sink.events) == 1
    assert sink.flushes == 1  # the first event was delivered before the wait


def test_stoppable_sink_passes_until_stopped(event_factory: EventFactory) -> None:
    stop = threading.Event()
    sink = ListEventSink()
    stoppable = StoppableSink(sink, stop)
    assert stoppable.publish(event_factory("post", created_at=T0))
    stoppable.dead_letter("line 2: not JSON", "{", error_type="not_json")
    stop.set()
    with pytest.raises(Stopped):
        stoppable.publish(event_factory("post", created_at=T0))
    with pytest.raises(Stopped):
        stoppable.dead_letter("line 4: not JSON", "{", error_type="not_json")
    stoppable.flush()
    assert (len(sink.events), len(sink.dead_letters), sink.flushes) == (1, 1, 1)


def test_run_at_speed_catches_up_and_never_runs_ahead_of_the_clock() -> None:
    clock = FakeClock()
    began = clock.now()
    seen: list[tuple[datetime, datetime]] = []
    start = began - timedelta(hours=1)
    run_at_speed(
        lambda moment: seen.append((clock.now(), moment)),
        start=start,
        speed=60,
        stop=threading.Event(),
        clock=clock,
        duration_seconds=120,
        interval_seconds=0.2,
    )
    assert seen[0] == (began, start)
    assert seen[1] == (began + timedelta(seconds=0.2), start + timedelta(seconds=12))
    assert all(moment <= wall for wall, moment in seen)
    assert seen[-1] == (began + timedelta(seconds=120), began + timedelta(seconds=120))  # caught up: real time
    assert len(seen) == 601


def test_run_at_speed_steps_once_when_already_stopped() -> None:
    clock = FakeClock()
    stop = threading.Event()
    stop.set()
    seen: list[datetime] = []
    run_at_speed(seen.append, start=clock.now(), speed=5, stop=stop, clock=clock)
    assert seen == [clock.start]
    assert clock.sleeps == []
