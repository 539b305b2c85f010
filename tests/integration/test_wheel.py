"""The built wheel works without a source checkout: packaged migrations, sample directory and console script.

The wheel goes into a fresh venv outside the checkout; the third-party dependencies come from the dev venv's
site-packages through a ``.pth`` line (a plain path: the dev venv's own ``.pth`` files, among them the editable
install of serambi, are not processed), so ``pipeline``, ``connectors`` and ``schemas`` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import orjson
import pytest

from tests.helpers.events import make_event

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
# Not part of the source: local environments, build output, caches, data.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "serambi-data", "__pycache__", ".*_cache", ".hypothesis", "*.whl"
)


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python or serambi somewhere else."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"} and not key.startswith("SERAMBI_")
    }
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with only the serambi wheel installed (and the dev venv's dependencies)."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.is_relative_to(CHECKOUT)
    # Build from a copy of the source, so stale build/ output in the checkout cannot slip into the wheel.
    source = work / "source"
    shutil.copytree(CHECKOUT, source, ignore=_NOT_SOURCE)
    wheels = work / "wheels"
    pip_quiet = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    _run(
        [*pip_quiet, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(source)],
        cwd=work,
    )
    (wheel,) = wheels.glob("serambi-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    python = venv / "bin" / "python"
    _run([*pip_quiet, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], cwd=work)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_run([str(python), "-c", where], cwd=work, env=_clean_env()).strip())
    (purelib / "_serambi_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _venv_python(venv: Path, code: str, cwd: Path) -> object:
    return json.loads(_run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=_clean_env()))


def test_packages_come_from_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    code = (
        "import json, sysconfig, connectors, pipeline, pipeline.cli, schemas\n"
        "print(json.dumps({'purelib': sysconfig.get_paths()['purelib'],\n"
        "                  'files': [m.__file__ for m in (pipeline, pipeline.cli, schemas, connectors)]}))\n"
    )
    found = _venv_python(wheel_venv, code, tmp_path)
    assert isinstance(found, dict)
    purelib = Path(found["purelib"]).resolve()
    assert purelib.is_relative_to(wheel_venv.resolve())
    for file in found["files"]:
        assert Path(file).resolve().is_relative_to(purelib), file
        assert not Path(file).resolve().is_relative_to(CHECKOUT), file


def test_wheel_imports_a_file_and_reports_it_outside_the_checkout(wheel_venv: Path, tmp_path: Path) -> None:
    # The first agency of the packaged sample directory and its first account (no SERAMBI_AGENCIES_FILE).
    code = (
        "import json\nfrom schemas.agency import load_directory\n"
        "agency = load_directory().agencies[0]\naccount = agency.accounts[0]\n"
        "print(json.dumps([agency.id, str(account.platform), account.account_id]))\n"
    )
    found = _venv_python(wheel_venv, code, tmp_path)
    assert isinstance(found, list)
    agency_id, platform, account_id = found
    owner = {"platform": platform, "agency_id": agency_id, "account_id": account_id}
    post = make_event("post", **owner, event_id=f"{platform}:wp1", post_id="wp1")
    thread = {**owner, "root_id": "wp1"}
    questions = [  # three citizens ask under the post; the agency answers the first one
        make_event(
            "comment",
            **thread,
            event_id=f"{platform}:wm{n}",
            message_id=f"wm{n}",
            parent_id="wp1",
            author_id=f"wheel-citizen-{n}",
        )
        for n in range(3)
    ]
    reply = make_event(
        "reply", **thread, event_id=f"{platform}:wr1", message_id="wr1", parent_id="wm0", author_id=account_id
    )
    events = tmp_path / "events.jsonl"
    events.write_text("".join(event.model_dump_json() + "\n" for event in [post, *questions, reply]))

    serambi = str(wheel_venv / "bin" / "serambi")
    env = _clean_env(SERAMBI_DATA_DIR=str(tmp_path / "data"), SERAMBI_PSEUDONYM_KEY="wheel-test-key")
    imported = _run([serambi, "import", "jsonl", str(events)], cwd=tmp_path, env=env)
    assert "imported 5, dead-lettered 0" in imported
    report = orjson.loads(
        _run([serambi, "report", "--format", "json", "--until", "2030-01-01 00:00:00"], cwd=tmp_path, env=env)
    )
    rows = {row["agency_id"]: row for row in report["agencies"]}
    assert rows[agency_id]["citizen_messages"] == 3
    assert rows[agency_id]["answered"] == 1
    assert rows[agency_id]["overdue"] == 2
