"""The system clock: aware UTC instants, and waits that a stop event ends at once."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta

from connectors.core.clock import SYSTEM_CLOCK


def test_now_is_aware_utc() -> None:
    assert SYSTEM_CLOCK.now().utcoffset() == timedelta(0)
    assert SYSTEM_CLOCK.now().tzinfo is UTC


def test_sleep_returns_at_once_when_stopped_or_not_positive() -> None:
    stop = threading.Event()
    stop.set()
    SYSTEM_CLOCK.sleep(3600, stop)  # would hang the test (until its timeout) if the stop were ignored
    SYSTEM_CLOCK.sleep(0)
    SYSTEM_CLOCK.sleep(-5)
