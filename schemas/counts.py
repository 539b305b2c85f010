"""Surge counts: a worker's per-minute partial counts of citizen messages, for the surge detector.

Each worker counts, for the partitions it consumes, the citizen messages that arrived and were answered per
agency x platform x event-time minute, and how many of the messages it took are still unanswered; it sends them
after each stored batch as one :class:`CountBatch` on ``serambi.counts.v1``. The detector sums the partial
counts of all workers before judging a minute, so an agency is judged on its whole traffic whatever the
number of partitions or workers. ``watermark`` tells how far in event time a worker has reported everything
(its slowest active partition), so the detector judges a minute only once every worker is past it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.alerts import ALL_PLATFORMS, MAX_EXAMPLE_IDS
from schemas.events import Platform

__all__ = ["ALL_PLATFORMS", "CountBatch", "MinuteCount"]

_Count = Annotated[int, Field(ge=0)]


class MinuteCount(BaseModel):
    """One worker's counts of one agency x platform for one event-time minute.

    Args:
        agency, platform: whose messages.
        minute: start of the event-time minute (UTC, on a minute boundary).
        arrivals: citizen messages created in the minute that the worker met for the first time.
        answered: citizen messages whose first agency reply was made in the minute.
        backlog: the worker's unanswered messages of this agency x platform at the end of the minute (among
            those it took within its horizon), and ``oldest_unanswered_at`` the minute of the oldest of them.
        example_ids: a few pseudonymised ids of messages that arrived in the minute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agency: Annotated[str, Field(min_length=1, max_length=64)]
    platform: Platform
    minute: AwareDatetime
    arrivals: _Count = 0
    answered: _Count = 0
    backlog: _Count = 0
    oldest_unanswered_at: AwareDatetime | None = None
    example_ids: Annotated[tuple[Annotated[str, Field(max_length=512)], ...], Field(max_length=MAX_EXAMPLE_IDS)] = ()


class CountBatch(BaseModel):
    """Value of a record on ``serambi.counts.v1``: what one worker counted since its previous batch.

    Args:
        source: the worker that counted (stable across its restarts: its backlog replaces the previous one).
        watermark: event time up to which the worker has counted everything it will count (``None`` before
            it saw any event); a record of an earlier minute after it comes too late to be judged.
        sent_at: wall clock of sending: a worker that stops sending no longer holds the detector back.
        counts: the minutes it counted, any order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Annotated[str, Field(min_length=1, max_length=200)]
    watermark: AwareDatetime | None
    sent_at: AwareDatetime
    counts: tuple[MinuteCount, ...] = ()

    def key(self) -> bytes:
        """The Kafka key: the source, so one worker's batches stay in order."""
        return self.source.encode()
