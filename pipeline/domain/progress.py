"""Event-time progress of several sources (partitions, workers): how far all of them got. Pure.

The processor bounds eviction by it, the tally reports it with its counts, and the detector moves its event time
by it: each keeps, per source, the latest event time seen and when it was last heard of (wall clock, injected), so
that a source silent for longer than ``idle`` no longer holds the others back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime, timedelta

__all__ = ["Progress"]


class Progress:
    """The latest event time of each source, and the slowest of those still active.

    Example::

        progress = Progress(clock, idle=timedelta(seconds=30))
        progress.seen(0, latest_event_time)
        progress.watermark()   # the slowest active source's, or the latest of all when none is active
    """

    def __init__(self, clock: Callable[[], datetime], idle: timedelta) -> None:
        self.clock = clock
        self.idle = idle
        self._marks: dict[Hashable, tuple[datetime, datetime]] = {}  # source -> (latest event, heard of at)

    def seen(self, source: Hashable, latest: datetime) -> None:
        """``source`` got events up to ``latest``; a later call with an earlier time never moves it back."""
        previous = self._marks.get(source)
        self._marks[source] = (latest if previous is None else max(previous[0], latest), self.clock())

    def slowest_active(self) -> datetime | None:
        """The earliest latest-event of the sources heard of within ``idle``; ``None`` when none is."""
        now = self.clock()
        return min((mark for mark, heard in self._marks.values() if now - heard <= self.idle), default=None)

    def watermark(self) -> datetime | None:
        """:meth:`slowest_active`, or, when every source is idle, the latest of all (all they sent is in)."""
        active = self.slowest_active()
        if active is not None:
            return active
        return max((mark for mark, _ in self._marks.values()), default=None)
