"""The report's windows: rolling ones, the current calendar month or quarter in a zone, and named ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.domain.windows import REPORT_WINDOWS, ROLLING_WINDOWS, report_window

KL = ZoneInfo("Asia/Kuala_Lumpur")
NOW = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)  # 14:30 in Kuala Lumpur


def _kl(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=KL).astimezone(UTC)


@pytest.mark.parametrize(("name", "days"), [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)])
def test_rolling_windows_end_now(name: str, days: int) -> None:
    assert report_window(name, NOW) == (NOW - timedelta(days=days), NOW)


def test_the_views_keep_their_two_windows() -> None:
    # A view is created per rolling window: the report's longer windows are read on demand instead.
    assert set(ROLLING_WINDOWS) == {"24h", "7d"}
    assert set(ROLLING_WINDOWS) < set(REPORT_WINDOWS)


def test_the_current_month_and_quarter_start_at_midnight_in_the_zone() -> None:
    assert report_window("month", NOW, KL) == (_kl(2026, 11, 1), NOW)
    assert report_window("month", NOW) == (datetime(2026, 11, 1, tzinfo=UTC), NOW)
    assert report_window("quarter", NOW, KL) == (_kl(2026, 10, 1), NOW)
    assert report_window("quarter", datetime(2026, 3, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 31, 23, tzinfo=UTC),
    )


def test_the_zone_decides_which_month_it_is() -> None:
    # 31 October 20:00 UTC is already 1 November 04:00 in Kuala Lumpur.
    late = datetime(2026, 10, 31, 20, tzinfo=UTC)
    assert report_window("month", late, KL)[0] == _kl(2026, 11, 1)
    assert report_window("month", late)[0] == datetime(2026, 10, 1, tzinfo=UTC)


def test_named_months_and_quarters_are_whole_and_never_end_after_now() -> None:
    assert report_window("month:2026-10", NOW, KL) == (_kl(2026, 10, 1), _kl(2026, 11, 1))
    assert report_window("month:2025-12", NOW) == (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert report_window("quarter:2026-Q3", NOW, KL) == (_kl(2026, 7, 1), _kl(2026, 10, 1))
    assert report_window("quarter:2025-q4", NOW) == (
        datetime(2025, 10, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert report_window("month:2026-11", NOW, KL) == (_kl(2026, 11, 1), NOW)  # still running: up to now


def test_daylight_saving_zones_start_at_their_own_midnight() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    since, until = report_window("month:2026-10", NOW, berlin)
    assert since == datetime(2026, 9, 30, 22, tzinfo=UTC)  # CEST, +02:00
    assert until == datetime(2026, 10, 31, 23, tzinfo=UTC)  # CET, +01:00


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fortnight", "unknown window 'fortnight': use one of 24h, 7d, 30d, 90d, month, quarter"),
        ("month:2026-13", "no such month"),
        ("month:2026-00", "no such month"),
        ("quarter:2026-Q5", "no such month or quarter"),
        ("quarter:2026-10", "unknown window"),
        ("month:2027-01", "has not started yet"),
    ],
)
def test_bad_windows_say_what_is_accepted(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        report_window(name, NOW)
