"""Memory of a process: ``/proc/<pid>/status`` figures, and glibc malloc's tuning for the worker.

The worker's Python heap lives in glibc malloc (objects over 512 bytes: Kafka record values, rows, bodies) and in
pymalloc's arenas; chDB, embedded in the same process, has its own jemalloc (see
:meth:`pipeline.storage.store.Store.insert_encoded`). With glibc's defaults, memory freed by the worker stayed
resident: on `serambi bench --events 1000000` (2 vCPU, 2026-11-30) glibc held ~500 MB of RSS of which 100-200 MB
were in use, spread over a heap per thread (up to 8 per core) and its dynamic mmap threshold, which after the first
freed large block keeps every block up to 32 MB in those heaps. :func:`tune_malloc` bounds that: the benchmark's
peak RSS went from 1.5-1.66 GB to 1.16-1.17 GB (with chDB's purges, 1.07-1.13 GB), for ~0.6 us more CPU per event
on the hot path (10.3 -> 10.9 us: large temporary blocks are mapped anew each time instead of reused).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

__all__ = [
    "MALLOC_ARENAS",
    "MALLOC_MMAP_THRESHOLD_BYTES",
    "MALLOC_TRIM_THRESHOLD_BYTES",
    "memory_mb",
    "reset_peak_rss",
    "tune_malloc",
]

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
"""Heaps glibc may create: the worker's allocating threads (event loop, processor, Kafka) mostly hold the GIL."""
MALLOC_MMAP_THRESHOLD_BYTES = 64 * 1024
"""Blocks from this size on get their own mapping, returned to the system when freed (a fixed value also turns off
glibc's dynamic threshold). The worker allocates few of them: record values (~100 KB), row bodies (a few MB)."""
MALLOC_TRIM_THRESHOLD_BYTES = 1024 * 1024
"""Free memory at the top of a heap beyond this goes back to the system at once (default: 128 KB, dynamic)."""


def memory_mb(pid: int | str | None, field: str = "VmRSS") -> float | None:
    """``field`` of ``/proc/<pid>/status`` in MiB (``VmRSS`` now, ``VmHWM`` the peak); ``None`` if unknown.

    ``pid`` may be ``"self"``; ``None`` (no such process, e.g. an external Kafka) gives ``None``.
    """
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith(f"{field}:")), f"{field}: 0 kB")
    return int(line.split()[1]) / 1024


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); ``True`` when done.

    For a benchmark that measures one phase's peak in a process that ran others before: read
    ``memory_mb("self", "VmHWM")`` after the phase (``getrusage``'s ``ru_maxrss`` cannot be reset).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def tune_malloc(*, release: bool = True) -> bool:
    """Bound glibc malloc's retained memory in this process; ``True`` when it applied (glibc), else no-op.

    Sets :data:`MALLOC_ARENAS`, :data:`MALLOC_MMAP_THRESHOLD_BYTES` and :data:`MALLOC_TRIM_THRESHOLD_BYTES`
    (``mallopt(3)``), best called before the process starts its threads (each thread allocating before the limit
    keeps its own heap). With ``release``, also gives back the free memory glibc holds now (``malloc_trim(3)``),
    e.g. what a benchmark's earlier phase left. Safe to call again. On another C library it does nothing.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = (
        (_M_ARENA_MAX, MALLOC_ARENAS),
        (_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES),
        (_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES),
    )
    applied = all(libc.mallopt(param, value) == 1 for param, value in settings)
    if not applied:
        log.warning("glibc refused a malloc tuning (mallopt); memory freed by the worker may stay resident")
    if release:
        libc.malloc_trim(0)
    return applied


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # musl and others have no mallopt/malloc_trim (or a stub): glibc alone is tuned.
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") and hasattr(libc, "gnu_get_libc_version")):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return libc
