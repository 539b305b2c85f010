"""Time helpers every layer shares: aware UTC instants only (naive datetimes are refused).

Event times are bounded (:data:`EARLIEST_EVENT` <= t < :data:`LATEST_EVENT`): no social platform existed
before 2006, and a time near year 1 or 9999 overflows the moment it is shifted to UTC or a local zone, which
would crash every consumer downstream instead of dead-lettering one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "DEFAULT_MAX_FUTURE",
    "EARLIEST_EVENT",
    "LATEST_EVENT",
    "EventBounds",
    "assume_utc",
    "event_time",
    "require_aware",
    "utc_now",
]

EARLIEST_EVENT: Final = datetime(2006, 1, 1, tzinfo=UTC)
"""The earliest event time accepted (inclusive)."""
LATEST_EVENT: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""The end of the event times accepted (exclusive)."""
DEFAULT_MAX_FUTURE: Final = timedelta(hours=24)
"""How far ahead of the ingest clock an event may be by default (a day: time zones and skewed clocks)."""


def utc_now() -> datetime:
    """The current instant, aware, in UTC (the default clock wherever a clock is injected)."""
    return datetime.now(UTC)


def assume_utc(moment: datetime) -> datetime:
    """``moment`` with UTC as its zone when it has none (ClickHouse returns ``DateTime64(3, 'UTC')`` naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; ``ValueError`` naming ``name`` when it is naive (its zone would be a guess).

    A value that cannot be shifted to UTC (within a day of year 1 or 9999) is a ``ValueError`` too, never an
    ``OverflowError``, so callers handle one error type.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}"
        raise ValueError(msg)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        msg = f"{name} {value.isoformat()} is out of the range of datetimes once converted to UTC"
        raise ValueError(msg) from None


def event_time(value: datetime, name: str = "created_at") -> datetime:
    """``value`` in UTC when it is an acceptable event time; ``ValueError`` saying why otherwise.

    Example: ``event_time(datetime.fromisoformat("9999-12-31T23:59:59-01:00"))`` raises ``ValueError``
    (``created_at ... is out of range ...``), where ``astimezone(UTC)`` would raise ``OverflowError``.
    """
    # The year test comes first: it is cheap, and it keeps the conversion below away from the overflow edges.
    if EARLIEST_EVENT.year - 1 <= value.year <= LATEST_EVENT.year:
        utc = require_aware(value, name)
        if EARLIEST_EVENT <= utc < LATEST_EVENT:
            return utc
    msg = (
        f"{name} {value.isoformat()} is out of range: events must be at or after "
        f"{EARLIEST_EVENT:%Y-%m-%d} and before {LATEST_EVENT:%Y-%m-%d} (UTC)"
    )
    raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class EventBounds:
    """The event times an ingest accepts, relative to its own clock (the publisher's or the worker's).

    The schema refuses only what cannot be a time at all (:data:`EARLIEST_EVENT`, :data:`LATEST_EVENT`); these
    bounds also refuse times that are valid but implausible, which would distort every age in the report (an
    epoch-seconds mistake, a clock a year ahead). Such events go to the dead-letter topic with :meth:`reason`.

    Args:
        earliest: the earliest time accepted (inclusive); default :data:`EARLIEST_EVENT` (2006-01-01 UTC).
        max_future: how far after the ingest clock's ``now`` a time may be; default :data:`DEFAULT_MAX_FUTURE`.

    >>> EventBounds().reason(datetime(2030, 1, 1, tzinfo=UTC), now=datetime(2026, 1, 1, tzinfo=UTC))  # doctest: +SKIP
    'created_at 2030-01-01T00:00:00+00:00 is more than 24 h after the ingest clock (...)'
    """

    earliest: datetime = EARLIEST_EVENT
    max_future: timedelta = DEFAULT_MAX_FUTURE

    def __post_init__(self) -> None:
        require_aware(self.earliest, "earliest")
        if self.max_future < timedelta(0):
            msg = f"max_future must not be negative, got {self.max_future}"
            raise ValueError(msg)

    def latest(self, now: datetime) -> datetime:
        """The latest time accepted (inclusive) when the ingest clock reads ``now``."""
        return require_aware(now, "now") + self.max_future

    def reason(self, created_at: datetime, now: datetime) -> str | None:
        """Why ``created_at`` is refused when the ingest clock reads ``now``; ``None`` when it is accepted."""
        if created_at < self.earliest:
            return (
                f"created_at {created_at.isoformat()} is before the earliest event time accepted, "
                f"{self.earliest.isoformat()} (SERAMBI_EARLIEST_EVENT)"
            )
        if created_at > self.latest(now):
            hours = self.max_future.total_seconds() / 3600
            return (
                f"created_at {created_at.isoformat()} is more than {hours:g} h after the ingest clock "
                f"({now.astimezone(UTC).isoformat(timespec='seconds')}; SERAMBI_MAX_FUTURE_HOURS)"
            )
        return None
