"""The worker's hot path alone: CPU time per event of decode + match + encode, without broker or ClickHouse.

End-to-end figures on a shared 2-core machine vary by +-10 % run to run; the process CPU time of the exact
production path (:meth:`Processor.prepare` then :meth:`Processor.commit`, into an inserter that discards) is a
steadier measure of what a code change costs per event. The same run gives the time per stage
(:class:`pipeline.stream.processor.StageTimes`), the garbage collector's share, the facts found and the open
conversations left; a second pass of the same records under ``tracemalloc`` gives the matcher's memory per open
conversation (tracing slows everything down, so it never runs during the timed pass). The needs-a-reply
classification, inside ``decode``, is timed apart on the same records' citizen messages (:mod:`pipeline.bench.classify`,
warm cache as in the run): ``classify_us_per_event`` is its share of ``decode`` (the stages stay the processor's).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.bench.classify import citizen_texts, measure_classify
from pipeline.bench.data import SyntheticEvents
from pipeline.domain.matching import ConversationKey
from pipeline.domain.tally import UnansweredTally
from pipeline.metrics import Metrics
from pipeline.runtime.gctune import tune_gc
from pipeline.storage.agencies import fallback_agency
from pipeline.stream.decode import Record
from pipeline.stream.processor import Inserter, Processor, StageTimes
from schemas.agency import Agency
from schemas.events import Interaction

__all__ = [
    "CHUNK_RECORDS",
    "PYTHON_STAGES",
    "STAGES",
    "GcTime",
    "HotPath",
    "bench_processor",
    "bench_records",
    "hot_path_us_per_event",
    "measure_hot_path",
    "per_event_us",
    "replay",
]

STAGES = ("decode", "reload", "match", "evict", "encode", "insert")
"""The processor's stages (:class:`pipeline.stream.processor.StageTimes`), in the order a chunk goes through them."""
PYTHON_STAGES = STAGES[:-1]
"""The stages of :meth:`Processor.prepare` (Python work); ``insert`` is :meth:`Processor.commit`'s."""
CHUNK_RECORDS = 40
"""Records (of 500 events each) the benchmarks hand the processor at a time, as the embedded stack's worker does."""


class GcTime:
    """Wall seconds the garbage collector ran while this context was open (``gc.callbacks``), any thread.

    Collections interrupt whatever runs, so their time is also inside the stage that was running.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __enter__(self) -> GcTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: Mapping[str, int]) -> None:
        # A collection holds the GIL from start to stop: two never interleave.
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


@dataclass(frozen=True)
class HotPath:
    """What one hot-path run measured; ``stages_us`` per event: the stages, ``gc``, ``other`` (the rest of the CPU).

    ``classify_us_per_event``: the needs-a-reply classification's part of ``decode``; ``citizen_messages``
    classified, at ``classify_us_per_message`` each (warm cache) and ``classify_cold_us_per_message`` (cold).
    """

    events: int
    us_per_event: float
    stages_us: dict[str, float]
    facts: int
    open_conversations: int
    bytes_per_conversation: float
    citizen_messages: int = 0
    classify_us_per_event: float = 0.0
    classify_us_per_message: float = 0.0
    classify_cold_us_per_message: float = 0.0


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
        agency = self._agencies.get(agency_id)
        if agency is None:  # built once: a validated model per fact would be charged to the hot path
            agency = self._agencies[agency_id] = fallback_agency(agency_id)
        return agency

    def is_account(self, platform: str, account_id: str) -> bool:
        """No account is an agency's: every citizen id in the load is already a pseudonym."""
        return False


class _NoHistory:
    # Nothing is stored, so a reply later than the lateness finds its conversation evicted and matches nothing
    # here (about 1 % of replies); the end-to-end run reloads it from ClickHouse.
    def conversations(self, keys: Collection[ConversationKey]) -> Sequence[Interaction]:
        return []

    def recent(
        self, lateness: timedelta, until: datetime, partitions: Collection[int] | None = None
    ) -> Sequence[Interaction]:
        return []


def measure_hot_path(data: SyntheticEvents, events: int, *, memory: bool = True) -> HotPath:
    """Run ``events`` events of ``data`` through prepare + commit: CPU per event, stages, facts, memory.

    ``memory``: also measure the matcher's bytes per open conversation (a second, traced pass; else 0).
    """
    records = bench_records(data, events)
    tune_gc()  # as the stack does
    processor = bench_processor()
    # The surge counts as the worker keeps them, drained once per chunk (the worker drains once a second, so
    # this is the dearer side).
    processor.tally = tally = UnansweredTally("bench", lambda: datetime.now(UTC))
    processor.stages = stages = StageTimes()
    with GcTime() as collector:
        started = time.process_time()
        for first in range(0, len(records), CHUNK_RECORDS):
            prepared = processor.prepare(records[first : first + CHUNK_RECORDS])
            processor.commit(prepared)
            processor.count(prepared)
            tally.drain()
        cpu_s = time.process_time() - started
    # After the timed pass, so it leaves the classifier's cache as warm as the run left it.
    classified = measure_classify("hot path", citizen_texts(record.value for record in records))
    return HotPath(
        events=events,
        us_per_event=cpu_s / max(events, 1) * 1e6,
        stages_us=per_event_us(stages.seconds, collector.seconds, cpu_s, events),
        facts=processor.facts_total,
        open_conversations=len(processor.matcher),
        bytes_per_conversation=_traced_bytes_per_conversation(records) if memory else 0.0,
        citizen_messages=classified.messages,
        classify_us_per_event=classified.warm_us_per_message * classified.messages / max(events, 1),
        classify_us_per_message=classified.warm_us_per_message,
        classify_cold_us_per_message=classified.cold_us_per_message,
    )


def hot_path_us_per_event(data: SyntheticEvents, events: int) -> float:
    """Process CPU microseconds per event for ``events`` events through prepare + commit."""
    return measure_hot_path(data, events, memory=False).us_per_event


def per_event_us(
    stages: Mapping[str, float],
    gc_s: float,
    cpu_s: float,
    events: int,
    threads: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Microseconds per event of each stage, ``gc``, each of ``threads`` if given, and ``other``.

    ``stages``: wall seconds per stage (:attr:`StageTimes.seconds`); ``cpu_s``: the process CPU of the same run.
    ``threads``: CPU seconds of groups of threads that together do all the Python work (end to end:
    ``event_loop``, Faust's agents and the surge detector; ``kafka_threads``, Faust's Kafka consumer thread and
    the other Python threads; ``processor_threads``, where prepare and commit run, chDB's calls included);
    ``other`` is then ``cpu_s`` minus them: ClickHouse's own threads. Without ``threads`` (the hot path: one
    thread), ``other`` is ``cpu_s`` minus the stages. ``gc`` is inside the stages it interrupted; stage times are
    wall times, so end to end they include waits for the GIL while the other threads run.
    """
    scale = 1e6 / max(events, 1)
    out = {stage: stages.get(stage, 0.0) * scale for stage in STAGES}
    out["gc"] = gc_s * scale
    if threads is None:
        accounted = sum(stages.get(stage, 0.0) for stage in STAGES)
    else:
        out.update((group, seconds * scale) for group, seconds in threads.items())
        accounted = sum(threads.values())
    out["other"] = max(cpu_s - accounted, 0.0) * scale
    return out


def bench_processor(inserter: Inserter | None = None) -> Processor:
    """The worker's processor as the benchmarks run it: default calendars, no stored past, ``inserter`` (or none)."""
    return Processor(
        inserter if inserter is not None else _Discard(),
        Metrics(CollectorRegistry()),
        _DefaultCalendars(),
        _NoHistory(),
    )


def bench_records(data: SyntheticEvents, events: int) -> list[Record]:
    """The next ``events`` events of ``data`` as the worker's records (batch records, offsets in order)."""
    return [Record(partition, offset, value) for offset, (partition, value) in enumerate(data.batch_records(events))]


def replay(processor: Processor, records: Sequence[Record]) -> None:
    """Prepare and commit ``records`` through ``processor``, :data:`CHUNK_RECORDS` at a time."""
    for first in range(0, len(records), CHUNK_RECORDS):
        processor.commit(processor.prepare(records[first : first + CHUNK_RECORDS]))


def _traced_bytes_per_conversation(records: Sequence[Record]) -> float:
    """Bytes the matcher's open conversations hold, per conversation, after the same records (traced allocations)."""
    processor = bench_processor()  # created before tracing: its fixed parts are not the conversations'
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        replay(processor, records)
        gc.collect()  # only what the processor keeps stays: the matcher (and the watermarks, a few bytes)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held / max(len(processor.matcher), 1)
