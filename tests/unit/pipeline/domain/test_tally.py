"""The worker's surge counts: arrivals, first replies and backlog per agency x platform x minute, and the
worker's event-time progress over its partitions (the slowest active one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.tally import UnansweredTally
from tests.helpers.fakes import FakeClock

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def tally(clock: FakeClock | None = None, **kwargs: object) -> UnansweredTally:
    return UnansweredTally("w1", clock or FakeClock(T0), **kwargs)  # type: ignore[arg-type]


def test_arrivals_and_answers_count_per_minute_with_the_backlog_at_each_minutes_end() -> None:
    counts = tally()
    for n in range(3):
        counts.asked("jpm", "x", f"m{n}", T0 + timedelta(seconds=10 * n))
    counts.asked("jpm", "x", "m3", T0 + MINUTE)
    counts.answered("jpm", "x", T0, T0 + 2 * MINUTE)
    drain = counts.drain()
    got = [(r.minute - T0, r.arrivals, r.answered, r.backlog) for r in drain.records]
    assert got == [(0 * MINUTE, 3, 0, 3), (MINUTE, 1, 0, 4), (2 * MINUTE, 0, 1, 3)]
    assert {r.source for r in drain.records} == {"w1"}
    assert drain.records[0].example_ids == ("x:m0", "x:m1", "x:m2")
    assert drain.records[-1].oldest_unanswered_at == T0
    assert counts.drain().records == []  # drained: only what is new comes next


def test_an_answer_to_a_message_this_worker_never_took_leaves_its_backlog_alone() -> None:
    counts = tally()
    counts.asked("jpm", "x", "m1", T0 + 5 * MINUTE)
    counts.answered("jpm", "x", T0 - timedelta(days=2), T0 + 6 * MINUTE)  # asked before the worker started
    [asked, answered] = counts.drain().records
    assert (asked.backlog, answered.answered, answered.backlog) == (1, 1, 1)


def test_the_backlog_is_per_agency_and_platform_and_carries_over_batches() -> None:
    counts = tally()
    counts.asked("jpm", "x", "m1", T0)
    counts.asked("jpm", "facebook", "m2", T0)
    counts.asked("kkm", "x", "m3", T0)
    counts.drain()
    counts.asked("jpm", "x", "m4", T0 + MINUTE)
    [record] = counts.drain().records
    assert (record.agency, record.platform, record.backlog) == ("jpm", "x", 2)


def test_messages_older_than_the_horizon_leave_the_backlog() -> None:
    counts = tally(horizon=timedelta(hours=1))
    counts.asked("jpm", "x", "old", T0)
    counts.seen(0, T0 + timedelta(hours=2))
    counts.asked("jpm", "x", "new", T0 + timedelta(hours=2))
    records = counts.drain().records
    assert records[-1].backlog == 1
    assert records[-1].oldest_unanswered_at == T0 + timedelta(hours=2)


def test_examples_are_bounded_per_minute() -> None:
    counts = tally(max_examples=2)
    for n in range(5):
        counts.asked("jpm", "x", f"m{n}", T0)
    [record] = counts.drain().records
    assert record.example_ids == ("x:m0", "x:m1")


def test_the_watermark_is_the_slowest_active_partition() -> None:
    clock = FakeClock(T0)
    counts = tally(clock, idle=timedelta(seconds=30))
    assert counts.drain().watermark is None
    counts.seen(0, T0 + 10 * MINUTE)
    counts.seen(1, T0 + 3 * MINUTE)
    counts.seen(1, T0 + 2 * MINUTE)  # a late event never moves a partition back
    assert counts.watermark == T0 + 3 * MINUTE
    clock.advance(timedelta(seconds=20))
    counts.seen(0, T0 + 12 * MINUTE)
    clock.advance(timedelta(seconds=15))  # partition 1 silent for 35 s: it no longer holds the others back
    assert counts.watermark == T0 + 12 * MINUTE
    clock.advance(timedelta(minutes=5))  # all silent: everything they had is counted
    assert counts.watermark == T0 + 12 * MINUTE


def test_asked_many_counts_as_asked_one_by_one() -> None:
    messages = [("jpm", "x", f"m{n}", T0 + timedelta(seconds=25 * n)) for n in range(7)]
    messages += [("kkm", "facebook", "k1", T0)]
    one, many = tally(), tally()
    for message in messages:
        one.asked(*message)
    many.asked_many(messages)
    assert many.drain() == one.drain()


def test_a_seeded_backlog_is_no_arrival_and_its_answers_lower_it() -> None:
    counts = tally()
    taken = counts.seed(
        [("jpm", "x", "m1", T0), ("jpm", "x", "m2", T0 + MINUTE), ("jpm", "x", "old", T0 - timedelta(days=2))]
    )
    assert taken == 2  # the day-old message is beyond the 24 h horizon
    counts.answered("jpm", "x", T0, T0 + 3 * MINUTE)
    [answered] = counts.drain().records
    assert (answered.arrivals, answered.answered, answered.backlog) == (0, 1, 1)


def test_reset_backlog_forgets_what_was_taken_but_keeps_counts_not_drained() -> None:
    counts = tally()
    counts.asked("jpm", "x", "m1", T0)
    counts.reset_backlog()  # partitions revoked before the drain: the arrival still counts, the backlog is gone
    counts.asked("jpm", "x", "m2", T0 + MINUTE)
    got = [(r.arrivals, r.backlog) for r in counts.drain().records]
    assert got == [(1, 0), (1, 1)]
