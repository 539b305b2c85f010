"""`serambi deadletters` as a user runs it: after a real import, from the local store and from a running stack."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson

from tests.helpers.processes import SERAMBI, cli_env, run_cli, start_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# twcs_quirks.csv has three invalid rows (data rows 17-19): a bad time, inbound "maybe", no tweet_id.
_INVALID_ROWS = {"row 17", "row 18", "row 19"}
_CUSTOMERS = ("700010", "700011", "700012")


def _letters(env: dict[str, str], *options: str) -> dict[str, Any]:
    return dict(orjson.loads(run_cli(["deadletters", "--format", "json", *options], env).stdout))


def test_deadletters_on_a_data_dir_without_data_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [SERAMBI, "deadletters"], env=cli_env(tmp_path), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert f"no Serambi data in {tmp_path / 'data'}" in result.stderr
    assert not (tmp_path / "data").exists()


def test_deadletters_show_reason_source_row_and_masked_raw_with_filters(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    imported = run_cli(["import", "twcs", str(FIXTURES / "twcs_quirks.csv")], env)
    assert "dead-lettered 3 (reasons: invalid_row=3)" in imported.stdout
    everything = _letters(env)
    assert everything["total"] == 3
    letters = everything["dead_letters"]
    assert {letter["where"] for letter in letters} == _INVALID_ROWS
    assert {(letter["stage"], letter["source"], letter["error_type"]) for letter in letters} == {
        ("connector", "twcs", "invalid_row")
    }
    assert any("expected True or False" in letter["reason"] for letter in letters)
    table = run_cli(["deadletters"], env).stdout
    assert "showing 3 of 3" in table
    assert all(row in table for row in _INVALID_ROWS)
    shown = table + orjson.dumps(everything).decode()
    assert not [customer for customer in _CUSTOMERS if customer in shown], "citizen ids must be masked"
    assert "is the Bangsar branch open?" in shown  # the masked raw value is there, minus the ids
    assert _letters(env, "--stage", "worker")["total"] == 0
    one = _letters(env, "--limit", "1")
    assert (one["total"], len(one["dead_letters"])) == (3, 1)
    assert _letters(env, "--since", "1h")["total"] == 3
    assert _letters(env, "--since", "2099-01-01T00:00+08:00")["total"] == 0


def test_deadletters_and_an_import_go_through_a_running_stack(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    stack, _ = start_run(env)
    try:
        imported = run_cli(["import", "twcs", str(FIXTURES / "twcs_quirks.csv")], env)
        letters = _letters(env)
    finally:
        stack.send_signal(signal.SIGINT)
        stack.communicate(timeout=180)
    assert "using the running stack" in imported.stdout
    assert "imported 15, dead-lettered 3 (reasons: invalid_row=3)" in imported.stdout
    assert str(letters["source"]).startswith("running stack pid")
    assert {letter["where"] for letter in letters["dead_letters"]} == _INVALID_ROWS
