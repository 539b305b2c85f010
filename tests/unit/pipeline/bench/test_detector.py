"""The detector micro-benchmark: a realistic count stream, and CPU per judged (key, minute) (figures not asserted)."""

from __future__ import annotations

import math

from pipeline.bench.detector import count_stream, detector_us_per_key_minute
from pipeline.domain.surge import SurgeParams, Transition


def test_the_stream_is_a_tallys_minute_counts_with_surges() -> None:
    stream = count_stream(agencies=3, days=0.25, seed=1, surges_per_agency_day=8)
    assert len(stream.minutes) == 360
    assert stream.surges
    first = {(r.agency, r.platform) for r in stream.minutes[0]}
    assert first == {(a, p) for a in stream.agencies for p in stream.platforms[a]}  # every key from the start
    assert all(r.minute == stream.start for r in stream.minutes[0])
    assert stream.records < 360 * len(first)  # quiet minutes send nothing
    assert len(stream.history["agency-00"]) == 21 * 24


def test_the_detector_is_timed_per_judged_key_minute_and_finds_the_surges() -> None:
    stream = count_stream(agencies=3, days=0.25, seed=1, surges_per_agency_day=8)
    surging = {agency for agency, _ in stream.surges}
    for batch, gauges in ((1, True), (60, False)):
        result = detector_us_per_key_minute(stream, batch_minutes=batch, read_gauges=gauges)
        assert result.key_minutes == 3 * 360
        assert result.records == stream.records
        assert math.isfinite(result.us_per_key_minute)
        assert result.us_per_key_minute > 0
        raised = {a.agency for a in result.alerts if a.transition is Transition.RAISE}
        assert raised
        assert raised <= surging
        figures = result.figures()
        assert figures["key_minutes"] == result.key_minutes
        assert figures["alerts"] == len(result.alerts)


def test_per_platform_keys_are_counted() -> None:
    stream = count_stream(agencies=2, days=0.05, seed=2, surges_per_agency_day=0)
    result = detector_us_per_key_minute(stream, SurgeParams(per_platform=True))
    keys = 2 + sum(len(stream.platforms[a]) for a in stream.agencies)
    assert result.key_minutes == keys * len(stream.minutes)
    assert result.alerts == ()
