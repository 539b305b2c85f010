"""``serambi dashboards generate`` / ``check``: committed JSON == generated, deterministic, stale -> clear failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.build import all_dashboards, committed_dashboards, render
from dashboards.generate import check_command, expected_files, generate_command, stale_files

COMMITTED = Path(__file__).resolve().parents[3] / "dashboards" / "generated"


def test_committed_json_is_what_the_code_generates() -> None:
    assert stale_files(COMMITTED) == [], "run `serambi dashboards generate` and commit dashboards/generated/"


def test_committed_dashboards_are_read_as_package_data() -> None:
    committed = {(d.folder, d.uid): d.model for d in committed_dashboards()}
    assert committed == {(d.folder, d.uid): d.model for d in all_dashboards()}


def test_output_is_deterministic_sorted_and_ends_with_a_newline() -> None:
    first, second = expected_files(), expected_files()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert render({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'


def test_generate_then_check_passes_and_a_second_generate_writes_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(generate_command, ["--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")) == sorted(expected_files())
    again = runner.invoke(generate_command, ["--dir", str(tmp_path)])
    assert "0 written" in again.output
    assert runner.invoke(check_command, ["--dir", str(tmp_path)]).exit_code == 0


@pytest.fixture
def copy_of_committed(tmp_path: Path) -> Path:
    target = tmp_path / "generated"
    shutil.copytree(COMMITTED, target)
    return target


@pytest.mark.parametrize("damage", ["changed", "missing", "extra"])
def test_check_fails_on_stale_files_and_says_what_to_run(copy_of_committed: Path, damage: str) -> None:
    path = copy_of_committed / "ops" / "serambi-live-ops.json"
    if damage == "changed":
        path.write_text(path.read_text("utf-8").replace('"Live operations"', '"Live ops"'), "utf-8")
    elif damage == "missing":
        path.unlink()
    else:
        (copy_of_committed / "ops" / "old-dashboard.json").write_text("{}\n", "utf-8")
    result = CliRunner().invoke(check_command, ["--dir", str(copy_of_committed)])
    assert result.exit_code == 1
    assert f"{damage}: ops/" in result.output
    assert "run `serambi dashboards generate`" in result.output


def test_generate_repairs_and_removes_stale_files(copy_of_committed: Path) -> None:
    stale = copy_of_committed / "ops" / "old-dashboard.json"
    stale.write_text("{}\n", "utf-8")
    (copy_of_committed / "central-office" / "serambi-overview.json").write_text("{}\n", "utf-8")
    result = CliRunner().invoke(generate_command, ["--dir", str(copy_of_committed)])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert stale_files(copy_of_committed) == []
