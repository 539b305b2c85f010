"""The state file and admin token a running stack leaves in its data dir, so other commands can find it.

Both are written 0600 (whatever the umask) in a 0700 data dir: the token lets whoever reads it change
the agency directory through the API, so only the stack's own user may.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import SecretStr

from pipeline.settings import Settings, ensure_private_dir

__all__ = [
    "LOCAL_OPENER",
    "StackState",
    "clear_state",
    "client_token",
    "read_state",
    "write_private",
    "write_state",
]


@dataclass(frozen=True)
class StackState:
    """Endpoints of a running stack."""

    pid: int
    api_url: str
    bootstrap_servers: str
    started_at: str
    broker_pid: int | None = None


def write_state(path: Path, state: StackState) -> None:
    """Write the state file atomically (readers never see half a file), readable by its owner only."""
    write_private(path, json.dumps(asdict(state), indent=2))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600, in a 0700 directory."""
    ensure_private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # O_EXCL below: a leftover (maybe 0644) temp file is never reused
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def client_token(settings: Settings) -> SecretStr:
    """The token a client of this data dir's stack sends: its admin token, else ``SERAMBI_API_TOKEN``.

    Processes on the stack's machine and user read the admin token (it also allows ``POST /agencies``);
    others need the configured API token (reads only). Empty when neither exists.
    """
    try:
        return SecretStr(settings.admin_token_file.read_text(encoding="utf-8").strip())
    except OSError:
        return settings.api_token


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
