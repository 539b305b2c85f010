"""Time helpers every layer shares: aware UTC instants only (naive datetimes are refused)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["require_aware", "utc_now"]


def utc_now() -> datetime:
    """The current instant, aware, in UTC (the default clock wherever a clock is injected)."""
    return datetime.now(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; ``ValueError`` naming ``name`` when it is naive (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}"
        raise ValueError(msg)
    return value.astimezone(UTC)
