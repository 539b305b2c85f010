"""The README's commands, run as a newcomer runs them: in a fresh copy of the repository, from `make demo` on.

The copy holds what a clone holds (tracked files and new ones that are not ignored, as the working tree has them),
without the dev venv: `make demo` installs from `requirements.lock` (uv's cache makes it seconds) and runs the
demo, while the README's "second terminal" commands query it. Every command of the README's code blocks is run
here, except `make test` (the whole suite, which runs this test) and the production block's commands, which need
a Kafka cluster and a ClickHouse server (their subcommands must exist: `--help` is run).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from pipeline.runtime.statefile import read_state

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
# Lines `make install` prints, and the command line make echoes for the demo: nothing else before the demo's own.
_INSTALL_LINES = re.compile(
    r"^(installing Serambi into \.venv: .*|installed: serambi \S+ in \.venv|\.venv/bin/serambi demo .*)$"
)


def readme_commands(text: str) -> list[list[str]]:
    """The commands of the README's bash blocks, one list of lines per block (comments and blank lines removed)."""
    blocks = []
    for block in _BLOCK.findall(text):
        lines = [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
        blocks.append([line for line in lines if line and not line.startswith("#")])
    return blocks


def _copy_of_the_repository(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=CHECKOUT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = CHECKOUT / name
        if source.exists():  # a tracked file deleted in the working tree is not in a clone of it either
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    return target


def _newcomer_env() -> dict[str, str]:
    """A shell without this test run's venv or settings."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SERAMBI_")}
    return {**env, "PATH": path}


def test_the_readme_commands_work_from_a_fresh_copy(tmp_path: Path) -> None:
    clone = _copy_of_the_repository(tmp_path / "serambi")
    blocks = readme_commands((clone / "README.md").read_text(encoding="utf-8"))
    commands = [line for block in blocks for line in block]
    assert "make demo" in commands
    production = [block for block in blocks if any("SERAMBI_KAFKA_BOOTSTRAP_SERVERS" in line for line in block)]
    assert production, "the README's production block is gone: update this test"
    second_terminal = [c for c in commands if c.startswith((".venv/bin/serambi ", "curl "))]
    assert second_terminal
    skipped = {"make test"} | {line for block in production for line in block}
    assert set(commands) <= {"make demo", *second_terminal, *skipped}, "a README command this test does not run"
    env = _newcomer_env()

    # A long duration, stopped with Ctrl-C (SIGINT to the demo's own process, named in its state file) once the second
    # terminal's commands are done: a slow machine must not end the demo while they still run.
    demo = subprocess.Popen(
        ["make", "demo", "DURATION=900"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    head: list[str] = []
    try:
        for line in demo.stdout:  # the demo's own output says when the worker has joined
            head.append(line)
            if "worker joined" in line:
                break
        results = [
            subprocess.run(
                ["bash", "-c", c], cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            for c in second_terminal
        ]
        state = read_state(clone / "serambi-data" / "stack.json")
        assert state is not None, "".join(head)
        os.kill(state.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    output = "".join(head) + rest
    assert demo.returncode == 0, output
    for command, result in zip(second_terminal, results, strict=True):
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert result.stdout.strip(), command

    before_demo = output[: output.index("serambi demo: starting")].splitlines()
    assert before_demo, output
    assert all(_INSTALL_LINES.match(line) for line in before_demo), before_demo  # a quiet install
    assert "starting the worker" in output
    assert "drained: True" in output
    assert "cross-agency report" in output
    assert "stopped: on request; every step finished" in output

    serambi = str(clone / ".venv" / "bin" / "serambi")
    for line in (line for block in production for line in block):
        words = shlex.split(line)
        if words[0] == "serambi":
            subprocess.run([serambi, *words[1:], "--help"], cwd=clone, env=env, capture_output=True, check=True)
