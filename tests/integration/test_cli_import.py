"""`serambi import` and `serambi simulate` as a user runs them: real processes, the real embedded stack.

Issue 8 items 1, 2, 6 (import files) and 7 (simulate arguments): paced replays at any speed, a stop on the
first Ctrl-C/SIGTERM that keeps what was published, the closing `imported N, dead-lettered M (reasons: ...)`
line, and files refused before anything starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.helpers.processes import SERAMBI, cli_env, finish, run_cli, start_run

_CITIZEN_ID = "7004335252021866"


def _serambi(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SERAMBI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _simulated(tmp_path: Path, env: dict[str, str], hours: int = 3) -> list[bytes]:
    path = tmp_path / "simulated.jsonl"
    run_cli(["simulate", "--output", str(path), "--hours", str(hours), "--seed", "5"], env)
    return path.read_bytes().splitlines()


def _stored(env: dict[str, str]) -> int:
    agencies = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)["agencies"]
    return sum(sum(kinds.values()) for kinds in agencies.values())


def _hour_apart(lines: list[bytes], count: int) -> list[bytes]:
    """``count`` events at least an hour apart (at speed 60: a minute of waiting between two)."""
    picked: list[bytes] = []
    last: datetime | None = None
    for line in lines:
        at = datetime.fromisoformat(orjson.loads(line)["created_at"])
        if last is None or at - last >= timedelta(hours=1):
            picked.append(line)
            last = at
    assert len(picked) >= count
    return picked[:count]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_paced_import_stops_on_the_first_signal_keeps_what_it_published_and_a_rerun_finishes(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    env = cli_env(tmp_path)
    events = tmp_path / "three.jsonl"
    events.write_bytes(b"\n".join(_hour_apart(_simulated(tmp_path, env, hours=5), 3)) + b"\n")
    importing = subprocess.Popen(
        [SERAMBI, "import", "jsonl", str(events), "--speed", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert importing.stdout is not None
    head = []
    for line in importing.stdout:  # the import's own progress: the first event went, the next is an hour away
        head.append(line)
        if "published the first event" in line:
            break
    importing.send_signal(sig)
    rest, _ = importing.communicate(timeout=120)
    output = "".join(head) + rest
    assert importing.returncode == code, output
    assert f"interrupted by {sig.name}: imported 1, dead-lettered 0" in output
    assert "ClickHouse holds all of them" in output
    assert _stored(env) == 1
    finished = run_cli(["import", "jsonl", str(events)], env)
    assert "imported 3, dead-lettered 0" in finished.stdout
    assert _stored(env) == 3  # the event of the interrupted run is not stored twice


def test_a_paced_import_replays_the_whole_file(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    lines = _simulated(tmp_path, env, hours=2)
    imported = run_cli(["import", "jsonl", str(tmp_path / "simulated.jsonl"), "--speed", "100000"], env)
    assert f"imported {len(lines):,}, dead-lettered 0 from" in imported.stdout
    assert _stored(env) == len(lines)


@pytest.mark.parametrize("speed", ["0", "-5", "nan"])
def test_a_speed_that_is_not_positive_is_refused_before_anything_starts(tmp_path: Path, speed: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    result = _serambi(["import", "jsonl", str(events), "--speed", speed], cli_env(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Invalid value for '--speed'" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_binary_file_imported_as_jsonl_says_what_it_rejected_and_fails(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    binary = tmp_path / "photo.jsonl"
    binary.write_bytes(b"\x98\xff\x00\x01binary\n" * 7)
    result = _serambi(["import", "jsonl", str(binary)], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "imported 0, dead-lettered 7 (reasons: not_json=7)" in result.stdout
    assert f"no valid event in {binary}" in result.stdout
    letters = orjson.loads(run_cli(["deadletters", "--format", "json"], env).stdout)
    assert letters["total"] == 7
    assert sorted(letter["where"] for letter in letters["dead_letters"]) == sorted(f"line {n}" for n in range(1, 8))


def test_a_mixed_file_reports_its_rejects_by_reason(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    good = _simulated(tmp_path, env, hours=2)
    bad_schema = orjson.loads(good[0]) | {"created_at": "yesterday", "author_id": _CITIZEN_ID, "author_role": "citizen"}
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"\n".join([*good[:3], b"{not json", orjson.dumps(bad_schema), *good[3:], b"[1,"]) + b"\n")
    result = run_cli(["import", "jsonl", str(mixed)], env)
    assert f"imported {len(good):,}, dead-lettered 3 (reasons: not_json=2, schema=1)" in result.stdout
    assert "`serambi deadletters` shows each rejected input" in result.stdout
    table = run_cli(["deadletters"], env).stdout
    assert "showing 3 of 3" in table
    assert "line 4" in table
    assert "line 5" in table
    as_json = run_cli(["deadletters", "--format", "json", "--stage", "connector"], env).stdout
    schema = [d for d in orjson.loads(as_json)["dead_letters"] if d["error_type"] == "schema"]
    assert schema[0]["where"] == "line 5"
    assert _CITIZEN_ID not in table + as_json  # the citizen's id is never shown in clear


def test_a_binary_twcs_file_is_refused_before_the_stack_starts(tmp_path: Path) -> None:
    binary = tmp_path / "twcs.csv"
    binary.write_bytes(b"\x98\xff\x00\x01" * 100)
    result = _serambi(["import", "twcs", str(binary)], cli_env(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"Error: {binary} is not UTF-8 text, so not a TWCS CSV file")
    assert "codec" not in line
    assert "embedded broker" not in result.stdout
    assert not (tmp_path / "data").exists()


def test_a_semicolon_separated_twcs_file_gets_a_hint_before_the_stack_starts(tmp_path: Path) -> None:
    columns = "tweet_id;author_id;inbound;created_at;text;response_tweet_id;in_response_to_tweet_id"
    csv = tmp_path / "twcs.csv"
    csv.write_text(columns + "\n1;700001;True;Wed Nov 01 08:00:00 +0000 2017;@AskPetronasX hello;;\n")
    result = _serambi(["import", "twcs", str(csv)], cli_env(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "looks ';'-separated, TWCS files are comma-separated" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("hours", ["-1", "0"])
def test_simulate_refuses_hours_that_are_not_positive(tmp_path: Path, hours: str) -> None:
    result = _serambi(["simulate", "--output", str(tmp_path / "out.jsonl"), "--hours", hours], cli_env(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Invalid value for '--hours'" in result.stderr


def test_simulate_to_a_file_creates_no_state_in_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SERAMBI_DATA_DIR", "SERAMBI_PSEUDONYM_KEY"}}
    result = _serambi(["simulate", "--output", "events.jsonl", "--hours", "1"], env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]


def test_simulate_to_stdout_stops_on_ctrl_c_with_whole_lines(tmp_path: Path) -> None:
    simulating = subprocess.Popen(
        [SERAMBI, "simulate", "--output", "-", "--hours", "100000"],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert simulating.stdout is not None
    assert simulating.stderr is not None
    try:
        first = simulating.stdout.readline()  # the simulation is under way (eleven years of it to go)
        simulating.send_signal(signal.SIGINT)
        rest = simulating.stdout.read()  # from the same buffered reader: communicate() would skip what it holds
        errors = simulating.stderr.read()  # one line: it cannot fill the pipe while stdout is read
        simulating.wait(timeout=120)
    finally:
        if simulating.poll() is None:  # it ignored the signal: leave nothing running
            simulating.kill()
            simulating.wait()
    assert simulating.returncode == 130, errors
    lines = (first + rest).splitlines()
    assert b"interrupted by SIGINT: simulated " + f"{len(lines):,}".encode() + b" events, all written" in errors
    assert all(orjson.loads(line)["event_id"] for line in lines)


def test_simulate_into_a_running_stack_stops_on_sigterm_and_everything_is_stored(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    stack, _ = start_run(env)
    try:
        sim = subprocess.Popen(
            [SERAMBI, "simulate", "--speed", "600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert sim.stdout is not None
        for line in sim.stdout:  # the simulator's own output: it is publishing
            if "simulating" in line:
                break
        sim.send_signal(signal.SIGTERM)
        _, errors = finish(sim, 120)
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=180)
    assert sim.returncode == 143, errors
    assert "interrupted by SIGTERM: simulated" in errors
    count = int(errors.split("simulated ")[1].split(" events")[0].replace(",", ""))
    assert "drained: True" in output
    assert _stored(env) == count
