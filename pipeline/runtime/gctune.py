"""The worker process's garbage-collector thresholds.

The worker holds hundreds of thousands of long-lived objects (open conversations, Faust's and chDB's own) and
allocates many short-lived ones per event (decoded models, rows, counts). With CPython's default thresholds
(700, 10, 10) the collector runs so often that it traverses that long-lived heap again and again: measured on the
hot-path benchmark (`serambi bench` phase 0, 200k events, 2 vCPU, 2026-11-30), 17-20 us of CPU per event, of which
about 8 us is collection (9-10 us with the collector off). With (50,000, 20, 20) it is 12-14 us: young objects are
still collected every 50,000 allocations (memory stays bounded; reference counting frees most of them anyway),
the old generations far less often.
"""

from __future__ import annotations

import gc

__all__ = ["WORKER_GC_THRESHOLDS", "tune_gc"]

WORKER_GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Set :data:`WORKER_GC_THRESHOLDS` for this process (the stack and the benchmarks measuring it)."""
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
