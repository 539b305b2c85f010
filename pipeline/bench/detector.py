"""The surge detector alone: CPU time per judged (key, minute) on a realistic stream of minute counts.

The worker's detector judges every agency (and agency x platform with ``per_platform``) every minute of event
time, also during a replay of days. This builds the counts a worker's tally sends (:func:`count_stream`): seeded
agencies of 0.5 to 10 citizen messages a minute at their daily peak over one to three platforms, answered
minutes later, one record per agency x platform x minute that had an arrival or an answer, with a few surges
of unanswered floods; three weeks of hourly history seed the baselines, as a restarted worker does from
storage. :func:`detector_us_per_key_minute` feeds it to a fresh :class:`~pipeline.domain.surge.SurgeDetector`
as :class:`~pipeline.stream.surge_watch.SurgeWatch` does (the records of ``batch_minutes`` minutes, then the
watermark, then the gauges) and divides the CPU time by the (key, minute) judgements made.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.bench.alert_traffic import MINUTE, MONDAY, diurnal, hourly_history, poisson, rng_of
from pipeline.domain.surge import CountRecord, SurgeAlert, SurgeDetector, SurgeParams

__all__ = ["CountStream", "DetectorBenchResult", "count_stream", "detector_us_per_key_minute"]

_PLATFORMS = ("x", "facebook", "instagram")
_HISTORY_DAYS = 21
_SOURCE = "worker-1"
_SURGE_MINUTES = 20
_EXAMPLES = 3


@dataclass(frozen=True)
class CountStream:
    """Minute counts of ``agencies`` over ``[start, end)``: ``minutes[i]`` holds the records of minute ``i``.

    ``history`` gives each agency's hourly arrivals of the three weeks before ``start``, for
    :meth:`SurgeDetector.seed_history`; ``surges`` the agencies and onsets of the floods.
    """

    start: datetime
    end: datetime
    agencies: tuple[str, ...]
    platforms: dict[str, tuple[str, ...]]
    history: dict[str, dict[datetime, int]]
    minutes: tuple[tuple[CountRecord, ...], ...]
    surges: tuple[tuple[str, datetime], ...]

    @property
    def records(self) -> int:
        """Records in the stream."""
        return sum(len(records) for records in self.minutes)


@dataclass(frozen=True)
class DetectorBenchResult:
    """What one run measured: CPU microseconds per judged (key, minute), and what the detector made of it."""

    key_minutes: int
    records: int
    cpu_seconds: float
    alerts: tuple[SurgeAlert, ...]

    @property
    def us_per_key_minute(self) -> float:
        """CPU microseconds per (key, minute) judged, all of the detector's work included."""
        return self.cpu_seconds * 1e6 / self.key_minutes if self.key_minutes else math.nan

    def figures(self) -> dict[str, float | int]:
        """The figures as a JSON-able dict (``--json-out``)."""
        return {
            "us_per_key_minute": round(self.us_per_key_minute, 3),
            "key_minutes": self.key_minutes,
            "records": self.records,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "alerts": len(self.alerts),
        }


def count_stream(
    agencies: int = 36, days: float = 2.0, seed: int = 1, surges_per_agency_day: float = 0.1
) -> CountStream:
    """A seeded stream of minute counts, as a worker's tally sends them (module docstring).

    Each surge adds about 20 unanswered messages a minute for 20 minutes, answered half an hour after it.
    """
    rng = rng_of(f"detector-bench-{seed}")
    start, minutes = MONDAY, round(days * 1440)
    names = tuple(f"agency-{n:02d}" for n in range(agencies))
    platforms = {name: _PLATFORMS[: rng.randint(1, len(_PLATFORMS))] for name in names}
    peaks = {name: rng.uniform(0.5, 10.0) * 60 for name in names}  # messages an hour at the daily peak
    rates = {name: diurnal(peaks[name], peaks[name] / 20) for name in names}
    history = {
        name: hourly_history(rates[name], start - timedelta(days=_HISTORY_DAYS), _HISTORY_DAYS, seed + n)
        for n, name in enumerate(names)
    }
    surges = tuple(
        (name, start + timedelta(minutes=rng.randrange(minutes)))
        for name in names
        for _ in range(poisson(rng, surges_per_agency_day * days))
    )
    streams = [
        _platform_counts(name, platform, _share(platform, platforms[name]), rates[name], surges, start, minutes)
        for name in names
        for platform in platforms[name]
    ]
    by_minute: list[list[CountRecord]] = [[] for _ in range(minutes)]
    for stream in streams:
        for index, record in stream:
            by_minute[index].append(record)
    return CountStream(
        start=start,
        end=start + minutes * MINUTE,
        agencies=names,
        platforms=platforms,
        history=history,
        minutes=tuple(tuple(records) for records in by_minute),
        surges=surges,
    )


def _share(platform: str, platforms: tuple[str, ...]) -> float:
    """The platform's share of its agency's messages: the first platform brings most."""
    weights = {name: 1.0 / (n + 1) for n, name in enumerate(_PLATFORMS)}
    return weights[platform] / sum(weights[name] for name in platforms)


def _platform_counts(  # noqa: PLR0913 - one stream's identity and its traffic
    agency: str,
    platform: str,
    share: float,
    rate: Callable[[datetime], float],
    surges: tuple[tuple[str, datetime], ...],
    start: datetime,
    minutes: int,
) -> list[tuple[int, CountRecord]]:
    """One agency x platform's records: its share of the arrivals, most answered 2-10 minutes later."""
    rng = rng_of(f"{agency}/{platform}/{start.isoformat()}/{minutes}")
    floods = [s for a, s in surges if a == agency]
    open_: deque[tuple[int, int]] = deque()  # (minute arrived, minute answered or -1): oldest first
    answers: dict[int, int] = {}
    backlog, made, out = 0, 0, []
    for index in range(minutes):
        at = start + index * MINUTE
        flood = any(timedelta(0) <= at - onset < _SURGE_MINUTES * MINUTE for onset in floods)
        arrivals = poisson(rng, share * rate(at) / 60) + (poisson(rng, 15 * share + 5) if flood else 0)
        for _ in range(arrivals):
            # A flood is answered only after it; normal messages within minutes.
            later = index + (_SURGE_MINUTES + 30 if flood else rng.randint(2, 10))
            answers[later] = answers.get(later, 0) + 1
            open_.append((index, later))
        answered = answers.pop(index, 0)
        backlog += arrivals - answered
        while open_ and open_[0][1] <= index:
            open_.popleft()
        if index == 0 or arrivals or answered:  # the tally sends the minutes it counted something in
            out.append(
                (
                    index,
                    CountRecord(
                        agency=agency,
                        platform=platform,
                        source=_SOURCE,
                        minute=at,
                        arrivals=arrivals,
                        answered=answered,
                        backlog=backlog,
                        oldest_unanswered_at=start + open_[0][0] * MINUTE if open_ else None,
                        example_ids=tuple(f"{platform}:m{made + n}" for n in range(min(arrivals, _EXAMPLES))),
                    ),
                )
            )
        made += arrivals
    return out


def detector_us_per_key_minute(
    stream: CountStream,
    params: SurgeParams | None = None,
    batch_minutes: int = 1,
    *,
    read_gauges: bool = True,
    detector_class: Callable[..., SurgeDetector] = SurgeDetector,
) -> DetectorBenchResult:
    """Feed ``stream`` to a fresh detector and time it (CPU time of this thread; the history seeding excluded).

    batch_minutes (1, live; a replay sends hundreds): minutes of records observed before each watermark advance;
    read_gauges (True): read the detector's gauges after each advance, as the worker's watch does;
    detector_class: the detector to time (another implementation, to compare).
    """
    params = params or SurgeParams()
    detector = detector_class(params, watermark_from_records=False)
    for agency in stream.agencies:
        detector.seed_history(agency, "all", stream.history[agency])
        if params.per_platform:
            for platform in stream.platforms[agency]:
                detector.seed_history(agency, platform, stream.history[agency])
    alerts: list[SurgeAlert] = []
    lateness = math.ceil(params.lateness.total_seconds() / 60)
    count = len(stream.minutes)
    began = time.thread_time()
    for first in range(0, count, batch_minutes):
        last = min(first + batch_minutes, count)
        for index in range(first, last):
            for record in stream.minutes[index]:
                alerts += detector.observe(record)
        alerts += detector.advance_to(stream.start + last * MINUTE)
        if read_gauges:
            detector.gauges()
    alerts += detector.advance_to(stream.end + (lateness + 1) * MINUTE)
    cpu = time.thread_time() - began
    # Every key has a record in the first minute, so each was judged every minute of the stream.
    return DetectorBenchResult(detector.known_keys() * count, stream.records, cpu, tuple(alerts))
