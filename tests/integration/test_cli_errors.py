"""Errors through the real ``serambi`` entry point: one line the operator can act on, before anything starts.

Issue 8, items 6 (settings, ClickHouse URL and reachability) and 7 (``serambi bench`` arguments).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import SERAMBI, cli_env


def _fails(args: list[str], env: dict[str, str], code: int = 1) -> str:
    result = subprocess.run([SERAMBI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SERAMBI_PARTITIONS", "0", "Error: SERAMBI_PARTITIONS: must be >= 1 (got 0)"),
        ("SERAMBI_SLA_HOURS", "soon", "Error: SERAMBI_SLA_HOURS: must be a valid number"),
        ("SERAMBI_CLICKHOUSE_URL", "ftp://u:pw@host/db", "Error: SERAMBI_CLICKHOUSE_URL: must start with chdb://"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["import", "jsonl", "{events}"], ["demo"]])
def test_a_bad_setting_is_one_line_naming_the_variable_before_anything_starts(
    tmp_path: Path, variable: str, value: str, expected: str, command: list[str]
) -> None:
    env = {**cli_env(tmp_path), variable: value}
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n", encoding="utf-8")
    stderr = _fails([arg.format(events=events) for arg in command], env, code=1)
    assert _error_lines(stderr) == [_error_lines(stderr)[0]], stderr  # one line
    assert stderr.startswith(expected), stderr
    assert "pydantic" not in stderr
    assert "pw" not in stderr
    assert not (tmp_path / "data").exists(), "nothing may start (or be created) with a bad setting"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_clickhouse_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    url = f"http://serambi:s3cret@127.0.0.1:{_closed_port()}/serambi"
    env = {**cli_env(tmp_path), "SERAMBI_CLICKHOUSE_URL": url}
    stderr = _fails(["report"], env)
    lines = _error_lines(stderr)
    assert len(lines) == 1, stderr  # no urllib3 retry warnings
    assert lines[0].startswith("Error: cannot reach ClickHouse at http://127.0.0.1:"), stderr
    assert "SERAMBI_CLICKHOUSE_URL" in lines[0]
    assert "connection refused" in lines[0]
    assert "query_id" not in stderr
    assert "s3cret" not in stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--events", "-5"], "Invalid value for '--events': -5 is not in the range x>=1"),
        (["--events", "1000"], "Invalid value for '--events': at least 200,001 events measure a rate"),
        (["--fresh-seconds", "0"], "Invalid value for '--fresh-seconds': 0.0 is not in the range x>=2.0"),
        (["--fresh-rate", "0"], "Invalid value for '--fresh-rate'"),
        (["--hot-path-events", "0"], "Invalid value for '--hot-path-events'"),
    ],
)
def test_bench_refuses_arguments_that_measure_nothing_before_it_starts(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    stderr = _fails(["bench", *args], cli_env(tmp_path), code=2)
    assert expected in stderr
    assert not (tmp_path / "data").exists(), "refused before anything starts"
