"""Time helpers every layer shares: aware UTC instants only (naive datetimes are refused).

Event times are bounded (:data:`EARLIEST_EVENT` <= t < :data:`LATEST_EVENT`): no social platform existed
before 2006, and a time near year 1 or 9999 overflows the moment it is shifted to UTC or a local zone, which
would crash every consumer downstream instead of dead-lettering one event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

__all__ = ["EARLIEST_EVENT", "LATEST_EVENT", "assume_utc", "event_time", "require_aware", "utc_now"]

EARLIEST_EVENT: Final = datetime(2006, 1, 1, tzinfo=UTC)
"""The earliest event time accepted (inclusive)."""
LATEST_EVENT: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""The end of the event times accepted (exclusive)."""


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
