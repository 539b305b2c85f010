"""The state file a running stack leaves in its data dir, so other commands can find it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["StackState", "clear_state", "read_state", "write_state"]


@dataclass(frozen=True)
class StackState:
    """Endpoints of a running stack."""

    pid: int
    api_url: str
    bootstrap_servers: str
    started_at: str
    broker_pid: int | None = None


def write_state(path: Path, state: StackState) -> None:
    """Write the state file atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    tmp.replace(path)


def read_state(path: Path) -> StackState | None:
    """The state of a stack whose process is alive, else ``None`` (a stale file is ignored)."""
    try:
        state = StackState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def clear_state(path: Path, pid: int) -> None:
    """Remove the state file if it is ours."""
    current = read_state(path)
    if current is None or current.pid == pid:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
