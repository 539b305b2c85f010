"""An agency's working calendar: when it works, and how much working time lies between two instants.

The one implementation of working days, hours, holidays and timezones, shared by the business-time clock
of the metrics and by the simulator. Each local working day's window is converted to a pair of UTC
instants before it is intersected with an interval, so days that are 23 or 25 hours long (DST changes)
count exactly the hours that really elapsed.

:meth:`WorkingCalendar.seconds` runs once per response fact on the worker's hot path, so each calendar keeps
a lazily grown table of its days' windows (UTC epoch microseconds) and of the working microseconds before
each day: a span costs two local-date conversions and a few integer operations however many days it covers,
and gives exactly what intersecting it with every day's window would (:meth:`WorkingCalendar.seconds_by_day`).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from schemas.agency import Agency
from schemas.timeutil import require_aware

__all__ = ["WorkingCalendar"]

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
_SEARCH_DAYS = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_SECOND = 1_000_000
# Instants the table serves; others (near year 1 or 9999 among them) take the day-by-day path, which reports
# them exactly as it always did. Local days then stay far from the ends of the date range.
_TABLE_FROM_US = (datetime(1900, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_TABLE_UNTIL_US = (datetime(2200, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MARGIN_DAYS = 64  # grown by at least this much, so a stream moving through time rarely grows it
_MAX_TABLE_DAYS = 16_384  # ~45 years, <= ~2 MB; a span needing more is counted day by day
_CACHE_LIMIT = 1024  # calendars remembered; the caches start afresh past it (agencies are few)


@dataclass(frozen=True, slots=True)
class _DayTable:
    """Consecutive local days from ordinal ``first``: each one's window and the working time before it.

    A snapshot never changes once built (growing builds a new one), so readers in other threads need no lock.
    """

    first: int  # date.toordinal() of the local day at index 0
    opens: list[int]  # UTC epoch microseconds of each day's opening
    closes: list[int]  # ... and closing; == opens on a day off, so a day off adds nothing
    before: list[int]  # before[k]: working microseconds of the days at indexes 0..k-1 (one more than days)
    breaks: tuple[int, ...]  # indexes k where opens or closes go back in time from k to k+1 (clock changes)

    @classmethod
    def build(cls, first: int, opens: list[int], closes: list[int]) -> _DayTable:
        """The table of these windows, with its running sums and breaks."""
        lengths = (close - open_ if close > open_ else 0 for open_, close in zip(opens, closes, strict=True))
        breaks = tuple(k for k in range(len(opens) - 1) if opens[k + 1] < opens[k] or closes[k + 1] < closes[k])
        return cls(first, opens, closes, list(accumulate(lengths, initial=0)), breaks)

    def microseconds(self, i: int, j: int, start_us: int, end_us: int) -> int | None:
        """Working microseconds in ``[start_us, end_us)`` from day index ``i`` to ``j`` (``i <= j``).

        ``None`` when the days strictly between are not all wholly inside the span (only around odd clock
        changes): the caller then counts day by day.
        """
        opens, closes = self.opens, self.closes
        # Conditional expressions, not max()/min(): this runs once per fact and builtin calls cost more.
        lo = opens[i] if opens[i] > start_us else start_us
        hi = closes[i] if closes[i] < end_us else end_us
        total = hi - lo if hi > lo else 0
        if j == i:
            return total
        lo = opens[j] if opens[j] > start_us else start_us
        hi = closes[j] if closes[j] < end_us else end_us
        total += hi - lo if hi > lo else 0
        if j == i + 1:
            return total
        # Where openings and closings only move forward (no break), the first day in between opening after the
        # start and the last one closing before the end puts every day in between wholly inside the span.
        if start_us > opens[i + 1] or closes[j - 1] > end_us or self._broken(i + 1, j - 2):
            return None
        return total + self.before[j] - self.before[i + 1]

    def _broken(self, low: int, high: int) -> bool:
        breaks = self.breaks
        if not breaks:
            return False
        at = bisect_left(breaks, low)
        return at < len(breaks) and breaks[at] <= high


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The parts of an agency that say when it works, precomputed once.

    Calendars are immutable and cached: ``of`` returns the same calendar for the same agency object (and for
    agencies with equal calendars), so its table of days is built once.

    Example: ``WorkingCalendar.of(agency).seconds(asked_at, answered_at)``.
    """

    zone: ZoneInfo
    weekdays: frozenset[int]
    holidays: frozenset[date]
    opens: time
    closes: time
    _table: _DayTable | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, agency: Agency) -> WorkingCalendar:
        """The calendar of an agency of the directory (cached: agencies are immutable)."""
        cached = _BY_AGENCY.get(id(agency))
        if cached is not None and cached[0] is agency:
            return cached[1]
        calendar = cls(
            zone=agency.zone,
            weekdays=agency.weekday_numbers,
            holidays=frozenset(agency.holidays),
            opens=agency.working_hours[0],
            closes=agency.working_hours[1],
        )
        if len(_INTERNED) >= _CACHE_LIMIT:
            _INTERNED.clear()
        calendar = _INTERNED.setdefault(calendar, calendar)
        if len(_BY_AGENCY) >= _CACHE_LIMIT:
            _BY_AGENCY.clear()
        _BY_AGENCY[id(agency)] = (agency, calendar)  # holding the agency keeps its id from being reused
        return calendar

    def is_working_day(self, day: date) -> bool:
        """Whether a local calendar day is a working day that is not a holiday."""
        return day.weekday() in self.weekdays and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants at which a local day's working hours open and close."""
        opens = datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC)
        return opens, closes

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls on a working, non-holiday day within the working hours."""
        local = require_aware(at, "at").astimezone(self.zone)
        return self.is_working_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` (UTC) if the agency works then, else its next opening; ``None`` if none within 60 days."""
        if self.is_open(at):
            return require_aware(at, "at")
        local = at.astimezone(self.zone)
        for offset in range(_SEARCH_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            opening = datetime.combine(day, self.opens, tzinfo=self.zone)
            if opening > local and self.is_working_day(day):
                return opening.astimezone(UTC)
        return None

    def seconds(self, start: datetime, end: datetime) -> float:
        """Working seconds between two aware instants; ``0.0`` when ``end <= start``.

        The same value as :meth:`seconds_by_day`, in O(1) amortised time: integer microseconds, exact to the
        microsecond. Raises ``ValueError`` (never ``OverflowError``) for naive instants and for instants within
        a day of year 1 or 9999.
        """
        try:
            start_us = (start - _EPOCH) // _MICROSECOND
            end_us = (end - _EPOCH) // _MICROSECOND
        except TypeError:  # a naive instant: out of the table's range, so the day-by-day path says why
            start_us = end_us = _TABLE_UNTIL_US
        if _TABLE_FROM_US <= start_us < _TABLE_UNTIL_US and _TABLE_FROM_US <= end_us < _TABLE_UNTIL_US:
            if end_us <= start_us:
                return 0.0
            total = self._microseconds(start, end, start_us, end_us)
            if total is not None:
                return total / _US_PER_SECOND  # what timedelta.total_seconds() gives for these microseconds
        return self.seconds_by_day(start, end)

    def _microseconds(self, start: datetime, end: datetime, start_us: int, end_us: int) -> int | None:
        """Working microseconds from the table; ``None`` when only the day-by-day path can tell."""
        zone = self.zone
        # astimezone() returns an instant already in the zone untouched; through UTC, a wall time that a clock
        # change skipped or repeated is normalised first, as in seconds_by_day.
        first_day = (start.astimezone(UTC) if start.tzinfo is zone else start).astimezone(zone).toordinal()
        last_day = (end.astimezone(UTC) if end.tzinfo is zone else end).astimezone(zone).toordinal()
        if last_day < first_day:  # a clock change set the local date back: no day lies in between
            return 0
        table = self._table
        if table is None or first_day < table.first or last_day >= table.first + len(table.opens):
            table = self._grown(first_day, last_day)
            if table is None:
                return None
        return table.microseconds(first_day - table.first, last_day - table.first, start_us, end_us)

    def seconds_by_day(self, start: datetime, end: datetime) -> float:
        """:meth:`seconds` by intersecting the span with each local day's window: one step per day spanned."""
        start_utc = require_aware(start, "start")
        end_utc = require_aware(end, "end")
        if end_utc <= start_utc:
            return 0.0
        try:
            return self._seconds(start_utc, end_utc)
        except OverflowError:  # within a day of year 1 or 9999: say so as a ValueError, like a naive time
            msg = f"cannot count working time from {start.isoformat()} to {end.isoformat()}: out of the date range"
            raise ValueError(msg) from None

    def _seconds(self, start_utc: datetime, end_utc: datetime) -> float:
        day = start_utc.astimezone(self.zone).date()
        last_day = end_utc.astimezone(self.zone).date()
        total = _ZERO
        while day <= last_day:
            if self.is_working_day(day):
                opens, closes = self.window(day)
                total += max(_ZERO, min(end_utc, closes) - max(start_utc, opens))
            day += _ONE_DAY
        return total.total_seconds()

    def _grown(self, first_day: int, last_day: int) -> _DayTable | None:
        """The table grown to cover both local days (ordinals); ``None`` when it would get too long."""
        old = self._table
        low, high = first_day - _MARGIN_DAYS, last_day + _MARGIN_DAYS + 1
        if old is not None:
            low, high = min(low, old.first), max(high, old.first + len(old.opens))
        if high - low > _MAX_TABLE_DAYS:
            return None
        if old is None:
            opens, closes = self._windows(low, high)
        else:
            head_opens, head_closes = self._windows(low, old.first)
            tail_opens, tail_closes = self._windows(old.first + len(old.opens), high)
            opens = head_opens + old.opens + tail_opens
            closes = head_closes + old.closes + tail_closes
        table = _DayTable.build(low, opens, closes)
        object.__setattr__(self, "_table", table)  # a cache, not state: equality and hashing ignore it
        return table

    def _windows(self, low: int, high: int) -> tuple[list[int], list[int]]:
        """Openings and closings (UTC epoch microseconds) of the local days with ordinals ``low..high-1``."""
        opens: list[int] = []
        closes: list[int] = []
        for ordinal in range(low, high):
            day = date.fromordinal(ordinal)
            # Subtracting the epoch converts to UTC as window() does (the offset of the wall time, fold=0).
            opening = (datetime.combine(day, self.opens, tzinfo=self.zone) - _EPOCH) // _MICROSECOND
            opens.append(opening)
            if self.is_working_day(day):
                closes.append((datetime.combine(day, self.closes, tzinfo=self.zone) - _EPOCH) // _MICROSECOND)
            else:
                closes.append(opening)
        return opens, closes


_BY_AGENCY: dict[int, tuple[Agency, WorkingCalendar]] = {}
_INTERNED: dict[WorkingCalendar, WorkingCalendar] = {}
