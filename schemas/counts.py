"""Surge counts: a worker's per-minute partial counts of citizen messages, for the surge detector.

Each worker counts, for the partitions it consumes, the citizen messages that arrived and were answered per
agency x platform x event-time minute, and how many of the messages it took are still unanswered; it sends them
after each stored batch as one :class:`CountBatch` on ``serambi.counts.v1``. The detector sums the partial
counts of all workers before judging a minute, so an agency is judged on its whole traffic whatever the
number of partitions or workers. ``watermark`` tells how far in event time a worker has reported everything
(its slowest active partition), so the detector judges a minute only once every worker is past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Protocol

import msgspec
from msgspec import Meta
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.alerts import ALL_PLATFORMS, MAX_EXAMPLE_IDS
from schemas.events import Platform
from schemas.fastdecode import needs_pydantic

__all__ = ["ALL_PLATFORMS", "CountBatch", "CountBatchView", "MinuteCount", "MinuteCountView", "decode_count_batch"]

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


# --- The detector's read path: msgspec twins, pydantic for anything they refuse ---------------------------------
#
# The detector reads every worker's counts: in a replay, about one count per two events. Validating each with
# pydantic cost ~3 us, as much as judging it. The Structs below have the same fields, constraints and enum, and
# decode_count_batch() falls back to the pydantic models for anything they refuse (lax spellings such as "1" for
# 1, times with more than 6 fraction digits), so what is accepted and its values are pydantic's (a property test
# holds both equal).


class MinuteCountView(Protocol):
    """What the detector reads of a count: :class:`MinuteCount` or its msgspec twin."""

    @property
    def agency(self) -> str: ...
    @property
    def platform(self) -> Platform: ...
    @property
    def minute(self) -> datetime: ...
    @property
    def arrivals(self) -> int: ...
    @property
    def answered(self) -> int: ...
    @property
    def backlog(self) -> int: ...
    @property
    def oldest_unanswered_at(self) -> datetime | None: ...
    @property
    def example_ids(self) -> tuple[str, ...]: ...


class CountBatchView(Protocol):
    """What the detector reads of a batch: :class:`CountBatch` or its msgspec twin."""

    @property
    def source(self) -> str: ...
    @property
    def watermark(self) -> datetime | None: ...
    @property
    def sent_at(self) -> datetime: ...
    @property
    def counts(self) -> Sequence[MinuteCountView]: ...


_FastCount = Annotated[int, Meta(ge=0)]
_Aware = Annotated[datetime, Meta(tz=True)]


class _FastMinuteCount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    agency: Annotated[str, Meta(min_length=1, max_length=64)]
    platform: Platform
    minute: _Aware
    arrivals: _FastCount = 0
    answered: _FastCount = 0
    backlog: _FastCount = 0
    oldest_unanswered_at: _Aware | None = None
    example_ids: Annotated[tuple[Annotated[str, Meta(max_length=512)], ...], Meta(max_length=MAX_EXAMPLE_IDS)] = ()


class _FastCountBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Annotated[str, Meta(min_length=1, max_length=200)]
    watermark: _Aware | None
    sent_at: _Aware
    counts: tuple[_FastMinuteCount, ...] = ()


_COUNTS_DECODER = msgspec.json.Decoder(_FastCountBatch)


def decode_count_batch(value: bytes) -> CountBatchView:
    """The :class:`CountBatch` of a record's ``value``, as pydantic reads it; ``ValueError`` saying why not."""
    if not needs_pydantic(value):
        try:
            return _COUNTS_DECODER.decode(value)
        except msgspec.DecodeError:
            pass  # pydantic decides, and says why in its own words
    return CountBatch.model_validate_json(value)
