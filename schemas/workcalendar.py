"""An agency's working calendar: when it works, and how much working time lies between two instants.

The one implementation of working days, hours, holidays and timezones, shared by the business-time clock
of the metrics and by the simulator. Each local working day's window is converted to a pair of UTC
instants before it is intersected with an interval, so days that are 23 or 25 hours long (DST changes)
count exactly the hours that really elapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.agency import Agency
from schemas.timeutil import require_aware

__all__ = ["WorkingCalendar"]

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
_SEARCH_DAYS = 60


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The parts of an agency that say when it works, precomputed once.

    Example: ``WorkingCalendar.of(agency).seconds(asked_at, answered_at)``.
    """

    zone: ZoneInfo
    weekdays: frozenset[int]
    holidays: frozenset[date]
    opens: time
    closes: time

    @classmethod
    def of(cls, agency: Agency) -> WorkingCalendar:
        """The calendar of an agency of the directory."""
        return cls(
            zone=agency.zone,
            weekdays=agency.weekday_numbers,
            holidays=frozenset(agency.holidays),
            opens=agency.working_hours[0],
            closes=agency.working_hours[1],
        )

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

        Cost is one step per local calendar day spanned. Sums are exact timedelta arithmetic
        (microseconds), so results are exact to the millisecond. Raises ``ValueError`` (never
        ``OverflowError``) for naive instants and for instants within a day of year 1 or 9999.
        """
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
