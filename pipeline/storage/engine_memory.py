"""chDB's own memory inside the worker's process: what its allocator holds, and how it gives freed pages back.

chDB runs ClickHouse in the Python process with an allocator of its own, a jemalloc linked into the library (glibc
malloc and pymalloc hold Python's heap: :mod:`pipeline.runtime.procstat`). That jemalloc keeps freed pages for
seconds before returning them (``dirty_decay_ms`` 5000, fixed in chDB's build: ``MALLOC_CONF`` is not read), and
the worker's inserts, ClickHouse's merges and the worker's reads free memory fast. Measured on
``serambi bench --events 1000000`` (2 vCPU, 2026-11-30): 150-370 MB resident against 60-90 MB allocated.
``SYSTEM JEMALLOC PURGE`` returns those pages at once (~10 ms); :class:`pipeline.storage.store.Store` runs it after
an insert at most every :data:`PURGE_EVERY_S`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PURGE_EVERY_S", "PURGE_SQL", "STATS_SQL", "EngineMemory", "parse_jemalloc_stats"]

PURGE_EVERY_S = 1.0
"""Seconds between two purges (each after an insert). Every 0.5 s or 1 s gave the same peak RSS on the benchmark;
the purges cost ~1 s of CPU per million events either way (a purge returns what accumulated since the last)."""
PURGE_SQL = "SYSTEM JEMALLOC PURGE"
STATS_SQL = "SELECT stats FROM system.jemalloc_stats"

_SUMMARY = re.compile(r"^Allocated: (\d+), active: (\d+), metadata: (\d+).*?, resident: (\d+), mapped: (\d+)", re.M)


@dataclass(frozen=True, slots=True)
class EngineMemory:
    """What chDB's allocator holds, in bytes: ``allocated`` in use, ``resident`` in RAM (at most), ``mapped``."""

    allocated_bytes: int
    active_bytes: int
    metadata_bytes: int
    resident_bytes: int
    mapped_bytes: int

    @property
    def unused_bytes(self) -> int:
        """Resident but neither in use nor the allocator's own metadata: what a purge gives back."""
        return max(self.resident_bytes - self.active_bytes - self.metadata_bytes, 0)


def parse_jemalloc_stats(text: str) -> EngineMemory | None:
    """The summary line of ``malloc_stats_print`` (``system.jemalloc_stats``); ``None`` when it has none."""
    found = _SUMMARY.search(text)
    if found is None:
        return None
    allocated, active, metadata, resident, mapped = (int(value) for value in found.groups())
    return EngineMemory(allocated, active, metadata, resident, mapped)
