"""Event-time windows and message status: the definitions the SQL views and reports implement.

Pure functions, used by the CLI and by tests that hold the SQL to them. Their SQL twins live in
:mod:`pipeline.storage.sql.fragments`: :func:`message_status` is ``message_status_sql`` (the report and the
views count messages by it), and the views' rolling windows are :data:`ROLLING_WINDOWS` rendered by
``interval_sql``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

__all__ = [
    "CALENDAR_WINDOWS",
    "REPORT_WINDOWS",
    "ROLLING_WINDOWS",
    "MessageStatus",
    "bucket_start",
    "message_status",
    "report_window",
    "rolling_window",
]

# The rolling views are built from this table (a view per entry, so it stays short).
ROLLING_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
# The report's rolling windows: the views' ones and longer ones (read on demand, so no view each).
REPORT_WINDOWS = {**ROLLING_WINDOWS, "30d": timedelta(days=30), "90d": timedelta(days=90)}
# Calendar windows: the current one so far (``month``), or a named one (``month:2026-10``, ``quarter:2026-Q4``).
CALENDAR_WINDOWS = {"month": 1, "quarter": 3}
_NAMED = re.compile(r"^(?:month:(?P<year>\d{4})-(?P<month>\d{1,2})|quarter:(?P<qyear>\d{4})-[Qq](?P<quarter>\d))$")
_SIZES = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MessageStatus(StrEnum):
    """Where a citizen message stands at an instant, given the agency's SLA."""

    ANSWERED_WITHIN_SLA = "answered_within_sla"
    ANSWERED_LATE = "answered_late"
    PENDING = "pending"
    OVERDUE = "overdue"
    REMOVED = "removed"


def bucket_start(moment: datetime, size: str) -> datetime:
    """Start (UTC) of the ``minute``/``hour``/``day`` bucket holding ``moment``."""
    step = _SIZES[size]
    return _EPOCH + ((moment.astimezone(UTC) - _EPOCH) // step) * step


def rolling_window(now: datetime, name: str) -> tuple[datetime, datetime]:
    """``[since, until)`` of a rolling window (``24h`` or ``7d``) ending at ``now``."""
    return now - ROLLING_WINDOWS[name], now


def report_window(name: str, now: datetime, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """``[since, until)`` in UTC of a report window named ``name``, judged at ``now``; ``ValueError`` if unknown.

    ``24h``, ``7d``, ``30d``, ``90d``: rolling, ending at ``now``. ``month``, ``quarter``: the calendar month or
    quarter holding ``now`` in ``tz``, from its first midnight up to ``now``. ``month:2026-10``,
    ``quarter:2026-Q4``: that whole month or quarter in ``tz``, up to ``now`` at most (statuses are never judged
    in the future). Example: ``report_window("month", now, ZoneInfo("Asia/Kuala_Lumpur"))`` starts at
    1 November 00:00 +08:00 for a ``now`` of 5 November.
    """
    if name in REPORT_WINDOWS:
        return now - REPORT_WINDOWS[name], now
    local = now.astimezone(tz)
    if name in CALENDAR_WINDOWS:
        first = local.month - (local.month - 1) % CALENDAR_WINDOWS[name]
        return _midnight(local.year, first, tz), now
    named = _NAMED.match(name)
    if named is None:
        msg = (
            f"unknown window {name!r}: use one of {', '.join([*REPORT_WINDOWS, *CALENDAR_WINDOWS])}, "
            "month:YYYY-MM or quarter:YYYY-Qn"
        )
        raise ValueError(msg)
    if named["year"] is not None:
        year, first, months = int(named["year"]), int(named["month"]), 1
    else:
        year, first, months = int(named["qyear"]), 3 * int(named["quarter"]) - 2, 3
    if not 1 <= first <= 12:
        msg = f"window {name!r}: no such month or quarter (months 1-12, quarters Q1-Q4)"
        raise ValueError(msg)
    since = _midnight(year, first, tz)
    if since >= now:
        msg = f"window {name!r} has not started yet (it starts {since.astimezone(tz):%Y-%m-%d %H:%M %Z})"
        raise ValueError(msg)
    end_year, end_month = divmod(first - 1 + months, 12)
    return since, min(_midnight(year + end_year, end_month + 1, tz), now)


def _midnight(year: int, month: int, tz: tzinfo) -> datetime:
    # The first instant of a month in ``tz``, as UTC (zoneinfo resolves a midnight skipped by DST forward).
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def message_status(
    asked_at: datetime,
    answered_at: datetime | None,
    sla: timedelta,
    at: datetime,
    removed_at: datetime | None = None,
) -> MessageStatus:
    """Status at ``at``: a reply after ``at`` does not count yet; the SLA bound is inclusive.

    A message removed (``removed_at``) before ``at`` and before its first reply is ``removed``: neither answered
    nor pending nor overdue. Its first closure decides, and a removal wins a tie with a reply.
    """
    if removed_at is not None and removed_at < at and (answered_at is None or removed_at <= answered_at):
        return MessageStatus.REMOVED
    if answered_at is not None and answered_at < at:
        within = answered_at - asked_at <= sla
        return MessageStatus.ANSWERED_WITHIN_SLA if within else MessageStatus.ANSWERED_LATE
    return MessageStatus.PENDING if at - asked_at <= sla else MessageStatus.OVERDUE
