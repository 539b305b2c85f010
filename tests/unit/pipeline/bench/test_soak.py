"""The soak benchmark's statistics: windows, medians, second-half slope and the flat decision."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.soak import rss_trend
from pipeline.cli.soak import soak

MINUTE = 60.0


def _points(duration_s: float, every_s: float, mb: float | list[float]) -> list[tuple[float, float]]:
    steps = int(duration_s / every_s) + 1
    values = mb if isinstance(mb, list) else [mb] * steps
    return [(i * every_s, values[i]) for i in range(steps)]


def test_a_constant_rss_is_flat_with_zero_slope() -> None:
    trend = rss_trend(_points(30 * MINUTE, 10, 400.0), 30 * MINUTE, flat_mb_per_min=1.0)
    assert trend.slope_mb_per_min == pytest.approx(0.0)
    assert trend.flat
    assert trend.first_median_mb == trend.last_median_mb == trend.max_mb == 400.0


def test_the_slope_is_fitted_on_the_second_half_only_so_warm_up_does_not_count() -> None:
    # 100 MB of warm-up growth in the first 10 minutes, then a plateau.
    values = [300 + min(i * 10 / MINUTE, 10) * 10 for i in range(181)]
    trend = rss_trend(_points(30 * MINUTE, 10, values), 30 * MINUTE, flat_mb_per_min=1.0)
    assert trend.slope_mb_per_min == pytest.approx(0.0)
    assert trend.flat
    assert trend.first_median_mb < trend.last_median_mb == 400.0


def test_a_steady_leak_is_not_flat_and_its_slope_is_in_mb_per_minute() -> None:
    values = [200 + 2 * (i * 10 / MINUTE) for i in range(181)]  # 2 MB/min for 30 min
    trend = rss_trend(_points(30 * MINUTE, 10, values), 30 * MINUTE, flat_mb_per_min=1.0)
    assert trend.slope_mb_per_min == pytest.approx(2.0)
    assert not trend.flat
    assert trend.max_mb == pytest.approx(260.0)
    # Medians of the first and last 5 minutes (31 samples each: 0..300 s and 1500..1800 s).
    assert trend.first_median_mb == pytest.approx(205.0)
    assert trend.last_median_mb == pytest.approx(255.0)


def test_the_threshold_is_an_option_and_shrinking_counts_as_flat() -> None:
    growing = [100 + 0.5 * (i * 10 / MINUTE) for i in range(181)]
    shrinking = [500 - 3 * (i * 10 / MINUTE) for i in range(181)]
    assert not rss_trend(_points(30 * MINUTE, 10, growing), 30 * MINUTE, flat_mb_per_min=0.25).flat
    assert rss_trend(_points(30 * MINUTE, 10, growing), 30 * MINUTE, flat_mb_per_min=1.0).flat
    assert rss_trend(_points(30 * MINUTE, 10, shrinking), 30 * MINUTE, flat_mb_per_min=1.0).flat


def test_a_short_run_uses_thirds_for_first_and_last() -> None:
    # 3 minutes, a sample every 10 s: first = 0..60 s, last = 120..180 s.
    values = [float(i) for i in range(19)]
    trend = rss_trend(_points(3 * MINUTE, 10, values), 3 * MINUTE, flat_mb_per_min=1.0)
    assert trend.first_median_mb == pytest.approx(3.0)
    assert trend.last_median_mb == pytest.approx(15.0)
    assert trend.slope_mb_per_min == pytest.approx(6.0)


def test_without_two_samples_in_the_second_half_nothing_is_called_flat() -> None:
    trend = rss_trend([(0.0, 100.0), (30.0, 100.0)], 60.0, flat_mb_per_min=1.0)
    assert trend.slope_mb_per_min is None
    assert not trend.flat
    empty = rss_trend([], 60.0, flat_mb_per_min=1.0)
    assert (empty.max_mb, empty.slope_mb_per_min, empty.flat) == (0.0, None, False)


def test_live_events_carry_the_given_accounts_and_clock_and_include_replies() -> None:
    accounts = [("x", "a1", "100"), ("facebook", "a2", "200")]
    moment = datetime(2026, 11, 29, 12, tzinfo=UTC)
    events = list(itertools.islice(SyntheticEvents(3, 500, 11).live_events(accounts, lambda: moment), 400))
    assert {(e["platform"], e["agency_id"], e["account_id"]) for e in events} == set(accounts)
    assert {e["created_at"] for e in events} == {moment.isoformat()}
    assert all(e["event_id"].startswith(e["platform"] + ":") for e in events)
    assert any(e.get("kind") == "reply" for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


def test_the_command_offers_its_options_without_loading_the_stack() -> None:
    result = CliRunner().invoke(soak, ["--help"])
    assert result.exit_code == 0
    for option in ("--minutes", "--rate", "--sample-every", "--flat-mb-per-min", "--json-out"):
        assert option in result.output
