from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.domain.windows import MessageStatus, bucket_start, message_status, rolling_window

T = datetime(2026, 11, 2, 10, 17, 42, 500000, tzinfo=UTC)
SLA = timedelta(hours=24)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("minute", datetime(2026, 11, 2, 10, 17, tzinfo=UTC)),
        ("hour", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("day", datetime(2026, 11, 2, tzinfo=UTC)),
    ],
)
def test_buckets_are_utc_aligned(size: str, expected: datetime) -> None:
    assert bucket_start(T, size) == expected
    assert bucket_start(T.astimezone(timezone(timedelta(hours=8))), size) == expected


def test_rolling_windows() -> None:
    assert rolling_window(T, "24h") == (T - timedelta(hours=24), T)
    assert rolling_window(T, "7d") == (T - timedelta(days=7), T)


def test_status_exact_boundaries() -> None:
    assert message_status(T, T + SLA, SLA, T + SLA + timedelta(seconds=1)) is MessageStatus.ANSWERED_WITHIN_SLA
    assert message_status(T, T + SLA + timedelta(milliseconds=1), SLA, T + timedelta(days=2)) is (
        MessageStatus.ANSWERED_LATE
    )
    assert message_status(T, None, SLA, T + SLA) is MessageStatus.PENDING
    assert message_status(T, None, SLA, T + SLA + timedelta(milliseconds=1)) is MessageStatus.OVERDUE


def test_a_reply_after_the_instant_does_not_count_yet() -> None:
    assert message_status(T, T + timedelta(hours=2), SLA, T + timedelta(hours=1)) is MessageStatus.PENDING
    assert message_status(T, T + timedelta(days=3), SLA, T + timedelta(days=2)) is MessageStatus.OVERDUE


def test_a_message_removed_before_its_answer_is_removed_and_an_answered_one_stays_answered() -> None:
    hour = timedelta(hours=1)
    assert message_status(T, None, SLA, T + 2 * SLA, removed_at=T + hour) is MessageStatus.REMOVED
    assert message_status(T, T + 2 * hour, SLA, T + 3 * hour, removed_at=T + hour) is MessageStatus.REMOVED
    assert message_status(T, T + hour, SLA, T + 3 * hour, removed_at=T + hour) is MessageStatus.REMOVED  # a tie
    assert message_status(T, T + hour, SLA, T + 3 * hour, removed_at=T + 2 * hour) is (
        MessageStatus.ANSWERED_WITHIN_SLA
    )
    # Not removed yet at the instant judged: still open.
    assert message_status(T, None, SLA, T + hour, removed_at=T + 2 * hour) is MessageStatus.PENDING
