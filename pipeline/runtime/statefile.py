"""The state file a running stack leaves in its data dir, so other commands can find it."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["LOCAL_OPENER", "StackState", "clear_state", "read_state", "write_state"]


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
    """The state of a running stack, else ``None``: a file left by a dead process is ignored.

    Alive means: the pid exists and the stack's API answers (a reused pid does not).
    """
    try:
        state = StackState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(state.pid) or not _answers(state.api_url, state.pid):
        return None
    return state


# The stack's API is on loopback: never route it through the environment's http_proxy.
LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(api_url: str, pid: int) -> bool:
    try:
        with LOCAL_OPENER.open(api_url + "/health", timeout=5) as response:
            return bool(json.loads(response.read()).get("pid") == pid)
    except TimeoutError:
        return True  # alive but busy (or paused): not stale
    except (OSError, ValueError):
        return False


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
