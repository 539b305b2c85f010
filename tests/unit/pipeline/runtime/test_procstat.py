from __future__ import annotations

import platform

import pytest

from pipeline.runtime.procstat import memory_mb, reset_peak_rss, tune_malloc

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt/malloc_trim are glibc's")


@glibc_only
def test_freed_blocks_go_back_to_the_system_once_tuned() -> None:
    assert tune_malloc()
    before = memory_mb("self")
    # ~100 MB in 100 KB blocks, then all freed but the last: with glibc's defaults they stay in its heap below the
    # last one (only the top of a heap is returned); tuned, each block has its own mapping and leaves when freed.
    blocks = [b"\x01" * 100_000 for _ in range(1000)]
    grown = memory_mb("self")
    last = blocks[-1]
    del blocks
    after = memory_mb("self")
    assert before is not None
    assert grown is not None
    assert after is not None
    assert grown - before > 80
    assert after - before < 30
    assert len(last) == 100_000


def test_the_peak_can_be_reset_to_the_current_rss() -> None:
    block = bytearray(150 * 1024 * 1024)  # zero-filled: every page touched
    peak = memory_mb("self", "VmHWM")
    del block
    assert reset_peak_rss()
    now = memory_mb("self", "VmHWM")
    assert peak is not None
    assert now is not None
    assert now < peak - 100


def test_memory_of_no_process_is_unknown() -> None:
    assert memory_mb(None) is None
    assert memory_mb(2**31 - 1) is None  # beyond any pid
