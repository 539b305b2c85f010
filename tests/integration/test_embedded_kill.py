"""A kill -9 of the embedded stack loses nothing Kafka acknowledged (issue 7, item 6).

The embedded broker keeps records in memory only. Input is therefore spooled to the data dir before Kafka
sees it, and the next start re-publishes what the killed run had not stored. The scenario freezes the stack
(SIGSTOP) so that its worker stores nothing while its broker, a process of its own, keeps acknowledging a
publisher, exactly the window in which a kill used to lose input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from connectors.simulator.source import Simulation
from pipeline.metrics import Metrics
from pipeline.runtime.client import running_stack
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.spool import SPOOL_DIR, broker_epoch
from pipeline.runtime.statefile import read_state
from pipeline.settings import load_settings
from schemas.agency import Directory
from tests.helpers.processes import SERAMBI, alive, cli_env, start_run

HOURS = 3.0


def _wait_until(condition: Callable[[], object], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling an observable state between checks


def _stored_events(env: dict[str, str]) -> int:
    result = subprocess.run(
        [SERAMBI, "status", "--format", "json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    agencies: dict[str, dict[str, int]] = orjson.loads(result.stdout)["agencies"]
    return sum(sum(kinds.values()) for kinds in agencies.values())


def test_input_acknowledged_before_a_kill_is_stored_after_the_restart(
    tmp_path: Path, sample_directory: Directory
) -> None:
    env = cli_env(tmp_path)
    settings = load_settings(data_dir=tmp_path / "data", pseudonym_key=env["SERAMBI_PSEUDONYM_KEY"])
    stack, _ = start_run(env)
    state = read_state(settings.state_file)
    assert state is not None
    assert state.broker_pid is not None
    os.kill(stack.pid, signal.SIGSTOP)  # the worker stores nothing from here on; the broker still acknowledges
    try:
        now = datetime.now(UTC)
        simulation = Simulation(
            sample_directory, seed=3, start=now - timedelta(hours=HOURS), incident_at=now - timedelta(hours=1)
        )
        epoch = broker_epoch(state.bootstrap_servers, state.broker_pid)
        with kafka_publisher(
            settings, state.bootstrap_servers, sample_directory, Metrics(), "test", epoch=epoch
        ) as publisher:
            for event in simulation.advance(now):
                publisher.publish(event)
        acknowledged = publisher.published  # close() returned: Kafka acknowledged every one of them
        assert acknowledged > 0
    finally:
        stack.kill()
        stack.wait(timeout=60)
    broker_pid = state.broker_pid
    _wait_until(lambda: not alive(broker_pid), "the embedded broker to die with its stack")

    stack, head = start_run(env)
    try:
        assert any("the previous run ended without draining: re-published" in line for line in head), head
        running = running_stack(settings)
        assert running is not None
        _wait_until(lambda: running[1].drained()["drained"], "the restarted stack to drain")
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=180)
    assert stack.returncode == 0, output
    assert _stored_events(env) == acknowledged
    assert not list((tmp_path / "data" / SPOOL_DIR).glob("*.seg")), "stored input must leave the spool"


def test_an_import_killed_before_it_drained_stores_each_event_once_when_run_again(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    events = tmp_path / "events.jsonl"
    subprocess.run([SERAMBI, "simulate", "--output", str(events), "--hours", "6"], env=env, check=True, timeout=120)
    expected = sum(1 for _ in events.open(encoding="utf-8"))
    killed = subprocess.Popen(
        [SERAMBI, "import", "jsonl", str(events)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert killed.stdout is not None
    for line in killed.stdout:  # the import's own output: everything is published and acknowledged
        if "waiting until ClickHouse holds every event" in line:
            break
    killed.kill()
    killed.wait(timeout=60)

    again = subprocess.run(
        [SERAMBI, "import", "jsonl", str(events)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"imported {expected:,}, dead-lettered 0" in again.stdout
    assert _stored_events(env) == expected
