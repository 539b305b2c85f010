"""Business time: seconds between two instants that fall in an agency's working hours.

Pure and framework-free; the calendar itself is :class:`schemas.workcalendar.WorkingCalendar`, which the
simulator shares.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from schemas.agency import Agency
from schemas.workcalendar import WorkingCalendar

__all__ = ["BusinessClock", "business_seconds"]


def business_seconds(agency: Agency, start: datetime, end: datetime) -> float:
    """Seconds between two aware instants that fall in the agency's working time.

    Only ``agency.working_hours`` on ``agency.working_days`` that are not in ``agency.holidays`` count,
    all read in ``agency.timezone``. Returns ``0.0`` when ``end <= start``; raises ``ValueError`` for
    naive datetimes and for instants within a day of year 1 or 9999 (never ``OverflowError``). Cost is O(1)
    amortised, about a microsecond or two: the agency's calendar is cached and keeps a table of its days.

    Example: for a Mon-Fri 08:00-17:00 agency, Friday 16:00 to Monday 09:00 local is ``7200.0``.
    """
    return WorkingCalendar.of(agency).seconds(start, end)


class BusinessClock:
    """Business-time seconds per agency id, caching each agency's calendar after the first lookup.

    Args:
        directory_lookup: returns the :class:`Agency` for an agency id (e.g. ``Directory.get``);
            its errors (such as ``KeyError`` for an unknown id) propagate unchanged.

    Example: ``BusinessClock(directory.get).seconds("jpj", asked_at, answered_at)``.
    """

    def __init__(self, directory_lookup: Callable[[str], Agency]) -> None:
        self._lookup = directory_lookup
        self._calendars: dict[str, WorkingCalendar] = {}

    def seconds(self, agency_id: str, start: datetime, end: datetime) -> float:
        """Business seconds between ``start`` and ``end`` for the agency ``agency_id``."""
        calendar = self._calendars.get(agency_id)
        if calendar is None:
            calendar = self._calendars[agency_id] = WorkingCalendar.of(self._lookup(agency_id))
        return calendar.seconds(start, end)
