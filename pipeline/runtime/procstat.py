"""Memory of a process from ``/proc/<pid>/status``: for the broker rotation and the benchmarks."""

from __future__ import annotations

from pathlib import Path

__all__ = ["memory_mb"]


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
