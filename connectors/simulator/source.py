"""The simulator connector: paces a seeded :class:`connectors.simulator.model.Simulation` against a clock.

:class:`SimulatorConnector` hands the simulation's events to an :class:`connectors.core.contracts.EventSink`
(the publisher, which pseudonymises the citizens); the pacing is :func:`connectors.core.pacing.run_at_speed`.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import EventSink
from connectors.core.pacing import check_speed, run_at_speed
from connectors.simulator.model import SOURCE, Simulation
from schemas.timeutil import require_aware

__all__ = ["SOURCE", "Simulation", "SimulatorConnector", "default_window"]


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
        sink: validates, pseudonymises and produces the events (the publisher).
        simulation: the event source.
        start: simulated time at the moment ``run()`` starts.
        speed: simulated seconds per wall-clock second (> 0).
        clock: default the system clock; a ``FakeClock`` in tests.
        interval_seconds: wall time between steps (default 0.2 s).

    >>> SimulatorConnector(publisher, simulation, start=start, speed=600).run(stop, 60)  # doctest: +SKIP
    """

    def __init__(  # noqa: PLR0913 - a connector's whole context, keyword-only
        self,
        sink: EventSink,
        simulation: Simulation,
        *,
        start: datetime,
        speed: float,
        clock: Clock = SYSTEM_CLOCK,
        interval_seconds: float = 0.2,
    ) -> None:
        self._sink = sink
        self._simulation = simulation
        self._start = require_aware(start, "start")
        self._speed = check_speed(speed)
        self._clock = clock
        self._interval = interval_seconds
        self._stop = threading.Event()
        self.events_emitted = 0
        self.events_emitted_by_type: Counter[str] = Counter()
        self.emitted_until: datetime | None = None  # every event created at or before it is published

    def run(self, stop: threading.Event | None = None, duration_seconds: float | None = None) -> None:
        """Publish events until ``stop`` (or :meth:`stop`) is set or ``duration_seconds`` elapsed."""
        if stop is not None:
            if self._stop.is_set():  # stop() came before run(): keep its word
                stop.set()
            self._stop = stop
        run_at_speed(
            self._emit,
            start=self._start,
            speed=self._speed,
            stop=self._stop,
            clock=self._clock,
            duration_seconds=duration_seconds,
            interval_seconds=self._interval,
        )

    def stop(self) -> None:
        """Ask :meth:`run` to return after its current step (sets the event it was given)."""
        self._stop.set()

    def _emit(self, until: datetime) -> None:
        for event in self._simulation.advance(until):
            self._sink.publish(event)
            self.events_emitted += 1
            self.events_emitted_by_type[event.type] += 1
        self._sink.flush()
        self.emitted_until = until
