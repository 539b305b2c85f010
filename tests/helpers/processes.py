"""Real ``serambi`` processes, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SERAMBI = str(Path(sys.executable).parent / "serambi")


def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a CLI process with its own data dir, a fixed pseudonym key and the board on a free port."""
    return {
        **os.environ,
        "SERAMBI_DATA_DIR": str(tmp_path / "data"),
        "SERAMBI_PSEUDONYM_KEY": "demo-test-key",
        "SERAMBI_BOARD_PORT": "0",  # tests run side by side: none may hold the default 8780
        "SERAMBI_INGEST_PORT": "0",  # nor the ingress's 8790
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped child is gone; a zombie would still answer kill(0), so check its state.
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        return stat.read().split()[2] != "Z"


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``serambi ARGS`` to completion; fail the test with its output unless it exits 0."""
    result = subprocess.run([SERAMBI, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_python(code: str, env: dict[str, str]) -> str:
    """Run Python ``code`` in a process of its own (chDB allows one engine per process); return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_run(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    """``serambi run`` in the background, once its worker joined: the process and its output so far."""
    stack = subprocess.Popen(
        [SERAMBI, "run", "--duration", "600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert stack.stdout is not None
    head = []
    for line in stack.stdout:  # the stack's own progress output says when the worker joined
        head.append(line)
        if "worker joined" in line:
            return stack, head
    stack.wait(timeout=60)
    raise AssertionError("".join(head))


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``process.communicate(timeout)``; past it, fail with the stacks the process was stuck in (SIGUSR1), then kill.

    ``serambi`` prints every thread's stack on SIGUSR1 (faulthandler): a hang in CI says where it hung.
    """
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        try:
            out, err = process.communicate(timeout=10)  # the dump is written at once; it may also end now
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        msg = f"{process.args!r} still running after {timeout:g} s; output:\n{out or ''}\n{err or ''}"
        raise AssertionError(msg) from None
    return out or "", err or ""
