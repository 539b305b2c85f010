"""Pacing: event time against the wall clock, for replays (``import --speed``) and the simulator.

Both map wall time to event time with a speed factor (:class:`Timeline`). A replay waits until each event
is due (:class:`ReplayPacer`); the simulator asks what is due every interval (:func:`run_at_speed`).
Time comes from an injected :class:`connectors.core.clock.Clock`, so tests move a fake clock instead of sleeping.
Both stop on a ``threading.Event`` (Ctrl-C or SIGTERM): a replay raises :class:`Stopped` at the next event,
whose wait ends at once, so an hour-long gap between two events never holds the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import EventSink
from schemas.events import Event
from schemas.timeutil import require_aware

__all__ = ["ReplayPacer", "StoppableSink", "Stopped", "Timeline", "check_speed", "run_at_speed"]


def check_speed(speed: float) -> float:
    """``speed`` when it is a usable factor (> 0), else ``ValueError``."""
    if not speed > 0:  # also refuses NaN
        msg = f"speed must be > 0, got {speed}"
        raise ValueError(msg)
    return speed


class Stopped(Exception):
    """A stop was requested: the event being handed over was not published, nor anything after it."""


@dataclass(frozen=True)
class Timeline:
    """Event time running ``speed`` times faster than the wall clock, both starting at an origin.

    Args:
        wall_origin: the wall-clock instant (aware) that corresponds to ``event_origin``.
        event_origin: the event-time instant (aware) at ``wall_origin``.
        speed: event seconds per wall-clock second (> 0).

    >>> line = Timeline(datetime(2026, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC), 60)  # doctest: +SKIP
    >>> line.wall_time(datetime(2017, 1, 1, 1, tzinfo=UTC))  # an event-hour later: one wall minute  # doctest: +SKIP
    """

    wall_origin: datetime
    event_origin: datetime
    speed: float

    def __post_init__(self) -> None:
        require_aware(self.wall_origin, "wall_origin")
        require_aware(self.event_origin, "event_origin")
        check_speed(self.speed)

    def event_time(self, wall: datetime) -> datetime:
        """The event time at wall-clock instant ``wall``."""
        return self.event_origin + (wall - self.wall_origin) * self.speed

    def wall_time(self, event_time: datetime) -> datetime:
        """The wall-clock instant at which ``event_time`` is due."""
        return self.wall_origin + (event_time - self.event_origin) / self.speed


class StoppableSink:
    """An :class:`EventSink` that refuses further input once ``stop`` is set: :meth:`publish` raises :class:`Stopped`.

    What was handed over before stays with ``inner``: flush or close it to deliver it.

    Args:
        inner: the sink that gets the events (the Kafka publisher, or a :class:`ReplayPacer`).
        stop: set from a signal handler or another thread.

    >>> publish_all(StoppableSink(publisher, stop), items)  # raises Stopped after Ctrl-C  # doctest: +SKIP
    """

    def __init__(self, inner: EventSink, stop: threading.Event) -> None:
        self._inner = inner
        self._stop = stop

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Hand ``event`` to the inner sink, or raise :class:`Stopped` when a stop was requested."""
        self._check()
        return self._inner.publish(event)

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        """Dead-letter through the inner sink, or raise :class:`Stopped` when a stop was requested."""
        self._check()
        self._inner.dead_letter(reason, raw, error_type=error_type)

    def flush(self) -> None:
        """Flush the inner sink (also after a stop: what was handed over is delivered)."""
        self._inner.flush()

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped


class ReplayPacer:
    """An :class:`EventSink` that replays events with their original spacing divided by ``speed``.

    The first event goes at once; each later one when its ``created_at`` is due on the :class:`Timeline`
    anchored there. Before waiting it flushes ``inner``, so what is due is delivered, not held back.
    Mappings (not yet validated events) carry no trusted time and pass unpaced. A wait ends at once when
    ``stop`` is set, and the event it waited for is not published: :class:`Stopped` is raised instead.

    Args:
        inner: the sink that gets the events (the Kafka publisher).
        speed: event seconds per wall-clock second (> 0).
        clock: default the system clock; a fake one in tests.
        stop: default none (the replay runs to its end); set it to end a wait early.

    >>> ReplayPacer(publisher, 3600).publish(event)  # an event-hour apart: a second apart  # doctest: +SKIP
    """

    def __init__(
        self,
        inner: EventSink,
        speed: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stop: threading.Event | None = None,
    ) -> None:
        self._inner = inner
        self._speed = check_speed(speed)
        self._clock = clock
        self._stop = stop
        self._timeline: Timeline | None = None

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Wait until ``event`` is due, then hand it to the inner sink; :class:`Stopped` if stopped meanwhile."""
        if not isinstance(event, Mapping):
            self._wait_for(event.created_at)
        if self._stop is not None and self._stop.is_set():
            raise Stopped
        return self._inner.publish(event)

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        """Dead-letter at once: rejected input has no place on the timeline."""
        self._inner.dead_letter(reason, raw, error_type=error_type)

    def flush(self) -> None:
        """Flush the inner sink."""
        self._inner.flush()

    def _wait_for(self, created_at: datetime) -> None:
        if self._timeline is None:
            self._timeline = Timeline(self._clock.now(), created_at, self._speed)
        delay = (self._timeline.wall_time(created_at) - self._clock.now()).total_seconds()
        if delay > 0:
            self._inner.flush()
            self._clock.sleep(delay, self._stop)


def run_at_speed(  # noqa: PLR0913 - the whole pacing, keyword-only
    step: Callable[[datetime], None],
    *,
    start: datetime,
    speed: float,
    stop: threading.Event,
    clock: Clock = SYSTEM_CLOCK,
    duration_seconds: float | None = None,
    interval_seconds: float = 0.2,
) -> None:
    """Call ``step(event time now)`` every ``interval_seconds`` until ``stop`` is set or ``duration_seconds`` passed.

    Event time runs ``speed`` times faster than ``clock`` from ``start`` until it catches up with the clock,
    then in real time: ``step`` is never asked for a moment ahead of the clock. ``step`` runs at least once.
    """
    wall_start = clock.now()
    timeline = Timeline(wall_start, require_aware(start, "start"), speed)
    until = None if duration_seconds is None else wall_start + timedelta(seconds=duration_seconds)
    while True:
        now = clock.now()
        step(min(timeline.event_time(now), now))
        if stop.is_set() or (until is not None and now >= until):
            return
        clock.sleep(interval_seconds, stop)
