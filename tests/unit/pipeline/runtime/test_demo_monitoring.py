"""The demo without Prometheus and Alertmanager, or with ones that fail: one line says so, and it runs on."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from pipeline.runtime.demo import start_monitoring
from pipeline.runtime.stack import RunningStack
from pipeline.settings import load_settings


def _stack(tmp_path: Path) -> RunningStack:
    settings = load_settings(data_dir=tmp_path / "data")
    return cast(RunningStack, SimpleNamespace(settings=settings, api=SimpleNamespace(url="http://127.0.0.1:1")))


def test_without_the_binaries_the_demo_says_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    said: list[str] = []
    assert start_monitoring(_stack(tmp_path), said.append) == []
    assert said == [
        "Prometheus and Alertmanager are not installed, so the demo runs without them; to get them: "
        "apt-get install prometheus prometheus-alertmanager, or `make tools`"
    ]


def test_binaries_that_fail_leave_one_line_naming_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("prometheus", "prometheus-alertmanager"):
        binary = tmp_path / name
        binary.write_text("#!/bin/sh\nexit 2\n")
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    said: list[str] = []
    assert start_monitoring(_stack(tmp_path), said.append) == []
    (line,) = said
    assert line.startswith("running without Prometheus and Alertmanager: Alertmanager")
    assert line.endswith(f"exited with code 2; see {tmp_path / 'data' / 'monitoring' / 'alertmanager.log'}")
