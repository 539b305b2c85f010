"""The alert benchmark's world: the sample agencies' citizen traffic over simulated weeks, and scripted surges.

Each agency gets a volume by its tier with a daily rhythm (quiet nights, a peak at 13:00 local), its own rest
days (weekend days and holidays of its calendar) at a share of the working-day volume, and a seeded day-to-day
factor (days are not all alike). Agencies of the ``local`` tier are small and noisy: a few messages an hour with
bursts of 4-9 in one minute a few times a day. Agencies answer the share of messages their simulation profile
says, after a delay around its median counted from their next opening, so the backlog grows at night and drains
in the morning. Surges (:data:`SLOTS`) are placed at seeded times on seeded agencies; their messages are
answered only after the surge (the agency turns to the flood late), so that each surge is an unanswered one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from pipeline.bench.alert_traffic import MINUTE, Message, Rate, by_day_kind, diurnal, messages, rng_of, with_surge
from pipeline.domain.surge import DayKinds, SurgeParams
from schemas.agency import Agency
from schemas.workcalendar import WorkingCalendar

__all__ = [
    "DAY",
    "REQUIRED_EXTRA_PER_HOUR",
    "REQUIRED_MINUTES",
    "REQUIRED_RATIO",
    "SLOTS",
    "START",
    "AgencyTraffic",
    "ScriptedSurge",
    "Slot",
    "agency_traffic",
    "answer",
    "normal_messages",
    "script_surges",
]

DAY = timedelta(days=1)
# Monday 30 November 2026, 00:00 in Kuala Lumpur: four weeks hold the sample's holidays of 11 and 25 December.
START = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
PEAK_PER_HOUR = {"federal": 240.0, "state": 120.0, "local": 6.0}
REST_SHARE = {"federal": 0.4, "state": 1.5, "local": 1.0}  # state water and tourism boards: busy weekends
NIGHT_SHARE = 0.08
DAY_FACTOR_SIGMA = 0.15  # log-normal spread of a day's volume around its normal
NOISY_BURSTS_PER_DAY = 4
# The rule for a surge the detector must catch: at least REQUIRED_RATIO times the normal rate for at least
# REQUIRED_MINUTES (the rule), and at least REQUIRED_EXTRA_PER_HOUR above it: the minimum volume.
# The detector pages only on min_excess (12) messages above normal; a surge must bring them within
# _VOLUME_MINUTES (3, so 4 a minute) for a 5-minute maximum delay to leave room for Poisson chance.
_VOLUME_MINUTES = 3
REQUIRED_RATIO = 3.0
REQUIRED_MINUTES = 20
REQUIRED_EXTRA_PER_HOUR = 60.0 * SurgeParams().min_excess / _VOLUME_MINUTES
_ANSWER_AFTER_SURGE_MINUTES = (30, 240)  # when the agency turns to a flood, after it ended
_SURGE_ANSWER_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class AgencyTraffic:
    """One agency's simulated traffic: its rate, rest days, answering habits; ``noisy`` for a small bursty one."""

    agency: Agency
    rate: Rate  # the day's rate: its usual one times the day's factor
    usual: Rate  # the normal rate for the hour and kind of day, what a surge's size is measured against
    kinds: DayKinds
    calendar: WorkingCalendar
    bursts: tuple[tuple[datetime, int], ...]  # (minute, messages in it): a small agency's noise

    @property
    def noisy(self) -> bool:
        """A small agency with bursts."""
        return bool(self.bursts)

    @property
    def agency_id(self) -> str:
        """The agency's id."""
        return self.agency.id


Window = Literal["work", "rest", "night"]


@dataclass(frozen=True, slots=True)
class Slot:
    """A kind of scripted surge: its size, shape and when it happens; one of each per evaluated week."""

    name: str
    ratio: float
    minutes: int
    window: Window
    hours: tuple[int, int]  # local hours the onset falls between
    ramp_minutes: int = 0
    extra_floor: bool = True  # at least REQUIRED_EXTRA_PER_HOUR above normal
    noisy: bool = False  # on the small noisy agency


SLOTS = (
    Slot("sudden 5x", 5.0, 30, "work", (10, 15)),
    Slot("sudden 3x", 3.0, 20, "work", (10, 15)),
    Slot("slow ramp to 4x", 4.0, 80, "work", (9, 13), ramp_minutes=40),
    Slot("night flood 3x", 3.0, 30, "night", (0, 5)),
    Slot("weekend 4x", 4.0, 30, "rest", (10, 17)),
    Slot("small 2x", 2.0, 30, "work", (10, 15), extra_floor=False),
    Slot("short 4x, 10 min", 4.0, 10, "work", (10, 15)),
    Slot("night 3x, few messages", 3.0, 30, "night", (0, 5), extra_floor=False),
    Slot("noisy agency 6x", 6.0, 30, "work", (10, 15), extra_floor=False, noisy=True),
)


@dataclass(frozen=True, slots=True)
class ScriptedSurge:
    """A surge put into an agency's traffic: ``extra_per_hour`` on top of its normal from ``onset``."""

    name: str
    agency: str
    zone: tzinfo
    onset: datetime
    minutes: int
    ramp_minutes: int
    normal_per_hour: float
    extra_per_hour: float
    messages: tuple[Message, ...]

    @property
    def ratio(self) -> float:
        """Rate at full size over the normal rate at onset."""
        return (self.normal_per_hour + self.extra_per_hour) / max(self.normal_per_hour, 1e-9)

    @property
    def end(self) -> datetime:
        """The first instant after the surge."""
        return self.onset + self.minutes * MINUTE

    @property
    def sized_from(self) -> datetime:
        """When the surge reaches REQUIRED_RATIO times normal (its onset unless it ramps up)."""
        if not self.ramp_minutes:
            return self.onset
        needed = (REQUIRED_RATIO - 1) * self.normal_per_hour / self.extra_per_hour
        return self.onset + max(0, math.ceil(min(1.0, needed) * self.ramp_minutes) - 1) * MINUTE

    @property
    def required(self) -> bool:
        """Whether the benchmark's rule says the detector must catch it (module docstring)."""
        return (
            self.ratio >= REQUIRED_RATIO
            and self.end - self.sized_from >= REQUIRED_MINUTES * MINUTE
            and self.extra_per_hour >= REQUIRED_EXTRA_PER_HOUR
        )

    @property
    def settled(self) -> datetime:
        """When the last answered surge message was answered: another surge of the agency waits until then."""
        return max((m.answered_at for m in self.messages if m.answered_at is not None), default=self.end)


def agency_traffic(agency: Agency, days: int, seed: int) -> AgencyTraffic:
    """The simulated traffic of ``agency`` over ``days`` days from :data:`START`."""
    rng = rng_of(f"traffic|{seed}|{agency.id}")
    peak = PEAK_PER_HOUR[agency.tier]
    rest = frozenset(range(7)) - agency.weekday_numbers
    kinds = DayKinds(zone=agency.zone, rest_weekdays=rest, holidays=frozenset(agency.holidays))
    base = by_day_kind(
        diurnal(peak, peak * NIGHT_SHARE),
        diurnal(peak * REST_SHARE[agency.tier], peak * NIGHT_SHARE),
        kinds,
    )
    factors = [rng.lognormvariate(0.0, DAY_FACTOR_SIGMA) for _ in range(days + 1)]
    noisy = agency.tier == "local"
    bursts = sorted(
        (START + rng.randrange(days * 1440) * MINUTE, rng.randint(4, 9))
        for _ in range(NOISY_BURSTS_PER_DAY * days if noisy else 0)
    )

    def rate(at: datetime) -> float:
        return base(at) * factors[min(days, (at - START) // DAY)]

    return AgencyTraffic(agency, rate, base, kinds, WorkingCalendar.of(agency), tuple(bursts))


def normal_messages(traffic: AgencyTraffic, end: datetime, seed: int) -> list[Message]:
    """The agency's traffic from :data:`START` to ``end`` without surges, bursts included, answered."""
    arrivals_seed = rng_of(f"arrivals|{seed}|{traffic.agency_id}").getrandbits(32)
    batch = messages(traffic.rate, START, end, seed=arrivals_seed, prefix=f"{traffic.agency_id}-")
    batch += [
        Message(f"{traffic.agency_id}-b{i}-{k}", minute + k * timedelta(seconds=5))
        for i, (minute, size) in enumerate(traffic.bursts)
        for k in range(size)
    ]
    return answer(traffic, sorted(batch, key=lambda m: m.at), seed)


def answer(
    traffic: AgencyTraffic, batch: Iterable[Message], seed: int, *, after: datetime | None = None
) -> list[Message]:
    """Answer times by the agency's habits: from its next opening (or ``after``, for a flood), in working hours."""
    rng = rng_of(f"answer|{seed}|{traffic.agency_id}|{after}")
    profile = traffic.agency.simulation
    share = profile.reply_probability if after is None else _SURGE_ANSWER_SHARE
    scale = profile.median_reply_minutes / math.log(2)
    out = []
    for message in batch:
        if rng.random() >= share:
            out.append(message)
            continue
        if after is None:
            delay = rng.expovariate(1 / scale) * MINUTE
        else:
            delay = rng.uniform(*_ANSWER_AFTER_SURGE_MINUTES) * MINUTE
        answered = _working(traffic, _working(traffic, max(message.at, after or message.at)) + delay, rng)
        out.append(Message(message.message_id, message.at, answered))
    return out


def _working(traffic: AgencyTraffic, at: datetime, rng: random.Random | None = None) -> datetime:
    # Outside working hours an answer waits for the next opening, then takes up to an hour of the morning.
    if traffic.calendar.is_open(at):
        return at
    opening = traffic.calendar.next_opening(at) or at
    return opening if rng is None else opening + rng.uniform(0, 60) * MINUTE


def script_surges(traffics: list[AgencyTraffic], weeks: range, seed: int) -> list[ScriptedSurge]:
    """One surge of each :data:`SLOTS` per week of ``weeks``, at seeded times; slots that find no room are left out.

    Surges of one agency do not overlap: the next starts at least an hour after the last one settled.
    """
    rng = rng_of(f"surges|{seed}")
    placed: list[ScriptedSurge] = []
    for week in weeks:
        for index, slot in enumerate(SLOTS):
            candidates = [t for t in traffics if t.noisy == slot.noisy]
            for attempt in range(50):
                traffic = rng.choice(candidates) if candidates else None
                onset = None if traffic is None else _onset(traffic, slot, week, rng)
                if traffic is None or onset is None or _busy(placed, traffic.agency_id, onset, slot.minutes):
                    continue
                tag = f"s{week}-{index}-{attempt}-"
                placed.append(_surge(traffic, slot, onset, seed, tag))
                break
    return sorted(placed, key=lambda s: s.onset)


def _onset(traffic: AgencyTraffic, slot: Slot, week: int, rng: random.Random) -> datetime | None:
    day = START + (week * 7 + rng.randrange(7)) * DAY
    kind = traffic.kinds.kind(day + 12 * timedelta(hours=1))
    if slot.window not in ("night", kind):
        return None
    return day + rng.randrange(slot.hours[0] * 60, slot.hours[1] * 60) * MINUTE


def _busy(placed: list[ScriptedSurge], agency: str, onset: datetime, minutes: int) -> bool:
    hour = timedelta(hours=1)
    return any(
        s.agency == agency and onset - hour < s.settled + hour and s.onset - hour < onset + minutes * MINUTE + hour
        for s in placed
    )


def _surge(traffic: AgencyTraffic, slot: Slot, onset: datetime, seed: int, tag: str) -> ScriptedSurge:
    normal = traffic.usual(onset)
    extra = (slot.ratio - 1) * normal
    if slot.extra_floor:
        extra = max(extra, REQUIRED_EXTRA_PER_HOUR)
    surge_rate = with_surge(lambda _at: 0.0, onset, slot.minutes, extra, slot.ramp_minutes)
    end = onset + slot.minutes * MINUTE
    batch = messages(surge_rate, onset, end, seed=rng_of(f"{seed}|{tag}").randrange(2**32), prefix=tag)
    answered = tuple(answer(traffic, batch, seed, after=end))
    zone = traffic.kinds.zone
    return ScriptedSurge(
        slot.name, traffic.agency_id, zone, onset, slot.minutes, slot.ramp_minutes, normal, extra, answered
    )
