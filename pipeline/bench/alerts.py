"""``serambi bench alerts``: how well the surge detector finds surges, on simulated weeks of the sample agencies.

The world is :mod:`pipeline.bench.alert_scenario` (rhythms, rest days and holidays, answering, one small noisy
agency, scripted surges). Its messages are spread over ``sources`` partitions and counted per minute as the
worker counts them (:func:`~pipeline.bench.alert_traffic.source_counts`), and the records go to one
:class:`~pipeline.domain.surge.SurgeDetector` in minute order, with the worker's event-time heartbeat after each
minute. The first half of the weeks only builds baselines; surges are scripted in the second half, which is
scored:

- a surge's *delay* is the event time at which its agency's first raise at or after its onset was emitted (the
  detector's watermark then: a minute is judged only ``lateness`` after its end) minus the moment the surge
  reached 3x normal (its onset, unless it ramps up; a ramp caught earlier counts 0);
- a *missed* surge is a required one (rule in :mod:`~pipeline.bench.alert_scenario`) with no raise of its agency
  from its onset to :data:`SLACK` after its end;
- a *false alert* is a raise of the scored weeks outside every scripted surge's window of its agency.

Deterministic per seed: the same seed gives the same figures (bar the run time).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.bench.alert_scenario import (
    DAY,
    START,
    AgencyTraffic,
    ScriptedSurge,
    agency_traffic,
    normal_messages,
    script_surges,
)
from pipeline.bench.alert_traffic import MINUTE, source_counts
from pipeline.domain.surge import ALL_PLATFORMS, CountRecord, SurgeAlert, SurgeDetector, SurgeParams, Transition
from schemas.agency import load_directory

__all__ = [
    "SLACK",
    "TARGET_FALSE_ALERTS_PER_WEEK",
    "TARGET_MAX_DELAY_SECONDS",
    "TARGET_MEDIAN_DELAY_SECONDS",
    "AlertBenchOptions",
    "AlertBenchResult",
    "SurgeOutcome",
    "run_alert_bench",
]

Say = Callable[[str], None]

SLACK = timedelta(minutes=60)
TARGET_MEDIAN_DELAY_SECONDS = 120.0
TARGET_MAX_DELAY_SECONDS = 300.0
TARGET_FALSE_ALERTS_PER_WEEK = 1.0
# Messages leave a partition's backlog after the matcher's horizon (SERAMBI_LATENESS_HOURS, 168 by default).
_EXPIRE = timedelta(hours=168)


@dataclass(frozen=True, slots=True)
class AlertBenchOptions:
    """What to simulate.

    seed (1); weeks (4, at least 2: the first half builds baselines, the second is scored); agencies (None: every
    agency of the packaged sample directory); sources (6 partitions); params (``SurgeParams()``).
    """

    seed: int = 1
    weeks: int = 4
    agencies: tuple[str, ...] | None = None
    sources: int = 6
    params: SurgeParams = field(default_factory=SurgeParams)

    def __post_init__(self) -> None:
        if self.weeks < 2 or self.sources < 1:
            msg = f"weeks must be >= 2 (baselines, then scoring) and sources >= 1, got {self.weeks}, {self.sources}"
            raise ValueError(msg)

    @property
    def baseline_weeks(self) -> int:
        """Weeks that only build baselines."""
        return self.weeks // 2


@dataclass(frozen=True, slots=True)
class SurgeOutcome:
    """A scripted surge and the first raise of its agency in its window (None: not detected).

    raised_at: the raise's ``started_at`` (the end of the minute that triggered it); emitted_at: the event time
    at which the detector emitted it, ``lateness`` or more later: when the alert exists, what the delay counts.
    """

    surge: ScriptedSurge
    raised_at: datetime | None
    emitted_at: datetime | None = None

    @property
    def delay_seconds(self) -> float | None:
        """Event-time seconds from the surge reaching 3x normal to the raise's emission (0 when before)."""
        if self.emitted_at is None:
            return None
        return max(0.0, (self.emitted_at - self.surge.sized_from).total_seconds())

    @property
    def missed(self) -> bool:
        """A required surge that raised nothing."""
        return self.surge.required and self.raised_at is None

    def as_dict(self) -> dict[str, Any]:
        """The surge, its size, and what the detector did about it."""
        surge = self.surge
        return {
            "name": surge.name,
            "agency": surge.agency,
            "onset": surge.onset.isoformat(),
            "onset_local": surge.onset.astimezone(surge.zone).isoformat(),
            "minutes": surge.minutes,
            "ramp_minutes": surge.ramp_minutes,
            "normal_per_hour": round(surge.normal_per_hour, 1),
            "extra_per_hour": round(surge.extra_per_hour, 1),
            "ratio": round(surge.ratio, 2),
            "messages": len(surge.messages),
            "required": surge.required,
            "raised_at": None if self.raised_at is None else self.raised_at.isoformat(),
            "emitted_at": None if self.emitted_at is None else self.emitted_at.isoformat(),
            "delay_seconds": self.delay_seconds,
            "detected": self.raised_at is not None,
            "missed": self.missed,
        }


@dataclass(frozen=True, slots=True)
class AlertBenchResult:
    """Per-surge outcomes, false alerts and the totals the targets are about."""

    options: AlertBenchOptions
    agencies: tuple[str, ...]
    outcomes: tuple[SurgeOutcome, ...]
    false_alerts: tuple[SurgeAlert, ...]
    warmup_raises: int
    messages: int
    records: int
    runtime_seconds: float

    @property
    def delays(self) -> list[float]:
        """Delays of the detected required surges."""
        return [o.delay_seconds for o in self.outcomes if o.surge.required and o.delay_seconds is not None]

    @property
    def median_delay_seconds(self) -> float | None:
        """Median delay of the detected required surges."""
        return statistics.median(self.delays) if self.delays else None

    @property
    def max_delay_seconds(self) -> float | None:
        """Longest delay of the detected required surges."""
        return max(self.delays, default=None)

    @property
    def missed(self) -> int:
        """Required surges that raised nothing."""
        return sum(o.missed for o in self.outcomes)

    @property
    def false_alerts_per_week(self) -> float:
        """False raises per scored week, all agencies together."""
        return len(self.false_alerts) / (self.options.weeks - self.options.baseline_weeks)

    @property
    def targets_met(self) -> bool:
        """Median delay <= 2 min, max <= 5 min, no missed surge, at most 1 false alert a week."""
        median, longest = self.median_delay_seconds, self.max_delay_seconds
        return (
            median is not None
            and longest is not None
            and median <= TARGET_MEDIAN_DELAY_SECONDS
            and longest <= TARGET_MAX_DELAY_SECONDS
            and self.missed == 0
            and self.false_alerts_per_week <= TARGET_FALSE_ALERTS_PER_WEEK
        )

    def as_dict(self) -> dict[str, Any]:
        """Totals, targets, per-surge outcomes and false alerts, JSON-able."""
        options = self.options
        return {
            "median_delay_seconds": self.median_delay_seconds,
            "max_delay_seconds": self.max_delay_seconds,
            "missed": self.missed,
            "false_alerts_per_week": self.false_alerts_per_week,
            "targets_met": self.targets_met,
            "targets": {
                "median_delay_seconds": TARGET_MEDIAN_DELAY_SECONDS,
                "max_delay_seconds": TARGET_MAX_DELAY_SECONDS,
                "missed": 0,
                "false_alerts_per_week": TARGET_FALSE_ALERTS_PER_WEEK,
            },
            "seed": options.seed,
            "weeks": options.weeks,
            "baseline_weeks": options.baseline_weeks,
            "sources": options.sources,
            "agencies": list(self.agencies),
            "required_surges": sum(o.surge.required for o in self.outcomes),
            "false_alerts": [a.to_dict() for a in self.false_alerts],
            "warmup_raises": self.warmup_raises,
            "messages": self.messages,
            "records": self.records,
            "runtime_seconds": round(self.runtime_seconds, 1),
            "surges": [o.as_dict() for o in self.outcomes],
        }

    def as_json(self) -> str:
        """:meth:`as_dict` as indented JSON."""
        return json.dumps(self.as_dict(), indent=2)

    def table(self) -> list[str]:
        """The per-surge table and the totals against the targets, as lines."""
        lines = [f"{'onset (local)':<17} {'agency':<18} {'surge':<23} {'normal/h':>8} {'x':>5}  {'req':<3}  raised"]
        for outcome in self.outcomes:
            surge = outcome.surge
            delay = outcome.delay_seconds
            seen = "-" if delay is None else f"after {delay / 60:.0f} min"
            if outcome.missed:
                seen = "MISSED"
            lines.append(
                f"{surge.onset.astimezone(surge.zone):%a %d %b %H:%M}  {surge.agency:<18} {surge.name:<23} "
                f"{surge.normal_per_hour:>8.0f} {surge.ratio:>5.1f}  {'yes' if surge.required else 'no':<3}  {seen}"
            )
        lines += [f"false alert: {a.agency} at {a.started_at.isoformat()} ({a.severity})" for a in self.false_alerts]
        lines.append(self._totals())
        return lines

    def _totals(self) -> str:
        median, longest = self.median_delay_seconds, self.max_delay_seconds

        def shown(seconds: float | None) -> str:
            return "n/a" if seconds is None else f"{seconds:.0f} s"

        verdict = "targets met" if self.targets_met else "targets NOT met"
        return (
            f"required surges: {sum(o.surge.required for o in self.outcomes)}, delay median {shown(median)} "
            f"(target <= {TARGET_MEDIAN_DELAY_SECONDS:.0f} s), max {shown(longest)} "
            f"(<= {TARGET_MAX_DELAY_SECONDS:.0f} s), "
            f"missed {self.missed} (0), false alerts {len(self.false_alerts)} = {self.false_alerts_per_week:.2f}/week "
            f"(<= {TARGET_FALSE_ALERTS_PER_WEEK:.0f}): {verdict}"
        )


def run_alert_bench(options: AlertBenchOptions, say: Say) -> AlertBenchResult:
    """Simulate, detect, score; ``say`` gets a progress line per simulated week."""
    began = time.perf_counter()
    directory = load_directory()
    wanted = options.agencies
    agencies = [a for a in directory.agencies if wanted is None or a.id in wanted]
    if wanted is not None and len(agencies) != len(set(wanted)):
        msg = f"unknown agencies {sorted(set(wanted) - {a.id for a in agencies})}; the sample directory has those"
        raise ValueError(msg)
    days = options.weeks * 7
    traffics = [agency_traffic(agency, days, options.seed) for agency in agencies]
    surges = script_surges(traffics, range(options.baseline_weeks, options.weeks), options.seed)
    say(
        f"simulating {options.weeks} weeks of {len(traffics)} agencies over {options.sources} partitions "
        f"(seed {options.seed}); {len(surges)} scripted surges in the last {options.weeks - options.baseline_weeks}"
    )
    streams, total = _streams(traffics, surges, options)
    detector = SurgeDetector(options.params, {t.agency_id: t.kinds for t in traffics})
    raises: list[tuple[SurgeAlert, datetime]] = []  # with the event time it was emitted at
    records = 0
    for index, minute_records in enumerate(zip(*streams, strict=True)):
        minute = START + index * MINUTE
        for record in minute_records:
            if record is not None:
                records += 1
                # A record of this minute moves the detector's watermark to the minute's start.
                raises += _raises(detector.observe(record), minute)
        raises += _raises(detector.advance_to(minute + MINUTE), minute + MINUTE)  # the heartbeat: minute over
        if (index + 1) % (7 * 1440) == 0:
            week = (index + 1) // (7 * 1440)
            phase = "baselines" if week <= options.baseline_weeks else "scored"
            say(f"week {week}/{options.weeks} ({phase}): {len(raises)} raises, {time.perf_counter() - began:.0f} s")
    last = START + days * DAY + options.params.lateness + 2 * MINUTE
    raises += _raises(detector.advance_to(last), last)
    return _score(options, traffics, surges, raises, total, records, time.perf_counter() - began)


def _raises(alerts: list[SurgeAlert], emitted_at: datetime) -> list[tuple[SurgeAlert, datetime]]:
    return [(a, emitted_at) for a in alerts if a.transition is Transition.RAISE and a.platform == ALL_PLATFORMS]


def _streams(
    traffics: list[AgencyTraffic], surges: list[ScriptedSurge], options: AlertBenchOptions
) -> tuple[list[Iterator[CountRecord | None]], int]:
    """Per agency and partition, the minute counts a worker would emit; and the number of messages."""
    end = START + options.weeks * 7 * DAY
    streams: list[Iterator[CountRecord | None]] = []
    total = 0
    for traffic in traffics:
        batch = normal_messages(traffic, end, options.seed)
        batch += [m for s in surges if s.agency == traffic.agency_id for m in s.messages]
        batch.sort(key=lambda m: m.at)
        total += len(batch)
        platform = str(traffic.agency.accounts[0].platform)
        streams += [
            source_counts(
                batch[i :: options.sources],
                START,
                end,
                traffic.agency_id,
                platform,
                f"p{i}",
                expire=_EXPIRE,
                heartbeat=False,
            )
            for i in range(options.sources)
        ]
    return streams, total


def _score(  # noqa: PLR0913 - the run's pieces, scored together
    options: AlertBenchOptions,
    traffics: list[AgencyTraffic],
    surges: list[ScriptedSurge],
    raises: list[tuple[SurgeAlert, datetime]],
    total: int,
    records: int,
    runtime_seconds: float,
) -> AlertBenchResult:
    scored_from = START + options.baseline_weeks * 7 * DAY
    outcomes = []
    explained: set[str] = set()
    for surge in surges:
        inside = [
            (r, at) for r, at in raises if r.agency == surge.agency and surge.onset <= r.started_at <= surge.end + SLACK
        ]
        explained.update(r.alert_id for r, _ in inside)
        first = min(inside, key=lambda pair: pair[0].started_at, default=None)
        outcomes.append(SurgeOutcome(surge, *((None, None) if first is None else (first[0].started_at, first[1]))))
    false_alerts = tuple(r for r, _ in raises if r.started_at >= scored_from and r.alert_id not in explained)
    return AlertBenchResult(
        options=options,
        agencies=tuple(t.agency_id for t in traffics),
        outcomes=tuple(outcomes),
        false_alerts=false_alerts,
        warmup_raises=sum(r.started_at < scored_from for r, _ in raises),
        messages=total,
        records=records,
        runtime_seconds=runtime_seconds,
    )
