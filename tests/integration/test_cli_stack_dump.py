"""``kill -USR1`` makes any ``serambi`` command print every thread's stack to stderr, and go on (for a hung CI run)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.helpers.processes import SERAMBI, cli_env


def test_sigusr1_prints_every_threads_stack_and_the_command_goes_on(tmp_path: Path) -> None:
    simulating = subprocess.Popen(
        [SERAMBI, "simulate", "--output", "-", "--hours", "100000"],  # eleven years: it runs until stopped
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert simulating.stdout is not None
    assert simulating.stderr is not None
    try:
        simulating.stdout.readline()  # under way, its handlers installed
        simulating.send_signal(signal.SIGUSR1)
        dump = b""
        while b"File " not in dump:  # faulthandler writes the frames at once, to fd 2
            line = simulating.stderr.readline()
            assert line, "stderr closed without a stack dump"
            dump += line
        assert simulating.stdout.readline()  # still writing events: the dump did not stop it
        simulating.send_signal(signal.SIGINT)
        simulating.stdout.read()  # drain, so it can finish writing and exit
        simulating.wait(timeout=120)
    finally:
        if simulating.poll() is None:
            simulating.kill()
            simulating.wait()
    assert b"Thread 0x" in dump or b"Current thread 0x" in dump
    assert simulating.returncode == 130
