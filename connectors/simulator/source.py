"""The simulator connector: paces a seeded :class:`connectors.simulator.model.Simulation` against a clock.

:class:`SimulatorConnector` hands the simulation's events to a :class:`connectors.core.publisher.Publisher`,
which pseudonymises the citizens.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from connectors.core.publisher import Publisher
from connectors.simulator.model import SOURCE, Simulation
from schemas.timeutil import require_aware, utc_now

__all__ = [
    "SOURCE",
    "Simulation",
    "SimulatorConnector",
    "default_window",
]


def default_window(duration_seconds: float | None, speed: float, now: datetime) -> tuple[datetime, datetime]:
    """Return ``(simulated start, incident time)`` for a ``duration_seconds`` run at ``speed`` ending ``now``.

    The run replays the last ``duration * speed`` seconds (24 h when the duration is open-ended), so
    no timestamp lies in the future; the incident sits at 60 % of that span.
    """
    now = require_aware(now, "now")
    span = timedelta(hours=24) if duration_seconds is None else timedelta(seconds=duration_seconds * speed)
    start = now - span
    return start, start + span * 0.6


class SimulatorConnector:
    """Paces a :class:`Simulation` against a clock and publishes its events.

    Simulated time runs ``speed`` times faster than the clock from ``start`` until it catches up
    with the clock, then in real time: no event is ever emitted ahead of the clock.

    Args:
        publisher: validates, pseudonymises and produces the events.
        simulation: the event source.
        start: simulated time at the moment ``run()`` starts.
        speed: simulated seconds per wall-clock second (> 0).
        clock: wall clock (aware UTC), injected for tests.
        sleep: how to wait between steps, injected for tests.
        interval_seconds: wall time between steps (default 0.2 s).
    """

    def __init__(  # noqa: PLR0913 - a connector's whole context, keyword-only
        self,
        publisher: Publisher,
        simulation: Simulation,
        *,
        start: datetime,
        speed: float,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        interval_seconds: float = 0.2,
    ) -> None:
        if speed <= 0:
            msg = f"speed must be > 0, got {speed}"
            raise ValueError(msg)
        self._publisher = publisher
        self._simulation = simulation
        self._start = require_aware(start, "start")
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._stops: tuple[threading.Event, ...] = (self._stop,)
        self.events_emitted = 0
        self.events_emitted_by_type: Counter[str] = Counter()

    def simulated_time(self, wall_start: datetime, wall_now: datetime) -> datetime:
        """Return the simulated time at ``wall_now`` of a run begun at ``wall_start``; never after ``wall_now``."""
        elapsed = (wall_now - wall_start).total_seconds()
        return min(self._start + timedelta(seconds=elapsed * self._speed), wall_now)

    def run(self, stop: threading.Event | None = None, duration_seconds: float | None = None) -> None:
        """Publish events until ``stop`` (or :meth:`stop`) is set or ``duration_seconds`` elapsed."""
        stops = (self._stop,) if stop is None else (self._stop, stop)
        self._stops = stops
        wall_start = self._clock()
        while True:
            now = self._clock()
            self._emit(self.simulated_time(wall_start, now))
            elapsed = (now - wall_start).total_seconds()
            timed_out = duration_seconds is not None and elapsed >= duration_seconds
            if timed_out or any(event.is_set() for event in stops):
                return
            self._sleep(self._interval)

    def stop(self) -> None:
        """Ask :meth:`run` to return after its current step (sets the event it was given too)."""
        for event in self._stops:
            event.set()

    def _emit(self, until: datetime) -> None:
        for event in self._simulation.advance(until):
            self._publisher.publish(event)
            self.events_emitted += 1
            self.events_emitted_by_type[event.type] += 1
        self._publisher.flush()
