"""Business time: seconds between two instants that fall in an agency's working hours.

Pure and framework-free. Each local working day's window (``working_hours`` in the agency's timezone) is
converted to a pair of UTC instants before it is intersected with the interval, so days that are 23 or 25
hours long (DST changes) count exactly the hours that really elapsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.agency import Agency

__all__ = ["BusinessClock", "business_seconds"]

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """The parts of an agency needed to count business time, precomputed once."""

    zone: ZoneInfo
    weekdays: frozenset[int]
    holidays: frozenset[date]
    opens: time
    closes: time

    @classmethod
    def of(cls, agency: Agency) -> _Calendar:
        return cls(
            zone=agency.zone,
            weekdays=agency.weekday_numbers,
            holidays=frozenset(agency.holidays),
            opens=agency.working_hours[0],
            closes=agency.working_hours[1],
        )

    def is_working(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants at which a local day's working hours open and close."""
        opens = datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC)
        return opens, closes


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _calendar_seconds(calendar: _Calendar, start: datetime, end: datetime) -> float:
    start_utc = _require_aware(start, "start")
    end_utc = _require_aware(end, "end")
    if end_utc <= start_utc:
        return 0.0
    day = start_utc.astimezone(calendar.zone).date()
    last_day = end_utc.astimezone(calendar.zone).date()
    total = _ZERO
    while day <= last_day:
        if calendar.is_working(day):
            opens, closes = calendar.window(day)
            # Exact timedelta arithmetic (microseconds), so sums are exact to the millisecond.
            total += max(_ZERO, min(end_utc, closes) - max(start_utc, opens))
        day += _ONE_DAY
    return total.total_seconds()


def business_seconds(agency: Agency, start: datetime, end: datetime) -> float:
    """Seconds between two aware instants that fall in the agency's working time.

    Only ``agency.working_hours`` on ``agency.working_days`` that are not in ``agency.holidays`` count,
    all read in ``agency.timezone``. Returns ``0.0`` when ``end <= start``; raises ``ValueError`` for
    naive datetimes. Cost is one step per local calendar day spanned.

    Example: for a Mon-Fri 08:00-17:00 agency, Friday 16:00 to Monday 09:00 local is ``7200.0``.
    """
    return _calendar_seconds(_Calendar.of(agency), start, end)


class BusinessClock:
    """Business-time seconds per agency id, caching each agency's calendar after the first lookup.

    Args:
        directory_lookup: returns the :class:`Agency` for an agency id (e.g. ``Directory.get``);
            its errors (such as ``KeyError`` for an unknown id) propagate unchanged.

    Example: ``BusinessClock(directory.get).seconds("jpj", asked_at, answered_at)``.
    """

    def __init__(self, directory_lookup: Callable[[str], Agency]) -> None:
        self._lookup = directory_lookup
        self._calendars: dict[str, _Calendar] = {}

    def seconds(self, agency_id: str, start: datetime, end: datetime) -> float:
        """Business seconds between ``start`` and ``end`` for the agency ``agency_id``."""
        calendar = self._calendars.get(agency_id)
        if calendar is None:
            calendar = _Calendar.of(self._lookup(agency_id))
            self._calendars[agency_id] = calendar
        return _calendar_seconds(calendar, start, end)
