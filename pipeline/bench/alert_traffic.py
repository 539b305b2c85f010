"""Deterministic citizen traffic for the surge detector: messages with answer times, and per-minute counts.

A rate profile (messages per hour at an instant) gives seeded Poisson arrivals; :func:`count_records` turns
messages into the partial counts a worker emits, one record per source and minute (a heartbeat even when
empty), with messages spread round-robin over ``sources`` partitions; :func:`source_counts` is the same per
source, lazily, and may leave out the minutes where nothing changed. Used by the alert benchmark
(:mod:`pipeline.bench.alerts`) and by the detector's unit tests.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from pipeline.domain.surge import CountRecord, DayKinds

__all__ = [
    "LOCAL",
    "MINUTE",
    "MONDAY",
    "Message",
    "Rate",
    "answer_between",
    "by_day_kind",
    "count_records",
    "diurnal",
    "flat",
    "hourly_history",
    "messages",
    "poisson",
    "rng_of",
    "source_counts",
    "weekly",
    "with_surge",
]

MINUTE = timedelta(minutes=1)
# A Monday 00:00 in Kuala Lumpur (UTC+8), so local hours and weekdays are easy to read.
MONDAY = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
LOCAL = timedelta(hours=8)

Rate = Callable[[datetime], float]


@dataclass(frozen=True)
class Message:
    """A citizen message: its id, arrival and (maybe) answer time."""

    message_id: str
    at: datetime
    answered_at: datetime | None = None


def rng_of(seed: int | str) -> random.Random:
    """A generator seeded with ``seed`` (a str seeds the same in every process, unlike its ``hash()``)."""
    return random.Random(seed)  # noqa: S311 - reproducible traffic, not cryptography


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth below 30, a rounded normal above: plenty for simulated traffic)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def flat(per_hour: float) -> Rate:
    """The same rate at every instant."""
    return lambda _at: per_hour


def diurnal(day_per_hour: float, night_per_hour: float) -> Rate:
    """Quiet nights, a smooth peak at 13:00 local time between 07:00 and 19:00."""

    def rate(at: datetime) -> float:
        hour = ((at + LOCAL).hour * 60 + (at + LOCAL).minute) / 60
        shape = math.sin(math.pi * (hour - 7) / 12) if 7 <= hour <= 19 else 0.0
        return night_per_hour + (day_per_hour - night_per_hour) * shape

    return rate


def by_day_kind(workday: Rate, restday: Rate, kinds: DayKinds) -> Rate:
    """``restday`` on the rest days of ``kinds`` (weekend days and holidays, local), ``workday`` otherwise."""
    return lambda at: restday(at) if kinds.kind(at) == "rest" else workday(at)


def weekly(workday: Rate, restday: Rate, holidays: Iterable[date] = ()) -> Rate:
    """``restday`` on local Saturdays, Sundays and the given dates (of a datetime: its date), else ``workday``."""
    days = frozenset(day.date() if isinstance(day, datetime) else day for day in holidays)
    return by_day_kind(workday, restday, DayKinds(holidays=days))


def with_surge(base: Rate, onset: datetime, minutes: int, extra_per_hour: float, ramp_minutes: int = 0) -> Rate:
    """``base`` plus ``extra_per_hour`` during ``[onset, onset + minutes)``, reached linearly over the ramp."""

    def rate(at: datetime) -> float:
        elapsed = (at - onset) / MINUTE
        if not 0 <= elapsed < minutes:
            return base(at)
        share = min(1.0, (elapsed + 1) / ramp_minutes) if ramp_minutes else 1.0
        return base(at) + extra_per_hour * share

    return rate


def messages(  # noqa: PLR0913 - a traffic recipe: each knob has a default
    rate: Rate,
    start: datetime,
    end: datetime,
    seed: int,
    answer_share: float = 0.0,
    answer_after: timedelta = timedelta(minutes=20),
    prefix: str = "m",
) -> list[Message]:
    """Seeded arrivals per minute in ``[start, end)``; a share of them answered ``answer_after`` later."""
    rng = rng_of(seed)
    out: list[Message] = []
    minute = start
    while minute < end:
        for _ in range(poisson(rng, rate(minute) / 60)):
            answered = minute + answer_after if rng.random() < answer_share else None
            out.append(Message(f"{prefix}{len(out)}", minute + timedelta(seconds=len(out) % 60), answered))
        minute += MINUTE
    return out


def answer_between(
    batch: list[Message], since: datetime, until: datetime, first: datetime, per_minute: int
) -> list[Message]:
    """Messages unanswered and arrived in ``[since, until)`` answered ``per_minute`` a minute from ``first``."""
    out, done = [], 0
    for message in batch:
        if message.answered_at is None and since <= message.at < until:
            out.append(replace(message, answered_at=first + (done // per_minute) * MINUTE))
            done += 1
        else:
            out.append(message)
    return out


def hourly_history(rate: Rate, start: datetime, days: int, seed: int) -> dict[datetime, int]:
    """Seeded arrivals per hour for ``days`` days from ``start``, for ``SurgeDetector.seed_history``."""
    rng = rng_of(seed)
    return {
        start + timedelta(hours=h): poisson(
            rng, sum(rate(start + timedelta(hours=h, minutes=m)) for m in range(60)) / 60
        )
        for h in range(days * 24)
    }


def count_records(  # noqa: PLR0913 - one stream's identity and its counting rules
    batch: list[Message],
    start: datetime,
    end: datetime,
    agency: str,
    platform: str = "x",
    sources: int = 1,
    expire: timedelta = timedelta(hours=6),
    examples: int = 3,
) -> list[CountRecord]:
    """Per-minute partial counts, one record per source and minute in ``[start, end)``, sources interleaved.

    A message stays in its source's backlog from its minute until answered or ``expire`` old (the matcher's
    horizon). Message ``i`` goes to source ``i % sources``: a surge spreads evenly over all partitions. Each
    record carries its first ``examples`` message ids (3, as many as an alert shows, so that an alert shows
    the same ones whatever the number of sources).
    """
    streams = [
        source_counts(batch[i::sources], start, end, agency, platform, f"p{i}", expire=expire, examples=examples)
        for i in range(sources)
    ]
    return [record for minute_records in zip(*streams, strict=True) for record in minute_records if record]


def source_counts(  # noqa: PLR0913 - one stream's identity and its counting rules
    batch: Iterable[Message],
    start: datetime,
    end: datetime,
    agency: str,
    platform: str,
    source: str,
    *,
    expire: timedelta = timedelta(hours=6),
    examples: int = 3,
    heartbeat: bool = True,
) -> Iterator[CountRecord | None]:
    """One source's counts, one item per minute in ``[start, end)``, computed as they are asked for.

    With ``heartbeat`` every minute gives a record; without, a minute with no arrival, no answer and the same
    backlog as the last record gives ``None`` (a worker need not repeat itself).
    """
    arrivals: dict[datetime, list[Message]] = {}
    answers: dict[datetime, list[Message]] = {}
    for message in batch:
        arrivals.setdefault(_floor(message.at), []).append(message)
        if message.answered_at is not None:
            answers.setdefault(_floor(message.answered_at), []).append(message)
    open_: deque[Message] = deque()
    pending: set[str] = set()  # ids in the backlog: open_ keeps answered ones until they reach its head
    last_backlog = -1
    minute = start
    while minute < end:
        new = arrivals.pop(minute, [])
        open_.extend(new)
        pending.update(m.message_id for m in new)
        done = [m for m in answers.pop(minute, []) if m.message_id in pending]
        pending.difference_update(m.message_id for m in done)
        while open_ and (open_[0].message_id not in pending or open_[0].at + expire <= minute + MINUTE):
            pending.discard(open_.popleft().message_id)
        backlog = len(pending)
        if heartbeat or new or done or backlog != last_backlog:
            last_backlog = backlog
            yield CountRecord(
                agency=agency,
                platform=platform,
                source=source,
                minute=minute,
                arrivals=len(new),
                answered=len(done),
                backlog=backlog,
                oldest_unanswered_at=open_[0].at if open_ else None,
                example_ids=tuple(m.message_id for m in new[:examples]),
            )
        else:
            yield None
        minute += MINUTE


def _floor(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
