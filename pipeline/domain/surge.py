"""Surge detection: when citizens flood an agency with messages nobody answers. Pure, framework-free.

Input is a stream of per-minute partial counts (:class:`CountRecord`), one per (source, agency, platform,
minute), where a source is whatever produced the partial count (a partition of a worker). The detector sums
the partial counts of a minute over all sources before judging it, and keeps each source's latest absolute
backlog, so an agency is judged on its whole traffic whatever the number of partitions or workers: a surge
spread over N partitions gives exactly the alerts it gives on one.

Time is event time only. A minute is judged once the watermark (the latest record minute, or the instant given
to :meth:`SurgeDetector.advance_to`) is ``lateness`` past its end, so records arriving out of order within
the lateness are merged, and a replay of last month gives the alerts (and alert ids) it gave live, provided
its records come in the same order as live within the lateness (an early raise, below, is made from the counts
present when its minute ended). Records for
minutes already judged are dropped and counted (:attr:`SurgeDetector.late_records`). A forward jump of the
record minutes longer than ``max_gap`` is an outage, not a quiet spell: its minutes are neither judged nor
learned, and windows restart empty after it. :meth:`~SurgeDetector.advance_to` says time passed *without*
traffic (a heartbeat), so its minutes are judged and learned as quiet.

Method. Arrivals are judged against the key's own normal for that hour: the *baseline* of an hour is the median
of the arrivals in the same hour of the previous ``baseline_days`` days of the same kind (working day vs rest
day: weekends and holidays of the agency's calendar), with the MAD as its spread. Median and MAD are robust:
yesterday's surge, one outage or one holiday among the samples barely moves them, where a mean would learn the
surge as normal. Busy days are busy all day, so the baseline is scaled by today's *level* (how much busier
than their baselines the hours before the previous one were, beyond Poisson chance; between 1 and
``level_cap``). Over sliding windows of a few lengths (short ones for sudden floods, long ones for slow ramps)
the observed arrivals ``x`` are tested against a Poisson with mean ``lam_up`` = baseline + ``spread_sigmas``
times its spread: the score is ``-log10 P(X >= x)``, an exact tail that stays honest at the low counts of nights
and small agencies where a normal z-score would page on every burst of five. A window triggers only when all
hold: score >= ``score_raise``; at least ``min_excess`` messages above normal in 5 minutes, times the square
root of a longer window's length over 5 (small agencies never page, however their bursts add up), no minute of a
longer window counting more than half of ``min_excess`` (two bursts are no surge); at least ``min_ratio`` times
normal; and the backlog grew by at least ``unanswered_share`` of the excess, beyond the fall it was on before
(a flood answered as it comes is no incident; one arriving while old messages are worked off is). The baseline is
linear within the hour between the medians of adjacent hours, so mornings and evenings ramp as expected.
A minute is judged early, once it is over, on the counts present: a trigger raises there and then (waiting out
the lateness would add it to every delay); the final judgement, with every record, continues the alert.
A trigger raises an alert (``critical`` when arrivals are
``critical_ratio`` times normal and ``critical_excess`` above it, or the surge backlog reaches
``critical_backlog``), updates it while the backlog grows or the severity rises, and resolves it with
hysteresis: once the backlog added since the surge started has drained to ``resolve_fraction`` of its peak,
with no window triggering, for ``resolve_minutes`` consecutive minutes; or once no window has triggered for
``settle_minutes`` (an agency answering only part of its messages never drains).

Cost. A replay judges every key every minute, so judging is incremental and exact: each key's ring of minutes
carries running totals, from which a bound rules out every window that cannot trigger; only minutes where one
might (a surge, an active alert) are worked out window by window, with the same float operations in the same
order as ever, and the score a gauge shows is worked out when the gauges are read. Alerts, gauges and snapshots
are those of judging every window of every minute (tests/unit/pipeline/domain/test_surge_equivalence.py).

State (baselines, windows, gauges, active alerts, pending minutes) is a plain JSON-able dict
(:meth:`SurgeDetector.snapshot`, :meth:`SurgeDetector.restore`), and hourly arrival history can be seeded from
storage (:meth:`SurgeDetector.seed_history`), so baselines survive restarts. Hours of previous days are taken
24 h apart in UTC, which is the same local hour in the fixed-offset zones of Malaysia (DST zones would be off
by an hour for a day around each change).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import reduce
from heapq import heapify, heappop, heappush
from operator import add, itemgetter
from statistics import median
from typing import Any, Final

import msgspec

__all__ = [
    "ALL_PLATFORMS",
    "SURGE_KIND",
    "CountRecord",
    "DayKinds",
    "KeyGauge",
    "Severity",
    "SurgeAlert",
    "SurgeDetector",
    "SurgeParams",
    "Transition",
    "poisson_surprise",
]

ALL_PLATFORMS = "all"
SURGE_KIND = "unanswered_surge"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation
_SNAPSHOT_VERSION = 1
_EXCESS_MINUTES = 5  # the window length min_excess is stated for
_TREND_MINUTES = 10  # minutes before a window that give the backlog's trend


class Severity(StrEnum):
    """How big a surge is; ordered, so an alert's severity only goes up."""

    WARNING = "warning"
    CRITICAL = "critical"


class Transition(StrEnum):
    """What happened to an alert."""

    RAISE = "raise"
    UPDATE = "update"
    RESOLVE = "resolve"


_RANK = {Severity.WARNING: 0, Severity.CRITICAL: 1}


@dataclass(frozen=True, slots=True)
class SurgeParams:
    """Detector parameters; the defaults are the ones the README and the alert benchmark discuss.

    windows_minutes (1, 2, 3, 5, 10, 15, 30): window lengths judged every minute; short catch floods within a
    minute or two, long catch ramps.
    score_raise (5.0): minimum ``-log10`` Poisson tail probability of a window's arrivals.
    min_excess (12): minimum messages above the baseline in a 5-minute window, times sqrt(length / 5) in longer
    ones (small agencies never page).
    min_ratio (2.0): minimum arrivals / baseline in a window.
    unanswered_share (0.5): share of the excess that must still be unanswered (backlog growth over the window).
    spread_sigmas (1.0): MADs of the hourly baseline added to its median before the tail test.
    floor_per_hour (2.0): the least baseline assumed, so a quiet hour's zero does not make any message a surge.
    baseline_days (21): days of history looked at; min_samples (3): same-kind days needed to judge an hour.
    min_observed_minutes (30): minutes of an hour that must have been observed for it to be a sample.
    critical_ratio (5.0), critical_excess (50), critical_backlog (200): what makes a surge critical.
    resolve_fraction (0.25), resolve_minutes (15): hysteresis of the resolution; settle_minutes (120): minutes
    without a triggering window after which a surge that never drains resolves.
    level_hours (2; 0 = off), level_cap (1.5), level_sigmas (2.0): today's level, from the hours before the
    previous one, beyond that many Poisson deviations, scales the baseline by 1 to level_cap.
    update_growth (0.25), update_min_step (10): backlog growth since the last event that emits an update.
    lateness (2 min): how late a record may be; max_gap (30 min): a longer jump of records is an outage.
    max_examples (3): example message ids carried by an alert.
    per_platform (False): also judge each agency x platform, not only the agency as a whole.
    interpolate (True): baseline linear within the hour between the medians of adjacent hours (same kind of day).
    burst_cap (True): in windows over a minute, no minute counts more than min_excess / 2 above normal.
    backlog_trend (True): backlog growth is judged against a falling backlog's trend of the 10 minutes before.
    excess_over_baseline (True): min_excess counts above the baseline (False: above baseline + spread).
    early_raise (True): raise from the counts present once a minute is over, not only once it is final.
    The five switches exist so that the alert benchmark can measure each (False: the method before them).
    """

    windows_minutes: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 30)
    score_raise: float = 5.0
    min_excess: int = 12
    min_ratio: float = 2.0
    unanswered_share: float = 0.5
    spread_sigmas: float = 1.0
    floor_per_hour: float = 2.0
    baseline_days: int = 21
    min_samples: int = 3
    min_observed_minutes: int = 30
    critical_ratio: float = 5.0
    critical_excess: int = 50
    critical_backlog: int = 200
    resolve_fraction: float = 0.25
    resolve_minutes: int = 15
    settle_minutes: int = 120
    level_hours: int = 2
    level_cap: float = 1.5
    level_sigmas: float = 2.0
    update_growth: float = 0.25
    update_min_step: int = 10
    lateness: timedelta = timedelta(minutes=2)
    max_gap: timedelta = timedelta(minutes=30)
    max_examples: int = 3
    per_platform: bool = False
    interpolate: bool = True
    burst_cap: bool = True
    backlog_trend: bool = True
    excess_over_baseline: bool = True
    early_raise: bool = True

    def __post_init__(self) -> None:
        if not self.windows_minutes or min(self.windows_minutes) < 1:
            msg = f"windows_minutes must be positive minute counts, got {self.windows_minutes!r}"
            raise ValueError(msg)
        if self.lateness < timedelta(0) or self.max_gap < timedelta(minutes=1):
            msg = "lateness must be >= 0 and max_gap >= 1 minute"
            raise ValueError(msg)
        if not 0 <= self.resolve_fraction < 1 or min(self.resolve_minutes, self.settle_minutes, self.min_samples) < 1:
            msg = "resolve_fraction must be in [0, 1), resolve_minutes, settle_minutes and min_samples >= 1"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class DayKinds:
    """Which local days are working days: the baseline of an hour only learns from days of the same kind.

    zone (UTC+8), rest_weekdays (Saturday, Sunday; 0 = Monday), holidays (local dates, rest days).
    Example: ``DayKinds(rest_weekdays=frozenset({4, 5}))`` for a Friday-Saturday weekend state.
    """

    zone: tzinfo = timezone(timedelta(hours=8))
    rest_weekdays: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()

    def kind(self, moment: datetime) -> str:
        """``"rest"`` or ``"work"`` for the local day holding ``moment``."""
        day = moment.astimezone(self.zone).date()
        return "rest" if day.weekday() in self.rest_weekdays or day in self.holidays else "work"


class CountRecord(msgspec.Struct, frozen=True, gc=False):
    """One source's partial counts of one agency x platform for one event-time minute.

    arrivals: citizen messages needing a reply created in the minute; answered: messages answered in it;
    backlog: the source's absolute count of unanswered messages at the end of the minute, and
    oldest_unanswered_at the creation time of its oldest one; example_ids: a few pseudonymised message ids.
    Several records of one source and minute add their counts; the last one's backlog stands.

    A msgspec Struct (immutable, untracked by the GC): a worker makes one per agency and minute it counted, and the
    detector one per count it reads, about one per two events in a replay; a frozen dataclass cost 3x more.
    """

    agency: str
    platform: str
    source: str
    minute: datetime
    arrivals: int = 0
    answered: int = 0
    backlog: int = 0
    oldest_unanswered_at: datetime | None = None
    example_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.minute.tzinfo is None or self.minute.timestamp() % 60 != 0:
            msg = f"minute must be an aware datetime on a minute boundary, got {self.minute!r}"
            raise ValueError(msg)
        if min(self.arrivals, self.answered, self.backlog) < 0:
            msg = "arrivals, answered and backlog must be >= 0"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class SurgeAlert:
    """A raise, update or resolve of an unanswered-surge alert; the id is the same in a replay."""

    transition: Transition
    alert_id: str
    agency: str
    platform: str
    severity: Severity
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    backlog: int
    oldest_unanswered_seconds: float
    arrivals: int
    baseline: float
    window_minutes: int
    score: float
    example_ids: tuple[str, ...]
    kind: str = SURGE_KIND

    @property
    def arrivals_per_minute(self) -> float:
        """Arrivals per minute over the window."""
        return self.arrivals / self.window_minutes

    @property
    def baseline_per_minute(self) -> float:
        """Normal arrivals per minute over the window."""
        return self.baseline / self.window_minutes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (ISO instants) for the alerts topic and table."""
        return {
            "transition": self.transition.value,
            "alert_id": self.alert_id,
            "agency": self.agency,
            "platform": self.platform,
            "kind": self.kind,
            "severity": self.severity.value,
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
            "backlog": self.backlog,
            "oldest_unanswered_seconds": self.oldest_unanswered_seconds,
            "arrivals_per_minute": self.arrivals_per_minute,
            "baseline_per_minute": self.baseline_per_minute,
            "window_minutes": self.window_minutes,
            "score": self.score,
            "example_ids": list(self.example_ids),
        }


@dataclass(frozen=True, slots=True)
class KeyGauge:
    """The last judged minute of a key, for metrics: backlog, oldest age, arrivals vs baseline, score."""

    agency: str
    platform: str
    minute: datetime
    backlog: int
    oldest_unanswered_seconds: float
    arrivals_per_minute: float
    baseline_per_minute: float | None
    score: float
    active: bool


def poisson_surprise(observed: int, mean: float) -> float:
    """``-log10 P(X >= observed)`` for ``X ~ Poisson(mean)``; 0 when ``observed <= mean``.

    Summed in log space from the first term up, so it stays exact far in the tail (scores of hundreds).
    """
    if observed <= mean:
        return 0.0
    log_first = -mean + observed * math.log(mean) - math.lgamma(observed + 1)
    total, term, k = 1.0, 1.0, observed
    while term > 1e-15 * total:
        k += 1
        term *= mean / k
        total += term
    return max(0.0, -(log_first + math.log(total)) / math.log(10))


# A judged minute in a key's ring: what the snapshot keeps (arrivals, backlog, oldest unanswered, example ids,
# baseline rate and spread per minute, the rate None before enough history), then running totals since the ring
# was last empty (arrivals, rates, spreads, minutes without a rate). Two totals give a window's sums in O(1),
# which is enough to rule out almost every window of almost every minute (see SurgeDetector._may_trigger).
# Plain tuples: one is made per key and minute, and a replay judges every key for days of minutes.
_Entry = tuple[int, int, datetime | None, tuple[str, ...], float | None, float, int, float, float, int]
_ARRIVALS: Final = 0
_BACKLOG: Final = 1
_OLDEST: Final = 2
_EXAMPLES: Final = 3
_RATE: Final = 4
_SPREAD: Final = 5
_SUM_ARRIVALS: Final = 6
_SUM_RATE: Final = 7
_SUM_SPREAD: Final = 8
_RATELESS: Final = 9
_rates = itemgetter(_RATE)
_spreads = itemgetter(_SPREAD)
# A window's sum from running totals of floats differs from its own left-to-right sum by at most about
# (2n + 2) * 2^-53 times the total (n: its minutes): a relative slack of 1e-9 keeps every bound drawn from
# the totals on the safe side for windows of up to millions of minutes.
_SLACK = 1e-9
_LN10 = math.log(10)
# Per minute of the hour: whether the interpolation leans on the next hour, its weight, and 1 - weight.
_OFFSETS = tuple((offset > 0, abs(offset), 1 - abs(offset)) for offset in ((m + 0.5) / 60 - 0.5 for m in range(60)))
_NO_GAUGE: tuple[int, datetime | None] = (0, None)
_NO_RECORDS: tuple[CountRecord, ...] = ()
_NO_EXAMPLES: tuple[str, ...] = ()

# An hour's baseline plan: (level, own baseline, previous hour's, next hour's); a neighbour None when it has no
# baseline or is of another kind of day (the own one holds then); own None before enough history.
_Plan = tuple[float, tuple[float, float] | None, tuple[float, float] | None, tuple[float, float] | None]
_NO_BASELINE: _Plan = (1.0, None, None, None)


def _entry(  # noqa: PLR0913 - the fields of a ring entry
    ring: Sequence[_Entry],
    arrivals: int,
    backlog: int,
    oldest: datetime | None,
    examples: tuple[str, ...],
    rate: float | None,
    spread: float,
) -> _Entry:
    """A ring entry continuing the running totals of ``ring``'s last one."""
    if not ring:
        total = 0.0 if rate is None else rate
        return (arrivals, backlog, oldest, examples, rate, spread, arrivals, total, spread, int(rate is None))
    last = ring[-1]
    if rate is None:
        return (arrivals, backlog, oldest, examples, None, spread, last[_SUM_ARRIVALS] + arrivals,
                last[_SUM_RATE], last[_SUM_SPREAD] + spread, last[_RATELESS] + 1)  # fmt: skip
    return (arrivals, backlog, oldest, examples, rate, spread, last[_SUM_ARRIVALS] + arrivals,
            last[_SUM_RATE] + rate, last[_SUM_SPREAD] + spread, last[_RATELESS])  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Window:
    minutes: int
    arrivals: int
    baseline: float
    score: float
    triggered: bool
    start_backlog: int


def _rank(window: _Window) -> tuple[bool, float]:
    return window.triggered, window.score


def _upper_score(candidate: tuple[int, int, float]) -> float:
    """``-log10 P(X = x)`` for ``X ~ Poisson(mean)``: at least ``poisson_surprise(x, m)`` for ``mean <= m < x``."""
    _, observed, mean = candidate
    if mean <= 0:
        return math.inf
    return (mean - observed * math.log(mean) + math.lgamma(observed + 1)) / _LN10


@dataclass(slots=True)
class _Active:
    alert_id: str
    started_at: datetime
    reference_backlog: int
    peak_backlog: int
    severity: Severity
    last_backlog: int
    quiet_minutes: int
    examples: tuple[str, ...]
    calm_minutes: int = 0  # minutes in a row with no window triggering


@dataclass(slots=True)
class _Key:
    name: tuple[str, str]
    gauges: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)
    backlog: int = 0
    oldest_at: datetime | None = None
    ring: deque[_Entry] = field(default_factory=deque)
    hours: dict[int, list[int]] = field(default_factory=dict)  # epoch hour -> [arrivals, observed minutes]
    cache: dict[int, tuple[float, float] | None] = field(default_factory=dict)
    levels: dict[int, float] = field(default_factory=dict)  # hour -> today's level (recomputed after a restore)
    plans: dict[int, _Plan] = field(default_factory=dict)  # hour -> its baseline plan (from cache and levels)
    active: _Active | None = None
    gauge: KeyGauge | None = None
    # The last judged minute's gauge when no window could trigger in it: (minute, arrivals, rate). Its score
    # (the best window's) is worked out from the ring only when the gauges are read, once per read, not per minute.
    quiet: tuple[int, int, float | None] | None = None


def _minute_index(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds()) // 60


def _at(minute_index: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute_index)


def _alert_id(agency: str, platform: str, started_at: datetime) -> str:
    # Deterministic, so a replay (or a second worker) names the same alert the same way.
    digest = hashlib.sha256(f"{SURGE_KIND}|{agency}|{platform}|{started_at.isoformat()}".encode())
    return digest.hexdigest()[:20]


class SurgeDetector:
    """Judges per-minute counts of each agency (and agency x platform) against its seasonal baseline.

    params (``SurgeParams()``); calendars: ``DayKinds`` per agency id; default_calendar (``DayKinds()``);
    watermark_from_records (True): the latest record minute is the watermark; with False only
    :meth:`advance_to` moves it (records are held until then).
    Example::

        detector = SurgeDetector()
        alerts = detector.observe(CountRecord("jpm", "x", "p0", minute, arrivals=4, backlog=9))
        alerts += detector.advance_to(event_time_watermark)
    """

    def __init__(
        self,
        params: SurgeParams | None = None,
        calendars: Mapping[str, DayKinds] | None = None,
        default_calendar: DayKinds | None = None,
        *,
        watermark_from_records: bool = True,
    ) -> None:
        self.params = p = params or SurgeParams()
        # False: only advance_to moves event time (the caller merges its sources' progress, e.g. the slowest
        # partition's), so a source running ahead does not make the others' records late.
        self._follow_records = watermark_from_records
        self._calendars = dict(calendars or {})
        self._default_calendar = default_calendar or DayKinds()
        self._keys: dict[tuple[str, str], _Key] = {}
        self._order: list[tuple[tuple[str, str], _Key]] | None = None  # _keys sorted, until a key is added
        self._pending: dict[int, list[CountRecord]] = {}
        self._upcoming: list[int] = []  # a heap of the pending minutes
        self._next: int | None = None  # first minute not judged yet
        self._watermark: int | None = None
        self._declared: int | None = None  # advance_to said time passed without traffic up to here
        self._peeked: int | None = None  # the watermark of the last early judgement
        self.late_records = 0
        self.gaps = 0
        self._lateness = math.ceil(p.lateness.total_seconds() / 60)
        self._max_gap = int(p.max_gap.total_seconds() // 60)
        # Per window: length, the excess it needs and the least baseline it has (the expressions _window uses).
        self._lengths = tuple(
            (n, p.min_excess * math.sqrt(max(1.0, n / _EXCESS_MINUTES)), n * p.floor_per_hour / 60)
            for n in p.windows_minutes
        )
        self._floor_slack = max(abs(floor) for _, _, floor in self._lengths)
        # The bounds of _may_trigger and _quiet_score hold when a window's mean is at least its baseline and above
        # 0, and a larger baseline never lowers the ratio needed; other parameters judge every window exactly.
        self._screen = p.floor_per_hour > 0 and p.spread_sigmas >= 0 and p.min_ratio >= 0

    # -- input ------------------------------------------------------------------------------------------

    def observe(self, record: CountRecord) -> list[SurgeAlert]:
        """Take one partial count; judge the minutes it makes final; return the alert transitions."""
        minute = _minute_index(record.minute)
        if self._next is not None and minute < self._next:
            self.late_records += 1  # its minute is judged already: reopening it would change past alerts
            return []
        records = self._pending.get(minute)
        if records is None:
            records = self._pending[minute] = []
            heappush(self._upcoming, minute)
        records.append(record)
        if not self._follow_records:
            return []
        self._watermark = minute if self._watermark is None else max(self._watermark, minute)
        return self._judge_until(self._watermark)

    def observe_all(self, records: Iterable[CountRecord]) -> list[SurgeAlert]:
        """:meth:`observe` each record in order; all transitions."""
        return [alert for record in records for alert in self.observe(record)]

    def advance_to(self, now: datetime) -> list[SurgeAlert]:
        """Event time reached ``now`` with no other traffic than observed: judge the minutes that became final."""
        minute = _minute_index(now)
        self._declared = minute if self._declared is None else max(self._declared, minute)
        self._watermark = minute if self._watermark is None else max(self._watermark, minute)
        if self._next is None and not self._pending:
            return []
        return self._judge_until(self._watermark)

    def seed_history(self, agency: str, platform: str, hourly_arrivals: Mapping[datetime, int]) -> None:
        """Load past arrivals per hour (hour start -> count), e.g. rebuilt from ClickHouse after a restart."""
        key = self._key(agency, platform)
        for start, count in hourly_arrivals.items():
            key.hours[_minute_index(start) // 60] = [count, 60]
        key.cache.clear()
        key.levels.clear()
        key.plans.clear()

    # -- output -----------------------------------------------------------------------------------------

    def gauges(self) -> list[KeyGauge]:
        """The latest judged state of every key, for metrics (sorted by agency, platform)."""
        gauges = []
        for _, key in self._ordered():
            if key.quiet is not None:
                self._settle_gauge(key, key.quiet)
            if key.gauge is not None:
                gauges.append(key.gauge)
        return gauges

    def active_severities(self) -> dict[tuple[str, str], Severity]:
        """The severity of every active alert, by (agency, platform) (e.g. of a restored detector)."""
        return {name: key.active.severity for name, key in self._ordered() if key.active is not None}

    def known_keys(self) -> int:
        """How many (agency, platform) keys the detector holds state for (0 for a fresh one)."""
        return len(self._keys)

    def history(self, agency: str, platform: str = ALL_PLATFORMS) -> dict[datetime, int]:
        """Learned arrivals per fully observed hour of a key (the baseline's samples)."""
        key = self._keys.get((agency, platform))
        if key is None:
            return {}
        return {_at(hour * 60): count for hour, (count, seen) in sorted(key.hours.items()) if seen == 60}

    # -- judging ----------------------------------------------------------------------------------------

    def _key(self, agency: str, platform: str) -> _Key:
        key = self._keys.get((agency, platform))
        if key is None:
            key = self._keys[(agency, platform)] = _Key(
                (agency, platform), ring=deque(maxlen=max(self.params.windows_minutes) + 1 + _TREND_MINUTES)
            )
            self._order = None
        return key

    def _ordered(self) -> list[tuple[tuple[str, str], _Key]]:
        """The keys by (agency, platform): every minute judges them in this order."""
        order = self._order
        if order is None:
            order = self._order = sorted(self._keys.items())
        return order

    def _judge_until(self, watermark: int) -> list[SurgeAlert]:
        alerts = self._judge_final(watermark)
        if self.params.early_raise and self._next is not None and (self._peeked is None or watermark > self._peeked):
            alerts += self._raise_early(watermark, self._peeked)
            self._peeked = watermark
        return alerts

    def _raise_early(self, watermark: int, peeked: int | None) -> list[SurgeAlert]:
        """Raise from the minutes that are over but still within the lateness, on the counts present now.

        Waiting out the lateness would add it to every alert's delay. Arrivals only grow as late records come,
        so a window that triggers now will not be cleared by them; the minutes are judged (and learned) again,
        with every record, once final, which continues, updates or resolves the alert raised here. Each minute
        is judged early once, when it ends (``peeked``: the watermark of the previous early judgement).
        """
        first = self._next
        if first is None or watermark - first > self._lateness + 1:
            return []  # a jump of the records: an outage to be skipped when final, not judged early
        span = watermark - first
        routed: dict[tuple[str, str], list[list[CountRecord]]] = {}
        for offset, minute in enumerate(range(first, watermark)):
            for record in self._pending.get(minute, _NO_RECORDS):
                names = [(record.agency, ALL_PLATFORMS)]
                if self.params.per_platform:
                    names.append((record.agency, record.platform))
                for name in names:
                    routed.setdefault(name, [[] for _ in range(span)])[offset].append(record)
        nothing: list[Sequence[CountRecord]] = [_NO_RECORDS] * span
        since = first if peeked is None else peeked
        alerts: list[SurgeAlert] = []
        for name, key in self._ordered():
            if key.active is None:
                alert = self._peek(key, first, routed.get(name) or nothing, since)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _peek(self, key: _Key, first: int, minutes: Sequence[Sequence[CountRecord]], since: int) -> SurgeAlert | None:
        ring, gauges = list(key.ring), key.gauges  # gauges copied before a record changes them
        backlog, copied = key.backlog, False
        oldest = min((at for _, at in gauges.values() if at is not None), default=None)
        for offset, records in enumerate(minutes):
            minute = first + offset
            arrivals, examples = 0, _NO_EXAMPLES
            if records:
                if not copied:
                    gauges, copied = dict(gauges), True
                seen: set[str] = set()
                for record in records:
                    source = f"{record.platform}/{record.source}"
                    backlog += record.backlog - gauges.get(source, _NO_GAUGE)[0]
                    gauges[source] = (record.backlog, record.oldest_unanswered_at)
                    arrivals += record.arrivals
                    seen.update(record.example_ids)
                oldest = min((at for _, at in gauges.values() if at is not None), default=None)
                examples = tuple(sorted(seen))
            rate, spread = self._rate(key, minute)
            ring.append(_entry(ring, arrivals, backlog, oldest, examples, rate, spread))
            if minute < since or not self._may_trigger(ring):
                continue  # judged early at an earlier watermark, or no window can trigger
            best = self._best(ring)
            if best is not None and best.triggered:
                return self._open(key, _at(minute + 1), best, ring)
        return None

    def _judge_final(self, watermark: int) -> list[SurgeAlert]:
        limit = watermark - self._lateness
        pending = self._pending
        alerts: list[SurgeAlert] = []
        while True:
            if self._next is None:
                if not pending:
                    return alerts
                self._next = min(pending)
            minute = self._next
            if minute >= limit:
                return alerts
            # Pending minutes are never before the next one, so a minute with records is never in a gap.
            records = pending.pop(minute, None)
            if records is None:
                stop = min(self._first_pending(limit), limit)
                if stop - minute > self._max_gap and (self._declared is None or self._declared < stop):
                    self._skip_gap(stop)
                    continue
                records = []
            else:
                heappop(self._upcoming)  # its top: the minute (the heap holds no judged minute before it)
            alerts += self._judge_minute(minute, records)
            self._next = minute + 1

    def _first_pending(self, default: int) -> int:
        """The earliest pending minute (``default`` when none)."""
        return self._upcoming[0] if self._upcoming else default

    def _skip_gap(self, stop: int) -> None:
        # No record from anyone for longer than max_gap: an outage or a hole in a replay. Learning those
        # minutes as zeros would teach the baseline that the agency is quiet then and page on its next normal day.
        self.gaps += 1
        for key in self._keys.values():
            if key.quiet is not None:
                self._settle_gauge(key, key.quiet)  # its score is worked out from the ring about to go
            key.ring.clear()
        self._next = stop

    def _judge_minute(self, minute: int, records: list[CountRecord]) -> list[SurgeAlert]:
        routed: dict[tuple[str, str], list[CountRecord]] = {}
        for record in records:
            routed.setdefault((record.agency, ALL_PLATFORMS), []).append(record)
            if self.params.per_platform:
                routed.setdefault((record.agency, record.platform), []).append(record)
        for name in routed:
            self._key(*name)
        alerts: list[SurgeAlert] = []
        for name, key in self._ordered():
            alert = self._judge_key(key, minute, routed.get(name, _NO_RECORDS))
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _judge_key(self, key: _Key, minute: int, records: Sequence[CountRecord]) -> SurgeAlert | None:
        arrivals, examples = 0, _NO_EXAMPLES
        if records:
            seen: set[str] = set()
            gauges = key.gauges
            for record in records:
                arrivals += record.arrivals
                seen.update(record.example_ids)
                source = f"{record.platform}/{record.source}"
                old = gauges.get(source, _NO_GAUGE)[0]
                gauges[source] = (record.backlog, record.oldest_unanswered_at)
                key.backlog += record.backlog - old
            key.oldest_at = min((at for _, at in gauges.values() if at is not None), default=None)
            examples = tuple(sorted(seen))
        hour = minute // 60
        counts = key.hours.get(hour)
        if counts is None:
            counts = key.hours[hour] = [0, 0]
        counts[0] += arrivals
        counts[1] += 1
        if minute % 60 == 0:
            self._prune(key, hour)
        rate, spread = self._rate(key, minute)
        ring = key.ring
        ring.append(_entry(ring, arrivals, key.backlog, key.oldest_at, examples, rate, spread))
        if key.active is None and not self._may_trigger(ring):
            # Nothing can happen to this key in this minute: no window to work out, no alert to step.
            key.gauge, key.quiet = None, (minute, arrivals, rate)
            return None
        window_ring = list(ring)
        best = self._best(window_ring)
        end = _at(minute + 1)
        alert = self._step(key, end, best, window_ring)
        self._set_gauge(key, end, arrivals, rate, 0.0 if best is None else best.score, active=key.active is not None)
        return alert

    def _prune(self, key: _Key, hour: int) -> None:
        oldest = hour - 24 * (self.params.baseline_days + 1)
        for stale in [h for h in key.hours if h < oldest]:
            del key.hours[stale]
        for stale in [h for h in key.cache if h < oldest]:
            del key.cache[stale]
        for stale in [h for h in key.levels if h < hour - 1]:
            del key.levels[stale]
        for stale in [h for h in key.plans if h < hour - 1]:
            del key.plans[stale]

    def _level(self, agency: str, key: _Key, hour: int) -> float:
        """How much busier than its baseline the key was in the hours before the previous one (1 at least).

        Busy days are busy all day (news, weather): judged against the median day, every hour of a day 30 %
        above it is an overdispersed tail that pages. The previous hour is skipped, so a surge that began in it
        does not raise its own bar. Only the excess beyond ``level_sigmas`` Poisson deviations counts, so the
        chance ups and downs of hourly counts leave the level at 1.
        """
        p = self.params
        if not p.level_hours:
            return 1.0
        level = key.levels.get(hour)
        if level is None:
            actual = expected = 0.0
            for past in range(hour - 1 - p.level_hours, hour - 1):
                counts, baseline = key.hours.get(past), self._baseline(agency, key, past)
                if counts is None or counts[1] < p.min_observed_minutes or baseline is None:
                    actual = expected = 0.0
                    break
                actual, expected = actual + counts[0] * 60 / counts[1], expected + baseline[0]
            excess = actual - p.level_sigmas * math.sqrt(expected)
            level = key.levels[hour] = min(p.level_cap, max(1.0, excess / expected if expected else 1.0))
        return level

    def _rate(self, key: _Key, minute: int) -> tuple[float | None, float]:
        """Baseline arrivals per minute and their spread at ``minute``: today's level times the interpolated hour.

        The daily rhythm rises and falls within an hour (mornings, evenings): a baseline flat within the hour is
        too low at the end of a rising hour, and the 10- and 15-minute windows there paged on a normal morning.
        So the baseline is linear between the medians of adjacent hours at their middles; a neighbour without a
        baseline, or of another kind of day, leaves the hour's own.
        """
        hour = minute // 60
        plan = key.plans.get(hour)
        if plan is None:
            # Made when the hour is first judged (early or final): when the level was always first worked out.
            plan = key.plans[hour] = self._plan(key.name[0], key, hour)
        level, own, before, after = plan
        if own is None:
            return None, 0.0
        later, weight, rest = _OFFSETS[minute % 60]
        other = after if later else before
        if other is None:
            return level * own[0] / 60, level * own[1] / 60
        return level * (rest * own[0] + weight * other[0]) / 60, level * (rest * own[1] + weight * other[1]) / 60

    def _plan(self, agency: str, key: _Key, hour: int) -> _Plan:
        own = self._baseline(agency, key, hour)
        if own is None:
            return _NO_BASELINE
        level = self._level(agency, key, hour)
        if not self.params.interpolate:
            return level, own, None, None
        calendar = self._calendars.get(agency, self._default_calendar)
        kind = calendar.kind(_at(hour * 60))
        # The day's kind changes at midnight: so does its rhythm, there is no ramp to follow.
        before = self._baseline(agency, key, hour - 1) if calendar.kind(_at(hour * 60 - 60)) == kind else None
        after = self._baseline(agency, key, hour + 1) if calendar.kind(_at(hour * 60 + 60)) == kind else None
        return level, own, before, after

    def _baseline(self, agency: str, key: _Key, hour: int) -> tuple[float, float] | None:
        """(median, MAD-based spread) of arrivals in this hour on previous days of the same kind."""
        if hour in key.cache:
            return key.cache[hour]
        calendar = self._calendars.get(agency, self._default_calendar)
        kind = calendar.kind(_at(hour * 60))
        samples = []
        for days_back in range(1, self.params.baseline_days + 1):
            past = hour - 24 * days_back
            counts = key.hours.get(past)
            if counts is None or counts[1] < self.params.min_observed_minutes:
                continue
            if calendar.kind(_at(past * 60)) == kind:
                samples.append(counts[0] * 60 / counts[1])
        result = None
        if len(samples) >= self.params.min_samples:
            middle = median(samples)
            result = (middle, _MAD_TO_SD * median(abs(s - middle) for s in samples))
        key.cache[hour] = result
        return result

    def _may_trigger(self, ring: Sequence[_Entry]) -> bool:
        """Whether a window ending with ``ring``'s last minute may trigger: False for sure, True to work them out.

        A window triggers only with an excess over its baseline of at least ``needed`` and ``min_ratio`` times
        its baseline; the running totals give its arrivals exactly and its baseline to within the slack, so a
        lower bound of the baseline rules out every window of ordinary minutes without summing any.
        """
        if not self._screen:
            return True
        size, last = len(ring), ring[-1]
        arrivals_to, rate_to, rateless = last[_SUM_ARRIVALS], last[_SUM_RATE], last[_RATELESS]
        slack = _SLACK * (1.0 + rate_to + self._floor_slack)
        ratio = self.params.min_ratio
        for minutes, needed, floor in self._lengths:
            if size <= minutes:
                continue  # no window yet: its start backlog is the minute before it
            before = ring[-1 - minutes]
            if before[_RATELESS] != rateless:
                continue  # a minute without a baseline: no window
            arrivals = arrivals_to - before[_SUM_ARRIVALS]
            low = rate_to - before[_SUM_RATE] - slack
            low = floor if low < floor else low  # max() costs a call per window and minute
            if arrivals - low >= needed and arrivals >= ratio * low:
                return True
        return False

    def _quiet_score(self, ring: list[_Entry]) -> float:
        """The best window's score in a minute where none triggers: the highest (0.0 without any).

        Only the highest is worked out exactly: a window whose arrivals are below its mean (the running totals
        tell, to within the slack) scores 0.0, and one whose score cannot reach the best so far is skipped, by
        the bound :func:`_upper_score` of its score, taken at the least mean it may have.
        """
        size, last = len(ring), ring[-1]
        sigmas = self.params.spread_sigmas
        slack = _SLACK * (1.0 + last[_SUM_RATE] + abs(sigmas) * last[_SUM_SPREAD] + self._floor_slack)
        candidates: list[tuple[int, int, float]] = []  # (minutes, arrivals, least mean)
        for minutes, _, floor in self._lengths:
            if size <= minutes:
                continue
            before = ring[-1 - minutes]
            if before[_RATELESS] != last[_RATELESS]:
                continue
            arrivals = last[_SUM_ARRIVALS] - before[_SUM_ARRIVALS]
            mean = last[_SUM_RATE] - before[_SUM_RATE]
            mean = (floor if mean < floor else mean) + sigmas * (last[_SUM_SPREAD] - before[_SUM_SPREAD]) - slack
            if arrivals >= mean:  # else poisson_surprise gives 0.0: at most the mean
                candidates.append((minutes, arrivals, mean))
        if len(candidates) > 1:
            # P(X >= x) >= P(X = x), whose -log10 falls as the mean grows towards x: an upper bound of the score.
            candidates.sort(key=_upper_score, reverse=True)
        best = 0.0
        for minutes, arrivals, mean in candidates:
            if best and _upper_score((minutes, arrivals, mean)) * (1 + _SLACK) + _SLACK < best:
                break
            score = poisson_surprise(arrivals, self._means(ring[-minutes:], minutes)[1])
            best = score if score > best else best
        return best

    def _best(self, ring: list[_Entry]) -> _Window | None:
        """The window that speaks for the minute: the first triggering one of the highest score, or of none."""
        windows = [w for w in (self._window(ring, n) for n in self.params.windows_minutes) if w is not None]
        return max(windows, key=_rank, default=None)

    def _window(self, ring: list[_Entry], minutes: int) -> _Window | None:
        size = len(ring)
        if size < minutes + 1:
            return None  # the start backlog is the minute before the window
        before, last = ring[-minutes - 1], ring[-1]
        if before[_RATELESS] != last[_RATELESS]:
            return None  # a minute without a baseline
        inside = ring[-minutes:]
        p = self.params
        arrivals = last[_SUM_ARRIVALS] - before[_SUM_ARRIVALS]
        baseline, mean_up = self._means(inside, minutes)
        excess = arrivals - baseline
        # Bursts of a small agency add up over a long window like a random walk: the excess a window needs
        # grows with the square root of its length (min_excess for 5 minutes).
        needed = p.min_excess * math.sqrt(max(1.0, minutes / _EXCESS_MINUTES))
        score = poisson_surprise(arrivals, mean_up)
        # An agency working through an old backlog keeps answering while the flood comes in: its backlog grows
        # by less than the unanswered flood. Growth is measured against how the backlog went in the minutes
        # before the window when it was falling (a rising trend is not taken off: a night flood must still page).
        start = max(0, size - minutes - 1 - _TREND_MINUTES)
        length = min(_TREND_MINUTES + 1, size - start)
        trend = ring[start + length - 1][_BACKLOG] - ring[start][_BACKLOG]
        draining = min(0.0, trend / (length - 1)) if length > 1 else 0.0
        growth = last[_BACKLOG] - before[_BACKLOG] - (draining * minutes if p.backlog_trend else 0.0)
        triggered = (
            score >= p.score_raise
            and min(arrivals, self._capped(inside, minutes)) - (baseline if p.excess_over_baseline else mean_up)
            >= needed
            and arrivals >= p.min_ratio * baseline
            and growth >= p.unanswered_share * excess
        )
        return _Window(minutes, arrivals, baseline, score, triggered, before[_BACKLOG])

    def _means(self, inside: list[_Entry], minutes: int) -> tuple[float, float]:
        """A window's baseline, and its mean for the tail test (the baseline plus ``spread_sigmas`` spreads)."""
        # Summed from the window's first minute, left to right, as always: the same floats to the last bit.
        rate: float = reduce(add, map(_rates, inside), 0.0)
        spread: float = reduce(add, map(_spreads, inside), 0.0)
        baseline = max(rate, minutes * self.params.floor_per_hour / 60)
        return baseline, baseline + self.params.spread_sigmas * spread

    def _capped(self, inside: list[_Entry], minutes: int) -> float:
        """A window's arrivals with no minute counting more than half of ``min_excess`` above its baseline.

        A window longer than a minute claims a sustained surge: no single minute may bring more than half of
        the minimum excess to it, so that two bursts of a small agency in one window are no surge.
        """
        p = self.params
        cap = p.min_excess / 2 if p.burst_cap and minutes > 1 else math.inf
        capped = 0.0
        for m in inside:
            capped += min(m[_ARRIVALS], m[_RATE] + cap)  # type: ignore[operator] # a window's rates are not None
        return capped

    def _severity(self, backlog: int, window: _Window, reference_backlog: int) -> Severity:
        p = self.params
        flood = window.arrivals >= p.critical_ratio * window.baseline and (
            window.arrivals - window.baseline >= p.critical_excess
        )
        if flood or backlog - reference_backlog >= p.critical_backlog:
            return Severity.CRITICAL
        return Severity.WARNING

    def _step(self, key: _Key, end: datetime, best: _Window | None, ring: list[_Entry]) -> SurgeAlert | None:
        p = self.params
        active = key.active
        triggered = best is not None and best.triggered
        if active is None:
            if best is None or not best.triggered:
                return None
            return self._open(key, end, best, ring)
        surge_backlog = max(0, key.backlog - active.reference_backlog)
        active.peak_backlog = max(active.peak_backlog, surge_backlog)
        drained = not triggered and surge_backlog <= p.resolve_fraction * active.peak_backlog
        active.quiet_minutes = active.quiet_minutes + 1 if drained else 0
        active.calm_minutes = 0 if triggered else active.calm_minutes + 1
        # An agency that answers only part of its messages never drains: its backlog grows with its normal
        # traffic. Once the flood itself has been over for settle_minutes, the surge is over; what is left
        # unanswered is BacklogTooOld's business, and a next flood must be able to raise again.
        if active.quiet_minutes >= p.resolve_minutes or active.calm_minutes >= p.settle_minutes:
            key.active = None
            return self._alert(Transition.RESOLVE, key, active, end, best)
        severity = active.severity
        if best is not None and triggered:
            candidate = self._severity(key.backlog, best, active.reference_backlog)
            severity = candidate if _RANK[candidate] > _RANK[severity] else severity
        step = max(p.update_min_step, p.update_growth * active.last_backlog)
        if severity != active.severity or key.backlog - active.last_backlog >= step:
            active.severity, active.last_backlog = severity, key.backlog
            return self._alert(Transition.UPDATE, key, active, end, best)
        return None

    def _open(self, key: _Key, end: datetime, best: _Window, ring: list[_Entry]) -> SurgeAlert:
        """Raise an alert on ``key`` from the triggering window ``best`` ending with ``ring``'s last minute."""
        last = ring[-1]
        examples = [e for m in ring[-best.minutes :] for e in m[_EXAMPLES]]
        key.active = active = _Active(
            alert_id=_alert_id(*key.name, end),
            started_at=end,
            reference_backlog=best.start_backlog,
            peak_backlog=max(0, last[_BACKLOG] - best.start_backlog),
            severity=self._severity(last[_BACKLOG], best, best.start_backlog),
            last_backlog=last[_BACKLOG],
            quiet_minutes=0,
            examples=tuple(dict.fromkeys(examples))[: self.params.max_examples],
        )
        alert = self._alert(Transition.RAISE, key, active, end, best)
        oldest_at = last[_OLDEST]
        oldest = 0.0 if oldest_at is None else max(0.0, (end - oldest_at).total_seconds())
        return replace(alert, backlog=last[_BACKLOG], oldest_unanswered_seconds=oldest)

    def _alert(
        self,
        transition: Transition,
        key: _Key,
        active: _Active,
        end: datetime,
        window: _Window | None,
    ) -> SurgeAlert:
        oldest = 0.0 if key.oldest_at is None else max(0.0, (end - key.oldest_at).total_seconds())
        return SurgeAlert(
            transition=transition,
            alert_id=active.alert_id,
            agency=key.name[0],
            platform=key.name[1],
            severity=active.severity,
            started_at=active.started_at,
            updated_at=end,
            resolved_at=end if transition is Transition.RESOLVE else None,
            backlog=key.backlog,
            oldest_unanswered_seconds=oldest,
            arrivals=0 if window is None else window.arrivals,
            baseline=0.0 if window is None else window.baseline,
            window_minutes=1 if window is None else window.minutes,
            score=0.0 if window is None else window.score,
            example_ids=active.examples,
        )

    def _settle_gauge(self, key: _Key, quiet: tuple[int, int, float | None]) -> None:
        """Work out the gauge of a quiet minute (``key.quiet``) from the ring it was judged with."""
        minute, arrivals, rate = quiet
        self._set_gauge(key, _at(minute + 1), arrivals, rate, self._quiet_score(list(key.ring)), active=False)

    def _set_gauge(  # noqa: PLR0913 - the gauge's fields
        self, key: _Key, end: datetime, arrivals: int, rate: float | None, score: float, *, active: bool
    ) -> None:
        oldest = 0.0 if key.oldest_at is None else max(0.0, (end - key.oldest_at).total_seconds())
        key.gauge = KeyGauge(
            agency=key.name[0],
            platform=key.name[1],
            minute=end - timedelta(minutes=1),
            backlog=key.backlog,
            oldest_unanswered_seconds=oldest,
            arrivals_per_minute=float(arrivals),
            baseline_per_minute=rate,
            score=score,
            active=active,
        )
        key.quiet = None

    # -- restart ----------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict: restoring it judges the rest of a stream as if never stopped."""
        return {
            "version": _SNAPSHOT_VERSION,
            "next": self._next,
            "watermark": self._watermark,
            "declared": self._declared,
            "late_records": self.late_records,
            "gaps": self.gaps,
            "pending": [[minute, [_record_dict(r) for r in records]] for minute, records in self._pending.items()],
            "keys": [_key_dict(name, key) for name, key in sorted(self._keys.items())],
        }

    @classmethod
    def restore(
        cls,
        snapshot: Mapping[str, Any],
        params: SurgeParams | None = None,
        calendars: Mapping[str, DayKinds] | None = None,
        default_calendar: DayKinds | None = None,
        *,
        watermark_from_records: bool = True,
    ) -> SurgeDetector:
        """A detector continuing from :meth:`snapshot`; ``ValueError`` for an unknown snapshot version."""
        if snapshot.get("version") != _SNAPSHOT_VERSION:
            msg = f"unknown surge snapshot version {snapshot.get('version')!r}"
            raise ValueError(msg)
        detector = cls(params, calendars, default_calendar, watermark_from_records=watermark_from_records)
        detector._next, detector._watermark = snapshot["next"], snapshot["watermark"]
        detector._declared = snapshot["declared"]
        detector.late_records, detector.gaps = snapshot["late_records"], snapshot["gaps"]
        detector._pending = {m: [_record_of(r) for r in rs] for m, rs in snapshot["pending"]}
        detector._upcoming = list(detector._pending)
        heapify(detector._upcoming)
        for item in snapshot["keys"]:
            key = detector._key(item["agency"], item["platform"])
            key.gauges = {s: (b, _when(at)) for s, (b, at) in item["gauges"].items()}
            key.backlog, key.oldest_at = item["backlog"], _when(item["oldest_at"])
            for a, b, at, ex, r, sp in item["ring"]:
                key.ring.append(_entry(key.ring, a, b, _when(at), tuple(ex), r, sp))
            key.hours = {int(h): list(c) for h, c in item["hours"].items()}
            key.active = None if item["active"] is None else _active_of(item["active"])
        return detector


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _record_dict(record: CountRecord) -> dict[str, Any]:
    return {
        "agency": record.agency,
        "platform": record.platform,
        "source": record.source,
        "minute": record.minute.isoformat(),
        "arrivals": record.arrivals,
        "answered": record.answered,
        "backlog": record.backlog,
        "oldest_unanswered_at": _iso(record.oldest_unanswered_at),
        "example_ids": list(record.example_ids),
    }


def _record_of(item: Mapping[str, Any]) -> CountRecord:
    return CountRecord(
        agency=item["agency"],
        platform=item["platform"],
        source=item["source"],
        minute=datetime.fromisoformat(item["minute"]),
        arrivals=item["arrivals"],
        answered=item["answered"],
        backlog=item["backlog"],
        oldest_unanswered_at=_when(item["oldest_unanswered_at"]),
        example_ids=tuple(item["example_ids"]),
    )


def _key_dict(name: tuple[str, str], key: _Key) -> dict[str, Any]:
    active = key.active
    return {
        "agency": name[0],
        "platform": name[1],
        "gauges": {source: [backlog, _iso(at)] for source, (backlog, at) in key.gauges.items()},
        "backlog": key.backlog,
        "oldest_at": _iso(key.oldest_at),
        "ring": [
            [m[_ARRIVALS], m[_BACKLOG], _iso(m[_OLDEST]), list(m[_EXAMPLES]), m[_RATE], m[_SPREAD]] for m in key.ring
        ],
        "hours": {str(hour): counts for hour, counts in key.hours.items()},
        "active": None
        if active is None
        else {
            "alert_id": active.alert_id,
            "started_at": active.started_at.isoformat(),
            "reference_backlog": active.reference_backlog,
            "peak_backlog": active.peak_backlog,
            "severity": active.severity.value,
            "last_backlog": active.last_backlog,
            "quiet_minutes": active.quiet_minutes,
            "calm_minutes": active.calm_minutes,
            "examples": list(active.examples),
        },
    }


def _active_of(item: Mapping[str, Any]) -> _Active:
    return _Active(
        alert_id=item["alert_id"],
        started_at=datetime.fromisoformat(item["started_at"]),
        reference_backlog=item["reference_backlog"],
        peak_backlog=item["peak_backlog"],
        severity=Severity(item["severity"]),
        last_backlog=item["last_backlog"],
        quiet_minutes=item["quiet_minutes"],
        calm_minutes=item.get("calm_minutes", 0),
        examples=tuple(item["examples"]),
    )
