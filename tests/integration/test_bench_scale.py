"""`serambi bench scale`: K worker processes on P partitions store every event exactly once (issue 13).

Correctness only, no timing: two processes on four partitions, each with its own chDB data dir, must together
store each event of the topic once; the rows of every raw table across both data dirs equal what the topic
holds, and no event id is stored twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.tables import RAW_TABLES
from tests.helpers.processes import cli_env, run_cli

EVENTS = 4_000


def test_two_workers_on_four_partitions_store_every_event_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    args = ["bench", "scale", "--workers", "2", "--partitions", "4", "--events", str(EVENTS), "--runs", "1"]
    result = run_cli([*args, "--json-out", str(out)], cli_env(tmp_path))

    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["events"] == EVENTS
    assert sum(figures["per_partition"].values()) == EVENTS
    assert all(count > 0 for count in figures["per_partition"].values())  # each process had work
    assert sum(figures["per_table"].values()) == EVENTS
    (run,) = figures["runs"]
    assert run["workers"] == 2
    assert run["partitions"] == 4
    assert run["stored_per_table"] == {table: figures["per_table"][table] for table in RAW_TABLES}
    assert run["duplicates"] == 0
    assert run["missing"] == 0
    assert "stored once" in result.stdout
    assert result.stdout.splitlines()[2].split()[:2] == ["2", "4"]  # the table's row: 2 workers, 4 partitions
