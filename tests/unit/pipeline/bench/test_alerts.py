"""The alert benchmark simulates, detects and scores deterministically (figures are not asserted)."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise

import pytest

from pipeline.bench.alert_scenario import START, agency_traffic, script_surges
from pipeline.bench.alerts import AlertBenchOptions, AlertBenchResult, run_alert_bench
from schemas.agency import load_directory

# A federal agency, a state one with a Sunday-Thursday week, and the small noisy one; two weeks.
AGENCIES = ("jpj", "kelantan-air", "mbpp")


@pytest.fixture(scope="module")
def result() -> AlertBenchResult:
    return run_alert_bench(AlertBenchOptions(seed=1, weeks=2, agencies=AGENCIES), lambda _line: None)


def test_the_json_has_the_figures_and_every_surge(result: AlertBenchResult) -> None:
    figures = json.loads(result.as_json())
    assert {"median_delay_seconds", "max_delay_seconds", "missed", "false_alerts_per_week", "surges"} <= set(figures)
    assert {"targets_met", "seed", "weeks", "agencies", "runtime_seconds"} <= set(figures)
    assert figures["agencies"] == list(AGENCIES)
    assert len(figures["surges"]) == len(result.outcomes) > 0
    surge = figures["surges"][0]
    assert {"agency", "onset", "ratio", "required", "raised_at", "delay_seconds", "missed"} <= set(surge)
    assert result.table()[-1].startswith("required surges:")


def test_a_required_surge_is_detected_after_its_onset(result: AlertBenchResult) -> None:
    detected = [o for o in result.outcomes if o.surge.required and o.raised_at is not None]
    assert detected
    for outcome in detected:
        assert outcome.raised_at is not None
        assert outcome.surge.onset < outcome.raised_at
        assert outcome.delay_seconds is not None
        assert outcome.delay_seconds >= 0
        # The delay counts until the alert exists: its emission, never before the minute that raised it ended.
        assert outcome.emitted_at is not None
        assert outcome.emitted_at >= outcome.raised_at
        assert outcome.delay_seconds == max(0.0, (outcome.emitted_at - outcome.surge.sized_from).total_seconds())


def test_surges_are_scripted_in_the_scored_weeks_only_and_never_overlap_on_an_agency() -> None:
    traffics = [agency_traffic(a, 28, 3) for a in load_directory().agencies]
    surges = script_surges(traffics, range(2, 4), 3)
    assert all(START + timedelta(days=14) <= s.onset < START + timedelta(days=28) for s in surges)
    assert any(s.required for s in surges)
    assert any(not s.required for s in surges)  # smaller ones are reported, not required
    for agency in {s.agency for s in surges}:
        mine = [s for s in surges if s.agency == agency]
        assert all(a.settled <= b.onset for a, b in pairwise(mine))


def test_the_same_seed_gives_the_same_figures(result: AlertBenchResult) -> None:
    again = run_alert_bench(AlertBenchOptions(seed=1, weeks=2, agencies=AGENCIES), lambda _line: None)
    first, second = result.as_dict(), again.as_dict()
    first.pop("runtime_seconds")
    second.pop("runtime_seconds")
    assert first == second


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="weeks must be >= 2"):
        AlertBenchOptions(weeks=1)
    with pytest.raises(ValueError, match="unknown agencies"):
        run_alert_bench(AlertBenchOptions(agencies=("nope",)), lambda _line: None)
