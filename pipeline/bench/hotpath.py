"""The worker's hot path alone: CPU time per event of decode + match + encode, without broker or ClickHouse.

End-to-end figures on a shared 2-core machine vary by +-10 % run to run; the process CPU time of the exact
production path (:meth:`Processor.prepare` then :meth:`Processor.commit`, into an inserter that discards) is a
steadier measure of what a code change costs per event.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.bench.data import SyntheticEvents
from pipeline.domain.matching import ConversationKey
from pipeline.domain.tally import UnansweredTally
from pipeline.metrics import Metrics
from pipeline.runtime.gctune import tune_gc
from pipeline.storage.agencies import fallback_agency
from pipeline.stream.decode import Record
from pipeline.stream.processor import Processor
from schemas.agency import Agency
from schemas.events import Interaction

__all__ = ["hot_path_us_per_event"]

# What the worker hands the processor at a time (records of 500 events each), as in the embedded stack.
_CHUNK_RECORDS = 40


class _Discard:
    """An inserter that drops every row: the measure is the Python work, not ClickHouse's."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Drop the rows."""

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Drop the rows."""


class _DefaultCalendars:
    """Every agency on the default calendar (the synthetic agencies are in no directory)."""

    def __init__(self) -> None:
        self._agencies: dict[str, Agency] = {}

    def get(self, agency_id: str) -> Agency:
        """The default-calendar agency of this id."""
        return self._agencies.setdefault(agency_id, fallback_agency(agency_id))

    def is_account(self, platform: str, account_id: str) -> bool:
        """No account is an agency's: every author id in the load is already a pseudonym."""
        return False


class _NoHistory:
    def conversations(self, keys: Collection[ConversationKey]) -> Sequence[Interaction]:
        return []

    def recent(
        self, lateness: timedelta, until: datetime, partitions: Collection[int] | None = None
    ) -> Sequence[Interaction]:
        return []


def hot_path_us_per_event(data: SyntheticEvents, events: int) -> float:
    """Process CPU microseconds per event for ``events`` events through prepare + commit."""
    records = [Record(partition, offset, value) for offset, (partition, value) in enumerate(data.batch_records(events))]
    tune_gc()  # as the stack does
    processor = Processor(_Discard(), Metrics(CollectorRegistry()), _DefaultCalendars(), _NoHistory())
    # The surge counts as the worker keeps them, drained once per chunk (the worker drains once a second, so
    # this is the dearer side).
    processor.tally = tally = UnansweredTally("bench", lambda: datetime.now(UTC))
    started = time.process_time()
    for first in range(0, len(records), _CHUNK_RECORDS):
        prepared = processor.prepare(records[first : first + _CHUNK_RECORDS])
        processor.commit(prepared)
        processor.count(prepared)
        tally.drain()
    return (time.process_time() - started) / max(events, 1) * 1e6
