"""Event-time windows and message status: the definitions the SQL views and reports implement.

Pure functions, used by the CLI and by tests that hold the SQL to them. Their SQL twins live in
:mod:`pipeline.storage.sql.fragments`: :func:`message_status` is ``message_status_sql`` (the report and the
views count messages by it), and the views' rolling windows are :data:`ROLLING_WINDOWS` rendered by
``interval_sql``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = ["ROLLING_WINDOWS", "MessageStatus", "bucket_start", "message_status", "rolling_window"]

# The one table of rolling windows: the report's --window and the rolling views are built from it.
ROLLING_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
_SIZES = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MessageStatus(StrEnum):
    """Where a citizen message stands at an instant, given the agency's SLA."""

    ANSWERED_WITHIN_SLA = "answered_within_sla"
    ANSWERED_LATE = "answered_late"
    PENDING = "pending"
    OVERDUE = "overdue"


def bucket_start(moment: datetime, size: str) -> datetime:
    """Start (UTC) of the ``minute``/``hour``/``day`` bucket holding ``moment``."""
    step = _SIZES[size]
    return _EPOCH + ((moment.astimezone(UTC) - _EPOCH) // step) * step


def rolling_window(now: datetime, name: str) -> tuple[datetime, datetime]:
    """``[since, until)`` of a rolling window (``24h`` or ``7d``) ending at ``now``."""
    return now - ROLLING_WINDOWS[name], now


def message_status(asked_at: datetime, answered_at: datetime | None, sla: timedelta, at: datetime) -> MessageStatus:
    """Status at ``at``: a reply after ``at`` does not count yet; the SLA bound is inclusive."""
    if answered_at is not None and answered_at < at:
        within = answered_at - asked_at <= sla
        return MessageStatus.ANSWERED_WITHIN_SLA if within else MessageStatus.ANSWERED_LATE
    return MessageStatus.PENDING if at - asked_at <= sla else MessageStatus.OVERDUE
