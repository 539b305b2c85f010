"""``serambi --help`` and ``serambi schemas check`` load no stack library (Faust, Kafka clients, chDB)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("faust", "mode", "aiokafka", "kafka", "chdb", "clickhouse_connect", "prometheus_client")


def _imported_by(*args: str) -> set[str]:
    # -X importtime lists every module the process imported, on stderr, one per line.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("schemas", "check"),
        ("report", "--help"),
        ("import", "--help"),
        ("demo", "--help"),
        ("bench", "--help"),
        ("bench", "chaos", "--help"),
        ("bench", "soak", "--help"),
        ("bench", "capacity"),
        ("listen", "classify", "--help"),
        ("listen", "topics", "--help"),
    ],
)
def test_light_commands_import_no_stack_library(args: tuple[str, ...]) -> None:
    imported = _imported_by(*args)
    assert "click" in imported  # the probe sees imports at all
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
