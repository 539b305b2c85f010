from __future__ import annotations

from pipeline.storage.engine_memory import EngineMemory, parse_jemalloc_stats

# The summary line as chDB 4.4's system.jemalloc_stats prints it, amid the rest of malloc_stats_print.
_STATS = """___ Begin jemalloc statistics ___
Version: "5.3-RC"
Allocated: 31985864, active: 32575488, metadata: 3351264 (n_thp 0, edata 163200, rtree 2097152), resident: 41230336, \
mapped: 48742400, retained: 3686400
Background threads: 3, num_runs: 7, run_interval: 30310510 ns
"""


def test_the_summary_line_gives_the_allocators_figures() -> None:
    memory = parse_jemalloc_stats(_STATS)
    assert memory == EngineMemory(31985864, 32575488, 3351264, 41230336, 48742400)
    assert memory.unused_bytes == 41230336 - 32575488 - 3351264


def test_stats_without_a_summary_give_none() -> None:
    assert parse_jemalloc_stats("___ Begin jemalloc statistics ___\nVersion: x\n") is None


def test_unused_never_goes_negative() -> None:
    # resident is an upper bound jemalloc keeps lazily: it may lag behind active right after a purge.
    assert EngineMemory(10, 20, 5, 15, 40).unused_bytes == 0
