"""A worker's per-minute partial counts of citizen messages, for the surge detector. Pure.

The worker tells the tally each citizen message it meets for the first time (:meth:`UnansweredTally.asked`),
each first agency reply (:meth:`~UnansweredTally.answered`) and how far each partition got in event time
(:meth:`~UnansweredTally.seen`); after each stored batch it takes the counts since the previous batch
(:meth:`~UnansweredTally.drain`) and sends them to the detector, which sums all workers' counts.

The backlog a worker reports is the messages *it* took that are still unanswered, within ``horizon`` (24 h) of
event time: a message older than that, or one that arrived before the worker started, is not in it. The
detector judges how the backlog *grows* during a surge, which these counts give exactly; the agency's full
backlog is the report's (``serambi_agency_backlog_messages``). Counting only first meetings and first replies
keeps the counts exact across replays: a message replayed after a restart is already stored, the matcher
reloads it with its conversation, and it is not met for the first time again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Concatenate, ParamSpec, TypeVar

import msgspec

from pipeline.domain.progress import Progress
from pipeline.domain.surge import CountRecord

__all__ = ["CountDrain", "UnansweredTally"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_OF = attrgetter("minute")


def _minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60  # aware datetimes: faster than a timedelta from the epoch


def _at(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


class _Pending(msgspec.Struct, gc=False):
    # One per agency x platform x minute counted (about one per two events in a replay): a Struct is made in a
    # fraction of a dataclass's time. No cycle can pass through it (ints and a list of strings).
    arrivals: int = 0
    answered: int = 0
    net: int = 0  # change of the backlog in this minute
    examples: list[str] = msgspec.field(default_factory=list)  # message ids; the platform is added when drained


@dataclass(slots=True)
class _Key:
    outstanding: dict[int, int] = field(default_factory=dict)  # minute asked -> messages still unanswered
    total: int = 0
    pending: dict[int, _Pending] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CountDrain:
    """What a worker counted since its previous drain: records per minute, and how far it got in event time."""

    records: list[CountRecord]
    watermark: datetime | None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(method: Callable[Concatenate[UnansweredTally, _P], _R]) -> Callable[Concatenate[UnansweredTally, _P], _R]:
    def holding(self: UnansweredTally, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    holding.__name__, holding.__doc__ = method.__name__, method.__doc__
    return holding


class UnansweredTally:
    """Counts arrivals, first replies and the unanswered backlog of one worker, per agency x platform x minute.

    Args:
        source: the worker's name (stable across its restarts).
        clock: wall clock, to tell idle partitions apart (injected: tests pass a fake).
        horizon: how long (event time) a message stays in the backlog at most.
        idle: a partition not seen for this long (wall clock) no longer holds the watermark back.
        max_examples: example ids kept per minute, as ``<platform>:<message_id>`` (the detector pseudonymises
            the few an alert carries: no keyed hash on the hot path).

    Example::

        tally = UnansweredTally("worker-1", clock)
        tally.seen(0, event.created_at)
        tally.asked("jpm", "x", "m1", event.created_at)
        drain = tally.drain()   # CountDrain(records=[CountRecord(...)], watermark=...)
    """

    def __init__(
        self,
        source: str,
        clock: Callable[[], datetime],
        horizon: timedelta = timedelta(hours=24),
        idle: timedelta = timedelta(seconds=30),
        max_examples: int = 3,
    ) -> None:
        self.source = source
        self._horizon = int(horizon.total_seconds() // 60)
        self._max_examples = max_examples
        self._keys: dict[tuple[str, str], _Key] = {}
        self._progress = Progress(clock, idle)
        # The event loop counts and drains; a worker thread seeds and resets at a rebalance (Processor.assign).
        self._lock = threading.RLock()

    @_locked
    def asked(self, agency: str, platform: str, message_id: str, created_at: datetime) -> None:
        """A citizen message met for the first time."""
        key = self._key(agency, platform)
        minute = _minute(created_at)
        key.outstanding[minute] = key.outstanding.get(minute, 0) + 1
        key.total += 1
        pending = key.pending.get(minute)
        if pending is None:
            pending = key.pending[minute] = _Pending()
        pending.arrivals += 1
        pending.net += 1
        if len(pending.examples) < self._max_examples:
            pending.examples.append(message_id)

    @_locked
    def asked_many(self, messages: Iterable[tuple[str, str, str, datetime]]) -> None:
        """:meth:`asked` for each ``(agency, platform, message_id, created_at)``, grouped by minute first."""
        # The worker's hot path: one dict append per message, the bookkeeping once per agency x minute.
        groups: dict[tuple[str, str, int], list[str]] = {}
        for agency, platform, message_id, created_at in messages:
            group = (agency, platform, int(created_at.timestamp()) // 60)
            ids = groups.get(group)
            if ids is None:
                groups[group] = [message_id]
            else:
                ids.append(message_id)
        most = self._max_examples
        for (agency, platform, minute), ids in groups.items():
            key = self._key(agency, platform)
            count = len(ids)
            outstanding = key.outstanding
            outstanding[minute] = outstanding.get(minute, 0) + count
            key.total += count
            pending = key.pending.get(minute)
            if pending is None:
                key.pending[minute] = _Pending(count, 0, count, ids[:most])
                continue
            pending.arrivals += count
            pending.net += count
            room = most - len(pending.examples)
            if room > 0:
                pending.examples.extend(ids[:room])

    @_locked
    def answered(self, agency: str, platform: str, asked_at: datetime, answered_at: datetime) -> None:
        """A citizen message got its first agency reply (it may have arrived before this worker started)."""
        key = self._key(agency, platform)
        minute = _minute(answered_at)
        pending = key.pending.get(minute)
        if pending is None:
            pending = key.pending[minute] = _Pending()
        pending.answered += 1
        asked = _minute(asked_at)
        left = key.outstanding.get(asked, 0)
        if left > 0:  # else not one this worker counted: its backlog never held it
            if left == 1:
                del key.outstanding[asked]
            else:
                key.outstanding[asked] = left - 1
            key.total -= 1
            pending.net -= 1

    @_locked
    def seed(self, messages: Iterable[tuple[str, str, str, datetime]]) -> int:
        """Start the backlog from ``messages`` (``(agency, platform, message_id, created_at)``, oldest first).

        A worker that took over partitions (at start-up or after a rebalance) counts their unanswered messages
        as its backlog, without counting them as arrivals: they arrived before, at whichever worker met them.
        Their first replies then lower this worker's backlog, which the previous owner no longer reports (see
        :meth:`reset_backlog`), so the detector's sum over workers stays the agencies' backlog. Returns how
        many were taken (those within ``horizon`` of the newest).
        """
        taken = list(messages)
        if not taken:
            return 0
        floor = _minute(max(at for *_, at in taken)) - self._horizon
        count = 0
        for agency, platform, _message_id, created_at in taken:
            minute = _minute(created_at)
            if minute < floor:
                continue
            key = self._key(agency, platform)
            key.outstanding[minute] = key.outstanding.get(minute, 0) + 1
            key.total += 1
            count += 1
        return count

    @_locked
    def reset_backlog(self) -> None:
        """Forget the backlog (not the counts waiting to be drained): the partitions it came from were revoked.

        Their new owner reports those messages from now on (:meth:`seed`); this worker's next records report
        only what it took over itself. The partitions' progress is forgotten too.
        """
        for key in self._keys.values():
            key.outstanding.clear()
            key.total = 0
        self._progress = Progress(self._progress.clock, self._progress.idle)

    @_locked
    def seen(self, partition: int, latest: datetime) -> None:
        """Partition ``partition`` got events up to ``latest`` (event time)."""
        self._progress.seen(partition, latest)

    @property
    @_locked
    def watermark(self) -> datetime | None:
        """The slowest active partition's latest event (all partitions idle: the latest of them)."""
        return self._progress.watermark()

    @_locked
    def drain(self) -> CountDrain:
        """The counts of every minute touched since the previous drain (then forgotten), oldest minute first."""
        watermark = self.watermark
        records: list[CountRecord] = []
        starts: dict[int, datetime] = {}  # a minute's start, made once per drain (every agency has the same minutes)
        for (agency, platform), key in self._keys.items():
            if not key.pending:
                continue
            if watermark is not None:
                self._expire(key, _minute(watermark) - self._horizon)
            # Minutes enter in the order messages were met, about event order within each partition: the first
            # one is the oldest but for a late message, and min() over a day of minutes per batch would cost more.
            oldest = _at(next(iter(key.outstanding))) if key.outstanding else None
            # The backlog at the end of each minute: today's total less what later minutes of the batch added.
            minutes = sorted(key.pending)
            later, total = 0, key.total
            backlogs = [0] * len(minutes)
            for i in range(len(minutes) - 1, -1, -1):
                backlogs[i] = max(0, total - later)
                later += key.pending[minutes[i]].net
            prefix = f"{platform}:"
            for minute, backlog in zip(minutes, backlogs, strict=True):
                pending = key.pending[minute]
                start = starts.get(minute)
                if start is None:
                    start = starts[minute] = _at(minute)
                examples = tuple([prefix + message_id for message_id in pending.examples])
                records.append(
                    CountRecord(
                        agency,
                        platform,
                        self.source,
                        start,
                        pending.arrivals,
                        pending.answered,
                        backlog,
                        oldest,
                        examples,
                    )
                )
            key.pending.clear()
        records.sort(key=_MINUTE_OF)
        return CountDrain(records, watermark)

    def _key(self, agency: str, platform: str) -> _Key:
        key = self._keys.get((agency, platform))
        if key is None:
            key = self._keys[(agency, platform)] = _Key()
        return key

    @staticmethod
    def _expire(key: _Key, floor: int) -> None:
        # From the front only (see drain): a late minute behind newer ones leaves once they have.
        while key.outstanding:
            minute = next(iter(key.outstanding))
            if minute >= floor:
                return
            key.total -= key.outstanding.pop(minute)
