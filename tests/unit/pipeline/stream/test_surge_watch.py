"""The detector in the worker: every worker's counts merged, event time moved by the slowest active worker,
transitions turned into alert events carrying the top terms of their messages, the detector gauges and the
raised-alerts counter set."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from pipeline.domain.surge import SurgeAlert, SurgeDetector
from pipeline.metrics import Metrics
from pipeline.stream.surge_watch import TERMS_EVERY, SurgeWatch, day_kinds, detector_params
from schemas.agency import Directory
from schemas.alerts import AlertEvent
from schemas.counts import CountBatch, MinuteCount
from tests.helpers.fakes import FakeClock

ONSET = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Kuala Lumpur
MINUTE = timedelta(minutes=1)
NORMAL, SURGE = 2, 30  # messages a minute


def watch(clock: FakeClock, metrics: Metrics) -> SurgeWatch:
    detector = SurgeDetector(watermark_from_records=False)
    history = {ONSET - timedelta(hours=h): 60 * NORMAL for h in range(1, 24 * 8)}
    detector.seed_history("jpm", "all", history)
    return SurgeWatch(detector, metrics, lambda: {"jpm": "federal"}, clock, idle=timedelta(seconds=30))


def traffic(sources: int) -> list[list[CountBatch]]:
    """Per minute from ONSET - 40 min, the batches of ``sources`` workers sharing the agency's messages evenly."""
    minutes, backlog = [], [0] * sources
    for step in range(-40, 40):
        minute = ONSET + step * MINUTE
        total = SURGE if 0 <= step < 10 else NORMAL
        batches = []
        for source in range(sources):
            arrivals = total // sources + (1 if source < total % sources else 0)
            answered = arrivals if not 0 <= step < 10 else 0
            backlog[source] += arrivals - answered
            count = MinuteCount(
                agency="jpm",
                platform="x",
                minute=minute,
                arrivals=arrivals,
                answered=answered,
                backlog=backlog[source],
            )
            batches.append(CountBatch(source=f"w{source}", watermark=minute + MINUTE, sent_at=ONSET, counts=(count,)))
        minutes.append(batches)
    return minutes


def run(sources: int) -> list[AlertEvent]:
    clock, metrics = FakeClock(ONSET), Metrics(CollectorRegistry())
    surge = watch(clock, metrics)
    events = []
    for batches in traffic(sources):
        for batch in batches:
            events += surge.take(batch)
    return events


def test_a_surge_spread_over_workers_gives_the_alerts_it_gives_on_one() -> None:
    one = run(1)
    assert [e.transition for e in one][:1] == ["raise"]
    assert (one[0].agency, one[0].platform) == ("jpm", "all")
    for sources in (2, 6):
        assert run(sources) == one


def test_a_minute_is_judged_only_once_every_active_worker_is_past_it() -> None:
    clock, metrics = FakeClock(ONSET), Metrics(CollectorRegistry())
    surge = watch(clock, metrics)
    minutes = traffic(2)
    surge.take(minutes[0][1])  # worker 1 reports its first minute, then falls silent
    raised = []
    for batches in minutes:
        raised += surge.take(batches[0])  # worker 0 runs on; worker 1 holds event time back
    assert raised == []
    assert surge.watermark == minutes[0][1].watermark
    clock.advance(timedelta(seconds=31))  # worker 1 silent for longer than idle: worker 0 alone moves time
    assert [e.transition for e in surge.tick()][:1] == ["raise"]


def test_gauges_and_the_raised_counter_follow_the_alert() -> None:
    clock, metrics = FakeClock(ONSET), Metrics(CollectorRegistry())
    surge = watch(clock, metrics)
    value = metrics.registry.get_sample_value
    labels = {"agency": "jpm", "tier": "federal"}

    def active() -> list[float | None]:
        return [value("serambi_agency_surge_active", {**labels, "severity": s}) for s in ("warning", "critical")]

    events: list[AlertEvent] = []
    seen = []
    for batches in traffic(1):
        events += surge.take(batches[0])
        seen.append((events[-1].severity if events else None, active()))
    assert (None, [0, 0]) in seen  # judged, nothing active
    assert ("warning", [1, 0]) in seen
    assert seen[-1] == ("critical", [1, 1])  # escalated: the warning series stays, so its alert does not resolve
    assert [e.severity for e in events if e.transition == "raise"] == ["warning"]
    assert value("serambi_alerts_raised_total", {"severity": "warning"}) == 1
    assert value("serambi_agency_arrivals_baseline_per_minute", labels) == NORMAL


def test_an_agency_calendar_gives_its_rest_days(sample_directory: Directory) -> None:
    for agency in sample_directory.agencies:
        kinds = day_kinds(agency)
        assert kinds.rest_weekdays == frozenset(range(7)) - agency.weekday_numbers
        assert kinds.holidays == frozenset(agency.holidays)


def test_an_alerts_example_ids_are_made_by_the_given_function() -> None:
    clock, metrics = FakeClock(ONSET), Metrics(CollectorRegistry())
    surge = watch(clock, metrics)
    surge._example = lambda example_id: "ps:" + example_id.partition(":")[2]
    events = []
    for batches in traffic(1):
        batch = batches[0]
        counts = tuple(c.model_copy(update={"example_ids": (f"x:{c.minute:%H%M}",)}) for c in batch.counts)
        events += surge.take(batch.model_copy(update={"counts": counts}))
    assert events[0].example_ids
    assert all(e.startswith("ps:") for e in events[0].example_ids)


def test_per_platform_judging_adds_platform_alerts_but_gauges_stay_per_agency() -> None:
    params = detector_params(12, 3, 15, timedelta(minutes=2), per_platform=True)
    detector = SurgeDetector(params, watermark_from_records=False)
    history = {ONSET - timedelta(hours=h): 60 * NORMAL for h in range(1, 24 * 8)}
    for platform in ("all", "x"):
        detector.seed_history("jpm", platform, history)
    metrics = Metrics(CollectorRegistry())
    surge = SurgeWatch(detector, metrics, lambda: {"jpm": "federal"}, FakeClock(ONSET))
    events = [e for batches in traffic(1) for e in surge.take(batches[0])]
    assert {(e.platform, e.transition) for e in events} >= {("all", "raise"), ("x", "raise")}
    assert metrics.registry.get_sample_value("serambi_alerts_raised_total", {"severity": "warning"}) == 2
    active = metrics.registry.get_sample_value(
        "serambi_agency_surge_active", {"agency": "jpm", "tier": "federal", "severity": "warning"}
    )
    assert active == 1


class Terms:
    """A terms function that records its calls: the alert's transition, severity and update time each time."""

    def __init__(self, *answers: tuple[str, ...] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[SurgeAlert] = []

    def __call__(self, alert: SurgeAlert) -> tuple[str, ...]:
        self.calls.append(alert)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def answered_all(steps: range) -> list[CountBatch]:
    """One worker's minutes of normal traffic after the surge, the surge's backlog answered in the first one."""
    minutes = [ONSET + step * MINUTE for step in steps]
    return [
        CountBatch(
            source="w0",
            watermark=minute + MINUTE,
            sent_at=ONSET,
            counts=(
                MinuteCount(agency="jpm", platform="x", minute=minute, arrivals=NORMAL, answered=NORMAL, backlog=0),
            ),
        )
        for minute in minutes
    ]


def terms_run(terms: Terms, every: timedelta = TERMS_EVERY) -> list[AlertEvent]:
    """The surge of :func:`traffic` then its backlog answered, through a watch finding terms with ``terms``."""
    clock, metrics = FakeClock(ONSET), Metrics(CollectorRegistry())
    surge = watch(clock, metrics)
    surge = SurgeWatch(surge.detector, metrics, lambda: {}, clock, terms=terms, terms_every=every)
    batches = [minute[0] for minute in traffic(1)] + answered_all(range(40, 80))
    return [e for batch in batches for e in surge.take(batch)]


def test_terms_are_found_on_raise_and_severity_change_and_carried_by_every_transition() -> None:
    terms = Terms(("banjir", "paras air"), ("banjir", "pusat pemindahan", "bot"))
    events = terms_run(terms)
    transitions = [(e.transition, e.severity) for e in events]
    assert transitions[0] == ("raise", "warning")
    assert ("update", "critical") in transitions
    assert events[-1].transition == "resolve"
    # found twice: at the raise and when the alert became critical, never at the other updates or the resolve
    assert [(c.transition.value, c.severity.value) for c in terms.calls] == [
        ("raise", "warning"),
        ("update", "critical"),
    ]
    escalated = transitions.index(("update", "critical"))
    assert {e.top_terms for e in events[:escalated]} == {("banjir", "paras air")}
    assert {e.top_terms for e in events[escalated:]} == {("banjir", "pusat pemindahan", "bot")}


def test_a_growing_alert_finds_its_terms_again_at_most_every_terms_every() -> None:
    often, never = Terms(("banjir",)), Terms(("banjir",))
    updates = [e for e in terms_run(often, every=timedelta(minutes=1)) if e.transition != "resolve"]
    terms_run(never, every=timedelta(days=1))
    assert len(never.calls) == 2  # the raise and the severity change only
    assert len(often.calls) == len(updates) > 2  # every update is a minute or more after the one before


def test_failing_terms_never_stop_detection_are_logged_once_and_the_last_ones_are_carried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Terms(RuntimeError("ClickHouse is gone"))
    caplog.set_level(logging.WARNING, "pipeline.stream.surge_watch")
    events = terms_run(broken)
    assert [e.transition for e in events][:: len(events) - 1] == ["raise", "resolve"]  # detected all the same
    assert {e.top_terms for e in events} == {()}
    assert len(broken.calls) == 2
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        f"finding the top terms of surge alert {events[0].alert_id} failed"
    ]
    recovering = Terms(("banjir",), RuntimeError("timeout"))
    events = terms_run(recovering)
    assert {e.top_terms for e in events} == {("banjir",)}  # the failed second search kept the raise's terms


def test_terms_an_alert_event_would_refuse_are_left_out() -> None:
    events = terms_run(Terms(("banjir", "", "x" * 65, "a\nb", "paras air", "t4", "t5", "t6", "t7")))
    assert events[0].top_terms == ("banjir", "paras air", "t4", "t5", "t6")
