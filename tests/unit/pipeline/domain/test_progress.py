"""Event-time progress of several sources: the slowest active one, idle ones set aside, never moved back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.progress import Progress
from tests.helpers.fakes import FakeClock

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_the_slowest_active_source_holds_progress_and_idle_ones_do_not() -> None:
    clock = FakeClock(T0)
    progress = Progress(clock, idle=timedelta(seconds=30))
    assert (progress.slowest_active(), progress.watermark()) == (None, None)
    progress.seen("a", T0 + timedelta(minutes=10))
    progress.seen("b", T0 + timedelta(minutes=3))
    progress.seen("b", T0 + timedelta(minutes=1))  # late: never moves a source back
    assert progress.watermark() == T0 + timedelta(minutes=3)
    clock.advance(timedelta(seconds=20))
    progress.seen("a", T0 + timedelta(minutes=12))
    clock.advance(timedelta(seconds=15))  # b silent for 35 s
    assert progress.slowest_active() == progress.watermark() == T0 + timedelta(minutes=12)
    clock.advance(timedelta(minutes=5))  # all silent
    assert progress.slowest_active() is None
    assert progress.watermark() == T0 + timedelta(minutes=12)
