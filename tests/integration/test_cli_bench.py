"""`serambi bench` stops on the first Ctrl-C/SIGTERM (issue 8, item 1): in any phase, says so, leaves nothing.

The benchmark runs a throw-away broker and data dir; a signal must end it promptly with the shell's exit code
(130/143) and a line saying no figures were measured, and its broker must be gone (it dies with the process
group's leader, but the leader must exit rather than wait for the whole run).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.processes import SERAMBI, alive, cli_env, run_cli

# Few events, so the run reaches each phase quickly; the minimum the command accepts (one worker batch + 1).
EVENTS = "200001"


def _children(of: int, command: bytes) -> list[int]:
    """The processes whose parent is ``of`` and whose command line holds ``command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == of and command in cmdline:
            found.append(int(entry.name))
    return found


def _load_started(bench: int) -> list[int]:
    # The freshness phase starts its load process right after printing its line: wait until it runs.
    deadline = time.monotonic() + 60
    while not (found := _children(bench, b"pipeline.bench.paced_load")) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the process table for a condition, with a deadline
    return found


@pytest.mark.parametrize(
    ("phase", "sig", "code"),
    [
        ("2/4 bare aiokafka consumer", signal.SIGINT, 130),  # outside the stack: KeyboardInterrupt unwinds
        ("worker joined", signal.SIGTERM, 143),  # inside the stack: its handler stops it, the phase ends
        ("4/4 freshness", signal.SIGTERM, 143),  # the load generator's process must go with it
    ],
)
def test_a_signal_stops_the_benchmark_promptly_and_leaves_nothing(
    tmp_path: Path, phase: str, sig: signal.Signals, code: int
) -> None:
    bench = subprocess.Popen(
        [SERAMBI, "bench", "--events", EVENTS, "--fresh-seconds", "30", "--hot-path-events", "1000"],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert bench.stdout is not None
    head = []
    brokers: list[int] = []
    for line in bench.stdout:  # the benchmark's own progress says which phase it is in
        head.append(line)
        if line.startswith("1/4"):
            brokers = _children(bench.pid, b"tansu")
        if phase in line:
            break
    assert brokers, "".join(head)
    loads = _load_started(bench.pid) if phase.startswith("4/4") else []
    assert loads or not phase.startswith("4/4"), "the freshness phase started no load process"
    bench.send_signal(sig)
    bench.wait(timeout=120)
    # Checked as soon as the benchmark is gone: a leaked load would run on for the rest of its 30 s.
    assert not [pid for pid in loads if alive(pid)], "the freshness phase's load outlived the benchmark"
    rest, _ = bench.communicate(timeout=120)
    output = "".join(head) + rest
    assert bench.returncode == code, output
    assert f"interrupted by {sig.name}: benchmark stopped, no figures" in output
    assert "Traceback" not in output
    assert '"worker_events_per_s"' not in output
    assert not [pid for pid in brokers if alive(pid)]


def test_bench_alerts_reports_per_surge_and_writes_the_figures(tmp_path: Path) -> None:
    out = tmp_path / "alerts.json"
    result = run_cli(["bench", "alerts", "--weeks", "2", "--seed", "2", "--json-out", str(out)], cli_env(tmp_path))
    assert "week 2/2 (scored)" in result.stdout  # progress
    assert "required surges:" in result.stdout
    assert "targets met" in result.stdout or "targets NOT met" in result.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert {"median_delay_seconds", "max_delay_seconds", "missed", "false_alerts_per_week", "surges"} <= set(figures)
    assert figures["weeks"] == 2
    assert figures["seed"] == 2
    assert figures["surges"]


def test_bench_detector_reports_cpu_per_judged_minute_and_writes_the_figures(tmp_path: Path) -> None:
    out = tmp_path / "detector.json"
    args = ["bench", "detector", "--agencies", "4", "--days", "0.5", "--batch-minutes", "60", "--json-out", str(out)]
    result = run_cli(args, cli_env(tmp_path))
    assert "us per judged key-minute: 2880 key-minutes" in result.stdout  # 4 agencies x 720 minutes
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["key_minutes"] == 4 * 720
    assert figures["us_per_key_minute"] > 0


def test_bench_inserts_replays_the_workers_inserts_into_chdb_and_times_each_table(tmp_path: Path) -> None:
    out = tmp_path / "inserts.json"
    result = run_cli(["bench", "inserts", "--events", "5000", "--json-out", str(out)], cli_env(tmp_path))
    assert "5,000 events in" in result.stdout
    assert "cores for chDB alone" in result.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    raw = ("posts", "interactions", "reactions", "changes")
    assert set(figures["rows"]) == {*raw, "response_facts"}
    # Each event is one row of one raw table (the replay checked every row arrived): nothing lost, nothing twice.
    assert sum(figures["rows"][table] for table in raw) == 5000
    assert figures["rows"]["response_facts"] > 0
    assert set(figures["tables_us_per_event"]) == set(figures["rows"]) == set(figures["one_row_insert_ms"])
    assert min(figures["one_row_insert_ms"].values()) > 0
    assert figures["insert_us_per_event"] > 0
    assert figures["total_us_per_event"] == figures["insert_us_per_event"] + figures["merges_us_per_event"]
    assert figures["cores_at_75k"] == figures["total_us_per_event"] * 75_000 / 1e6
