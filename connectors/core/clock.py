"""The clock connectors wait on: injected everywhere, so tests move time instead of sleeping.

The real one is :data:`SYSTEM_CLOCK`; tests pass :class:`connectors.core.testing.FakeClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Final, Protocol

from schemas.timeutil import utc_now

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """What pacing and polling loops need from time: the current instant and a wait."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait ``seconds``, or less when ``stop`` is set meanwhile (so Ctrl-C never waits out a back-off)."""


class SystemClock:
    """The wall clock and real waits.

    >>> SYSTEM_CLOCK.sleep(0.01)
    """

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        return utc_now()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait ``seconds`` (nothing when not positive), or until ``stop`` is set."""
        if seconds <= 0:
            return
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)


SYSTEM_CLOCK: Final = SystemClock()
