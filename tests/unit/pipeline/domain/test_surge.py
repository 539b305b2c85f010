from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.bench.alert_traffic import (
    MINUTE,
    MONDAY,
    Rate,
    answer_between,
    count_records,
    diurnal,
    flat,
    hourly_history,
    messages,
    weekly,
    with_surge,
)
from pipeline.domain.surge import (
    CountRecord,
    DayKinds,
    Severity,
    SurgeAlert,
    SurgeDetector,
    SurgeParams,
    Transition,
    poisson_surprise,
)

HISTORY_DAYS = 21
ONSET = MONDAY + timedelta(hours=3)  # 11:00 local on a Monday


def seeded(rate: Rate, params: SurgeParams | None = None, seed: int = 1, **kwargs: object) -> SurgeDetector:
    """A detector knowing three weeks of the agency's history before MONDAY."""
    detector = SurgeDetector(params, **kwargs)  # type: ignore[arg-type]
    detector.seed_history("a", "all", hourly_history(rate, MONDAY - timedelta(days=HISTORY_DAYS), HISTORY_DAYS, seed))
    return detector


def run(detector: SurgeDetector, records: list[CountRecord], end: datetime) -> list[SurgeAlert]:
    return detector.observe_all(records) + detector.advance_to(end + timedelta(minutes=5))


def day_records(rate: Rate, days: int = 1, seed: int = 2, **kwargs: object) -> tuple[list[CountRecord], datetime]:
    end = MONDAY + timedelta(days=days)
    return count_records(messages(rate, MONDAY, end, seed), MONDAY, end, "a", **kwargs), end  # type: ignore[arg-type]


def surge_scenario(sources: int = 1, drain: bool = True) -> tuple[list[CountRecord], datetime]:
    """60/h, a 30-minute flood of +600/h at ONSET, answered from ONSET + 1 h at 20 a minute."""
    end = MONDAY + timedelta(hours=8)
    batch = messages(with_surge(flat(60), ONSET, 30, 600), MONDAY, end, seed=2)
    if drain:
        batch = answer_between(batch, ONSET, ONSET + timedelta(minutes=30), ONSET + timedelta(hours=1), 20)
    return count_records(batch, MONDAY, end, "a", sources=sources), end


def transitions(alerts: list[SurgeAlert]) -> list[Transition]:
    return [alert.transition for alert in alerts]


def test_poisson_surprise_is_the_exact_tail() -> None:
    # P(X >= 13 | 5) = 0.0020189...; P(X >= 1 | 0.5) = 1 - e^-0.5.
    assert poisson_surprise(13, 5.0) == pytest.approx(2.6949, abs=1e-3)
    assert poisson_surprise(1, 0.5) == pytest.approx(-math.log10(1 - math.exp(-0.5)), rel=1e-9)
    assert poisson_surprise(5, 5.0) == 0.0
    assert poisson_surprise(400, 10.0) > 300  # far tails stay finite and exact


def test_steady_traffic_raises_nothing() -> None:
    detector = seeded(flat(60))
    records, end = day_records(flat(60), days=2)
    assert run(detector, records, end) == []
    gauge = detector.gauges()[0]
    assert gauge.baseline_per_minute == pytest.approx(1.0, rel=0.15)
    assert not gauge.active


def test_a_diurnal_peak_is_normal_but_not_against_a_flat_baseline() -> None:
    rhythm = diurnal(day_per_hour=240, night_per_hour=4)
    records, end = day_records(rhythm, days=2)
    assert run(seeded(rhythm), records, end) == []
    # The same day judged against its daily mean (no hour of day) pages at the peak: the hour slot matters.
    daily_mean = sum(rhythm(MONDAY + timedelta(minutes=m)) for m in range(1440)) / 1440
    assert Transition.RAISE in transitions(run(seeded(flat(daily_mean)), records, end))


def test_a_weekly_pattern_learned_from_records_raises_nothing() -> None:
    # A parks agency: busy weekends and a weekday holiday, quiet working days; learned over three weeks.
    holiday = MONDAY + timedelta(days=23, hours=8)  # a Wednesday of the fourth week
    rhythm = weekly(flat(20), flat(200), holidays=[holiday])
    end = MONDAY + timedelta(days=28)
    records = count_records(messages(rhythm, MONDAY, end, seed=3), MONDAY, end, "a")
    calendar = DayKinds(holidays=frozenset({date(2026, 11, 25)}))
    detector = SurgeDetector(default_calendar=calendar)
    assert run(detector, records, end) == []
    assert len(detector.history("a")) == (21 + 1) * 24  # the lookback, pruned as it goes
    # Without day kinds, weekends are judged against weekdays and page.
    flat_week = SurgeDetector(default_calendar=DayKinds(rest_weekdays=frozenset()))
    assert Transition.RAISE in transitions(run(flat_week, records, end))


def test_a_surge_raises_within_two_minutes_of_onset_with_its_figures() -> None:
    records, end = surge_scenario()
    alerts = run(seeded(flat(60)), records, end)
    raised = alerts[0]
    assert raised.transition is Transition.RAISE
    assert raised.started_at - ONSET <= 2 * MINUTE
    assert (raised.agency, raised.platform, raised.kind) == ("a", "all", "unanswered_surge")
    assert raised.arrivals_per_minute > 3 * raised.baseline_per_minute
    assert raised.backlog > 0
    assert raised.oldest_unanswered_seconds > 0
    assert raised.example_ids
    assert all(int(i[1:]) >= 150 for i in raised.example_ids)  # surge messages, not earlier ones
    assert any(a.severity is Severity.CRITICAL for a in alerts)
    again = run(seeded(flat(60)), records, end)
    assert [a.alert_id for a in again] == [a.alert_id for a in alerts]  # a replay names it the same


def test_a_draining_surge_resolves_once_after_the_hysteresis() -> None:
    records, end = surge_scenario()
    alerts = run(seeded(flat(60)), records, end)
    assert transitions(alerts).count(Transition.RAISE) == 1
    assert transitions(alerts).count(Transition.RESOLVE) == 1
    resolved = alerts[-1]
    assert resolved.transition is Transition.RESOLVE
    assert len({a.alert_id for a in alerts}) == 1
    # The ~330 surge messages are answered from ONSET + 1 h at 20 a minute: drained by ~ONSET + 1 h 17 min,
    # below a quarter of the peak some minutes earlier; then 15 quiet minutes.
    assert ONSET + timedelta(hours=1, minutes=15) <= resolved.resolved_at <= ONSET + timedelta(hours=1, minutes=35)  # type: ignore[operator]


def trace(steps: list[tuple[int, int, int]]) -> tuple[list[CountRecord], datetime]:
    """Hand-made counts from ONSET - 1 h: (minutes, arrivals a minute, backlog change a minute) steps."""
    records, minute, backlog = [], ONSET - timedelta(hours=1), 100
    for minutes, arrivals, change in steps:
        for _ in range(minutes):
            backlog += change
            records.append(
                CountRecord("a", "x", "p0", minute, arrivals=arrivals, backlog=backlog, oldest_unanswered_at=MONDAY)
            )
            minute += MINUTE
    return records, minute


def test_a_backlog_hovering_at_the_threshold_does_not_flap() -> None:
    # Normal hour; a flood; half a drain to below a quarter of the peak; a short relapse; the rest of the drain.
    records, end = trace([(60, 1, 0), (10, 20, 18), (8, 1, -20), (3, 10, 8), (20, 1, -2), (30, 1, 0)])
    alerts = run(seeded(flat(60)), records, end)
    assert transitions(alerts).count(Transition.RAISE) == 1
    assert transitions(alerts).count(Transition.RESOLVE) == 1
    # The relapse's windows trigger until 7 minutes after it (its backlog growth is judged against the drain
    # before it, and its excess against the baseline itself); then 15 quiet minutes.
    assert alerts[-1].resolved_at == ONSET + timedelta(minutes=10 + 8 + 3 + 7 + 15)
    # Without the hold the dip resolves and the relapse pages again.
    twitchy = transitions(run(seeded(flat(60), SurgeParams(resolve_minutes=1)), records, end))
    assert twitchy.count(Transition.RAISE) >= 2


def test_a_slow_ramp_is_detected() -> None:
    # From 60/h to 300/h over an hour, unanswered: no single minute is extreme.
    records, end = day_records(with_surge(flat(60), ONSET, 90, 240, ramp_minutes=60))
    alerts = run(seeded(flat(60)), records, end)
    assert alerts
    assert alerts[0].transition is Transition.RAISE
    assert ONSET < alerts[0].started_at < ONSET + timedelta(minutes=60)
    assert alerts[0].window_minutes >= 15


def test_a_small_noisy_agency_never_pages() -> None:
    # 2 messages an hour, with a burst of 4-9 messages in one minute a few times a day, for a week.
    rng = random.Random(5)
    bursts = {MONDAY + timedelta(minutes=rng.randrange(7 * 1440)): rng.randint(4, 9) for _ in range(25)}

    def noisy(at: datetime) -> float:
        return 2.0 + 60.0 * bursts.get(at, 0)

    records, end = day_records(noisy, days=7)
    assert run(seeded(flat(2)), records, end) == []
    # It is the minimum volume that keeps it quiet.
    assert Transition.RAISE in transitions(run(seeded(flat(2), SurgeParams(min_excess=2)), records, end))


def test_out_of_order_records_within_the_lateness_are_merged() -> None:
    records, end = surge_scenario(sources=3)
    in_order = run(seeded(flat(60)), records, end)
    shuffled = list(records)
    rng = random.Random(7)
    for i in range(0, len(shuffled) - 6, 6):  # swap records at most 2 minutes apart (3 sources a minute)
        j = i + rng.randrange(6)
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    assert shuffled != records
    assert run(seeded(flat(60)), shuffled, end) == in_order


def test_a_record_later_than_the_lateness_is_dropped_and_counted() -> None:
    records, end = day_records(flat(60))
    detector = seeded(flat(60))
    detector.observe_all(records[:600])
    late = CountRecord("a", "x", "p0", records[500].minute, arrivals=500, backlog=900)
    assert detector.observe(late) == []
    assert detector.late_records == 1
    assert run(detector, records[600:], end) == []


def test_a_jump_forward_is_an_outage_not_a_quiet_spell() -> None:
    records, end = day_records(flat(60))
    outage = [r for r in records if not ONSET <= r.minute < ONSET + timedelta(hours=6)]
    # After the outage the sources report the backlog that piled up meanwhile (their arrivals are too late).
    back = next(i for i, r in enumerate(outage) if r.minute >= ONSET)
    pile = [
        CountRecord("a", "x", "p0", ONSET + timedelta(hours=3), arrivals=300, backlog=700),
        CountRecord("a", "x", "p0", ONSET + timedelta(hours=6), arrivals=1, backlog=700),
    ]
    detector = seeded(flat(60))
    alerts = run(detector, [*outage[:back], *pile[1:], pile[0], *outage[back + 1 :]], end)
    assert alerts == []
    assert detector.gaps == 1
    assert detector.late_records == 1
    gap_hours = [ONSET + timedelta(hours=h) for h in range(6)]
    assert not set(gap_hours) & set(detector.history("a"))
    # The same stretch declared by advance_to (a heartbeat with no traffic) is learned as quiet hours.
    heartbeat = seeded(flat(60))
    heartbeat.observe_all(outage[:back])
    heartbeat.advance_to(ONSET + timedelta(hours=6))
    assert heartbeat.gaps == 0
    assert heartbeat.history("a")[ONSET + timedelta(hours=1)] == 0


@pytest.mark.parametrize("cut", [120, 182, 200, 300])  # before, at, during the surge; during the drain
def test_restart_from_a_snapshot_gives_the_same_alerts(cut: int) -> None:
    records, end = surge_scenario(sources=2)
    uninterrupted = run(seeded(flat(60)), records, end)
    first = seeded(flat(60))
    before = first.observe_all(records[: cut * 2])
    snapshot = json.loads(json.dumps(first.snapshot()))  # survives a trip through a topic or a file
    after = run(SurgeDetector.restore(snapshot), records[cut * 2 :], end)
    assert before + after == uninterrupted
    assert len(uninterrupted) >= 2


def test_history_rebuilt_from_storage_restores_baselines() -> None:
    # A restarted worker with only hourly counts from ClickHouse judges the same as one that learned them.
    rate = diurnal(240, 4)
    start = MONDAY - timedelta(days=HISTORY_DAYS)
    past = count_records(messages(rate, start, MONDAY, seed=9), start, MONDAY, "a")
    learned = SurgeDetector()
    learned.observe_all(past)
    learned.advance_to(MONDAY + timedelta(minutes=2))
    rebuilt = SurgeDetector()
    rebuilt.seed_history("a", "all", learned.history("a"))
    records, end = day_records(with_surge(rate, ONSET, 30, 900))
    alerts_learned = run(learned, records, end)
    assert alerts_learned
    assert run(rebuilt, records, end) == alerts_learned


def test_a_surge_spread_over_partitions_is_judged_as_on_one() -> None:
    one, end = surge_scenario(sources=1)
    alerts = run(seeded(flat(60)), one, end)
    assert transitions(alerts)[0] is Transition.RAISE
    for sources in (2, 4, 12):
        spread, _ = surge_scenario(sources=sources)
        assert max(r.arrivals for r in spread) < max(r.arrivals for r in one)  # no partition sees it all
        assert run(seeded(flat(60)), spread, end) == alerts


def test_per_platform_keys_are_judged_too() -> None:
    records, end = surge_scenario()
    detector = seeded(flat(60), SurgeParams(per_platform=True))
    detector.seed_history("a", "x", detector.history("a"))
    platforms = {(a.platform, a.transition) for a in run(detector, records, end)}
    assert {("all", Transition.RAISE), ("x", Transition.RAISE)} <= platforms


def test_records_must_be_aware_minutes() -> None:
    with pytest.raises(ValueError, match="minute boundary"):
        CountRecord("a", "x", "p0", datetime(2026, 11, 2, 10, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="minute boundary"):
        CountRecord("a", "x", "p0", datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match=">= 0"):
        CountRecord("a", "x", "p0", MONDAY, arrivals=-1)
