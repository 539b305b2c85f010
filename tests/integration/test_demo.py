"""`serambi demo` as a user runs it: a real process, a second terminal querying it, a clean exit."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import orjson

from pipeline.runtime.monitoring import find_binaries
from pipeline.runtime.statefile import LOCAL_OPENER
from schemas.agency import Directory
from tests.helpers.processes import SERAMBI, alive, cli_env, start_run


def _status(env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [SERAMBI, "status", "--format", "json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(orjson.loads(result.stdout))


def _answers(url: str) -> bool:
    try:
        with LOCAL_OPENER.open(url + "/-/ready", timeout=5):
            return True
    except OSError:
        return False


def test_demo_fills_every_agency_and_leaves_nothing_running(tmp_path: Path, sample_directory: Directory) -> None:
    """The whole week replays (~15 s), so the flood incident and its surge alert are in it too."""
    env = cli_env(tmp_path)
    demo = subprocess.Popen(
        [SERAMBI, "demo", "--duration", "25", "--speed", "40000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    head = []
    for line in demo.stdout:  # reading the demo's own progress output: it says when the worker joined
        head.append(line)
        if "worker joined" in line:
            break
    live = _status(env)
    rest, _ = demo.communicate(timeout=240)
    output = "".join(head) + rest
    assert demo.returncode == 0, output
    assert str(live["source"]).startswith("running stack pid")
    assert "drained: True" in output
    broker_pid = int(re.search(r"tansu, pid (\d+)", output).group(1))  # type: ignore[union-attr]
    assert not alive(broker_pid)
    assert not (tmp_path / "data" / "stack.json").exists()
    after = _status(env)
    assert "no stack running" in str(after["source"])
    agencies = after["agencies"]
    assert isinstance(agencies, dict)
    assert set(agencies) == {agency.id for agency in sample_directory.agencies}
    for agency_id, kinds in agencies.items():
        assert kinds.get("post", 0) + kinds.get("citizen_mention", 0) > 0, agency_id
        assert sum(kinds.values()) > 0
    # The scripted flood warning pages once, for its agency, and resolves (the simulator pages nobody else).
    assert re.findall(r"^ALERT raised: +unanswered surge at (\S+) ", output, re.MULTILINE) == ["metmy"]
    assert re.findall(r"^ALERT resolved: +unanswered surge at (\S+) ", output, re.MULTILINE) == ["metmy"]
    assert "surge alerts this run: 1 raised, 1 resolved" in output
    # The page says what the flood's citizens ask about (the flood questions' theme), not only how many wait.
    asks = re.search(r"^ALERT raised: .*citizens ask about: (.+)$", output, re.MULTILINE)
    assert asks is not None
    assert "banjir" in asks.group(1).split(", ")
    urls = re.search(r"Prometheus on (\S+) .*Alertmanager on (\S+) ", output)
    if find_binaries() is None:
        assert urls is None
        assert "apt-get install prometheus prometheus-alertmanager" in output
    else:
        assert urls is not None, output
        assert not any(_answers(url) for url in urls.groups())  # stopped with the demo


def test_status_without_any_data_says_so(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    migrated = subprocess.run(
        [SERAMBI, "db", "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    result = subprocess.run([SERAMBI, "status"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "no events stored yet" in result.stdout


def test_simulate_without_a_broker_explains_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [SERAMBI, "simulate", "--duration", "1"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "start `serambi demo`" in result.stderr


def test_simulate_feeds_a_running_stack(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    stack, _ = start_run(env)
    try:
        sim = subprocess.run(
            [SERAMBI, "simulate", "--duration", "3", "--speed", "7200"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert sim.returncode == 0, sim.stderr
        count = int(re.search(r"simulated ([\d,]+) events", sim.stderr).group(1).replace(",", ""))  # type: ignore[union-attr]
        assert count > 0
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=180)
    assert stack.returncode == 0, output
    assert "drained: True" in output
    agencies: dict[str, dict[str, int]] = _status(env)["agencies"]  # type: ignore[assignment]
    stored = sum(sum(kinds.values()) for kinds in agencies.values())
    assert stored == count


def test_publishing_with_another_pseudonym_key_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    stack, _ = start_run(env)
    try:
        other = {**env, "SERAMBI_PSEUDONYM_KEY": "another-key"}
        sim = subprocess.run(
            [SERAMBI, "simulate", "--duration", "1"],
            env=other,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        stack.send_signal(signal.SIGINT)
        stack.communicate(timeout=180)
    assert sim.returncode == 1
    assert "differs from the running stack's" in sim.stderr


def test_a_sigterm_during_start_up_stops_the_stack_cleanly_once_it_is_up(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    stack = subprocess.Popen(
        [SERAMBI, "run", "--duration", "600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert stack.stdout is not None
    head = []
    for line in stack.stdout:  # the stack's own progress: ClickHouse is up, the worker is still joining
        head.append(line)
        if "matcher state rebuilt" in line:
            break
    stack.send_signal(signal.SIGTERM)
    rest, _ = stack.communicate(timeout=180)
    output = "".join(head) + rest
    assert stack.returncode == 0, output
    assert "stopped: on request; every step finished" in output
    assert not (tmp_path / "data" / "stack.json").exists()
