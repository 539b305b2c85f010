"""Read-only commands create nothing (issue 8, item 8); global options work after the subcommand (item 5).

Through the real ``serambi`` entry point, on the real embedded stack where data is needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.helpers.events import make_event
from tests.helpers.processes import SERAMBI, run_cli

# An agency of the packaged sample directory and its X account.
AGENCY, ACCOUNT = "kesihatan", "1458392012345670101"


def _env_without_data_dir() -> dict[str, str]:
    # No SERAMBI_DATA_DIR and no key: what a newcomer's shell has, so a created key would show.
    return {k: v for k, v in os.environ.items() if k not in {"SERAMBI_DATA_DIR", "SERAMBI_PSEUDONYM_KEY"}}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SERAMBI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    "command",
    [["status"], ["report"], ["report", "--format", "json"], ["status", "--format", "json"]],
)
@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_a_read_command_on_a_missing_data_dir_says_so_and_creates_nothing(
    tmp_path: Path, command: list[str], where: str
) -> None:
    missing = tmp_path / "no-such-dir"
    env = _env_without_data_dir()
    if where == "env":
        env["SERAMBI_DATA_DIR"] = str(missing)
    args = {
        "before": ["--data-dir", str(missing), *command],
        "after": [*command, "--data-dir", str(missing)],
        "env": command,
    }[where]
    result = _run(args, tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"Error: no Serambi data in {missing}: run serambi demo/run/import first, "
        "or set SERAMBI_DATA_DIR (or --data-dir) to the data dir they used"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no data dir, no pseudonym key, nothing"


def test_a_read_command_in_a_fresh_directory_does_not_create_the_default_data_dir(tmp_path: Path) -> None:
    result = _run(["status"], tmp_path, _env_without_data_dir())
    assert result.returncode == 1
    assert "no Serambi data in serambi-data" in result.stderr
    assert not (tmp_path / "serambi-data").exists()


def test_global_options_work_after_the_subcommand(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    env = {**_env_without_data_dir(), "SERAMBI_PSEUDONYM_KEY": "side-effects-key"}
    events = tmp_path / "events.jsonl"
    question = make_event("comment", message_id="q1", agency_id=AGENCY, account_id=ACCOUNT)
    events.write_bytes(orjson.dumps(question.model_dump(mode="json")) + b"\n")

    quiet = run_cli(["import", "jsonl", str(events), "--data-dir", str(data)], env)
    assert " INFO " not in quiet.stderr
    assert (data / "chdb").is_dir()

    report = orjson.loads(run_cli(["report", "--format", "json", "--data-dir", str(data)], env).stdout)
    assert [row["citizen_messages"] for row in report["agencies"] if row["agency_id"] == AGENCY] == [1]
    status = orjson.loads(run_cli(["status", "--data-dir", str(data), "--format", "json", "-v"], env).stdout)
    assert status  # the same data dir, found with the option last

    verbose = run_cli(["import", "jsonl", str(events), "-v", "--data-dir", str(data)], env)
    assert " INFO " in verbose.stderr  # -v after the subcommand raises the log level as before it
