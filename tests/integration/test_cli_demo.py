"""`serambi demo` as a newcomer meets it: refuses bad options before starting, a week of history, the report
at the end, and a second run on the same data dir that stores the overlapping history once."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from connectors.simulator.model import Simulation
from schemas.agency import Directory, load_directory
from tests.helpers.processes import SERAMBI, cli_env, run_cli

_SIMULATED = re.compile(r"simulated ([\d,]+) events from (\S+) to (\S+), flood incident at (\S+)\n")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--speed", "0"], "'--speed': 0.0 is not in the range x>0"),
        (["--speed", "-3"], "'--speed': -3.0 is not in the range x>0"),
        (["--duration", "-5"], "-5.0 is not in the range x>0"),
        (["--duration", "0"], "0.0 is not in the range x>0"),
        (["--start", "next tuesday"], "is not an ISO-8601 time"),
        (["--start", "2999-01-01T00:00+08:00"], "is not in the past"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(tmp_path: Path, args: list[str], error: str) -> None:
    result = subprocess.run(
        [SERAMBI, "demo", *args], env=cli_env(tmp_path), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert error in result.stderr
    assert "embedded broker" not in result.stdout
    assert not (tmp_path / "data").exists()


def _demo(env: dict[str, str], start: datetime, duration_s: int) -> tuple[str, set[str]]:
    """Run a demo; return its output and the ids of the events it simulated (recomputed from what it printed)."""
    output = run_cli(["demo", "--start", start.isoformat(), "--speed", "200000", "--duration", str(duration_s)], env)
    text = output.stdout
    found = _SIMULATED.search(text)
    assert found is not None, text
    began, until, incident = (datetime.fromisoformat(found.group(i)) for i in (2, 3, 4))
    assert began == start
    events = Simulation(load_directory(), seed=7, start=began, incident_at=incident).advance(until)
    assert len(events) == int(found.group(1).replace(",", ""))
    return text, {event.event_id for event in events}


def _stored(env: dict[str, str]) -> int:
    agencies = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)["agencies"]
    return sum(sum(kinds.values()) for kinds in agencies.values())


def test_demo_replays_history_reports_and_stores_a_rerun_once(tmp_path: Path, sample_directory: Directory) -> None:
    env = cli_env(tmp_path)
    now = datetime.now(UTC)
    first_output, first = _demo(env, now - timedelta(days=2, seconds=41), 6)

    lines = first_output.splitlines()
    joining = next(i for i, line in enumerate(lines) if "starting the worker" in line)
    assert joining < next(i for i, line in enumerate(lines) if "worker joined" in line)
    assert "drained: True" in first_output
    report = first_output[first_output.index("cross-agency report") :]
    assert all(f"\n{agency.id} " in report for agency in sample_directory.agencies)
    assert "dinner_party" in report
    assert _stored(env) == len(first)

    second_output, second = _demo(env, now - timedelta(days=1, hours=3, seconds=7), 4)
    assert "drained: True" in second_output
    overlap = first & second
    assert len(overlap) >= len(second) // 2 > 0  # the second run replayed much of the first one's history
    assert _stored(env) == len(first | second)  # ... and it is stored once
