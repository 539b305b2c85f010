"""`serambi alerts` as a user runs it, on alert events stored in a real chDB through the storage path."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from schemas.alerts import AlertEvent
from tests.helpers.alerts import START, real_surge_alerts
from tests.helpers.alerts import alert_fields as alert
from tests.helpers.processes import SERAMBI, cli_env, run_cli, run_python

OCTOBER = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)

# In a process of its own (chDB allows one engine per process): every event twice, the second time in reverse
# order, as a replay or a redelivery would bring them. One insert each (ClickHouse replaces within an insert
# block) and merges stopped: all the rows stay there, and the listing must pick each alert's latest
# transition itself. Prints what it saw.
_STORE = """
import json
from pipeline.settings import load_settings
from pipeline.storage.sql.alerts import AlertFilter, list_alerts, store_alerts
from pipeline.storage.store import Store
from schemas.alerts import AlertEvent
events = [AlertEvent.model_validate_json(line) for line in open(PATH, encoding="utf-8")]
s = Store(load_settings())
s.command(f"SYSTEM STOP MERGES {s.database}.alerts")
sent = sum(store_alerts(s, [event]) for event in events + events[::-1])
rows = s.query(f"SELECT count() FROM {s.database}.alerts").rows[0][0]
_, kept = list_alerts(s, s.database, AlertFilter())
active, _ = list_alerts(s, s.database, AlertFilter(active=True))
print(json.dumps({"sent": sent, "rows": rows, "kept": kept, "active": [a.model_dump_json() for a in active]}))
s.close()
"""


def hand_made() -> list[AlertEvent]:
    """jpj: raised and grown, still active; kkm: raised and resolved in October, once with an update and its
    resolve at the same instant (the resolve wins in any insert order)."""
    updated = START + timedelta(minutes=7)
    resolved = OCTOBER + timedelta(hours=1)
    day_before = OCTOBER - timedelta(days=1)
    tie = day_before + timedelta(minutes=20)
    rows = [
        alert(alert_id="jpj-1", agency="jpj", top_terms=["banjir"]),
        alert(
            alert_id="jpj-1",
            agency="jpj",
            transition="update",
            severity="critical",
            updated_at=updated,
            backlog=260,
            top_terms=["banjir", "paras air"],
        ),
        alert(alert_id="kkm-1", agency="kkm", platform="x", started_at=OCTOBER, updated_at=OCTOBER),
        alert(
            alert_id="kkm-1",
            agency="kkm",
            platform="x",
            transition="resolve",
            started_at=OCTOBER,
            updated_at=resolved,
            resolved_at=resolved,
            backlog=3,
        ),
        alert(alert_id="kkm-2", agency="kkm", started_at=day_before, updated_at=day_before),
        alert(alert_id="kkm-2", agency="kkm", transition="update", started_at=day_before, updated_at=tie),
        alert(
            alert_id="kkm-2",
            agency="kkm",
            transition="resolve",
            started_at=day_before,
            updated_at=tie,
            resolved_at=tie,
        ),
    ]
    return [AlertEvent.model_validate(row) for row in rows]


class Stored(NamedTuple):
    """A data dir with alerts: its CLI environment, the latest event of each alert, events stored, what was seen."""

    env: dict[str, str]
    latest: dict[str, AlertEvent]
    events: int
    seen: dict[str, Any]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """A migrated data dir holding the detector's alerts of a real surge (agency a) and the hand-made ones."""
    tmp = tmp_path_factory.mktemp("alerts")
    env = cli_env(tmp)
    run_cli(["db", "migrate"], env)
    events = [AlertEvent.model_validate(a.to_dict()) for a in real_surge_alerts()] + hand_made()
    path = tmp / "alerts.jsonl"
    path.write_text("".join(event.model_dump_json() + "\n" for event in events), encoding="utf-8")
    seen = json.loads(run_python(f"PATH = {str(path)!r}\n" + _STORE, env))
    latest = {event.alert_id: event for event in events}  # in emission order: the last one of an id wins
    return Stored(env, latest, len(events), seen)


def _listed(env: dict[str, str], *options: str) -> dict[str, Any]:
    return dict(orjson.loads(run_cli(["alerts", "--format", "json", *options], env).stdout))


def _ids(body: dict[str, Any]) -> list[str]:
    return [row["alert_id"] for row in body["alerts"]]


def test_each_alert_is_stored_once_in_its_latest_state_whatever_the_replays(stored: Stored) -> None:
    env, latest, events, seen = stored
    assert events > len(latest)  # several transitions per alert
    assert (seen["sent"], seen["rows"], seen["kept"]) == (2 * events, 2 * events, 4)  # all rows there, 4 alerts
    assert [AlertEvent.model_validate_json(a) for a in seen["active"]] == [latest["jpj-1"]]
    body = _listed(env)
    assert body["total"] == 4
    assert str(body["source"]).startswith("stored data in")
    surge_id = next(i for i in latest if i not in {"jpj-1", "kkm-1"})
    assert _ids(body) == ["jpj-1", surge_id, "kkm-1", "kkm-2"]  # newest started first
    for row in body["alerts"]:
        active = row.pop("active")
        assert AlertEvent.model_validate(row) == latest[row["alert_id"]]
        assert active is (row["transition"] != "resolve")
    surge = latest[surge_id]
    assert (surge.agency, surge.transition, surge.severity) == ("a", "resolve", "critical")


def test_active_since_and_agency_filters(stored: Stored) -> None:
    env, latest = stored.env, stored.latest
    surge_id = next(i for i in latest if i not in {"jpj-1", "kkm-1"})
    active = _listed(env, "--active")
    assert (_ids(active), active["total"]) == (["jpj-1"], 1)
    assert active["alerts"][0]["backlog"] == 260  # the update's state, not the raise's
    assert active["alerts"][0]["top_terms"] == ["banjir", "paras air"]  # its terms too, in their order
    assert _ids(_listed(env, "--since", "2026-11-01T00:00+08:00")) == ["jpj-1", surge_id]
    assert _ids(_listed(env, "--since", "2099-01-01")) == ["jpj-1"]  # an active alert is open at any later time
    assert _ids(_listed(env, "--since", "2026-10-05T01:30Z")) == ["jpj-1", surge_id, "kkm-1"]  # kkm open then
    assert _ids(_listed(env, "--since", "2026-10-05T02:01Z")) == ["jpj-1", surge_id]  # kkm resolved at 02:00
    assert _ids(_listed(env, "--agency", "kkm")) == ["kkm-1", "kkm-2"]
    assert _ids(_listed(env, "--agency", "kkm", "--active")) == []
    assert _ids(_listed(env, "--agency", "kkm' OR 1=1 --")) == []  # a bound value, never SQL
    limited = _listed(env, "--limit", "1")
    assert (_ids(limited), limited["total"]) == (["jpj-1"], 4)


def test_the_table_shows_state_severity_and_sizes(stored: Stored) -> None:
    env = stored.env
    lines = run_cli(["alerts"], env).stdout.splitlines()
    assert lines[0].startswith("alerts: stored data in")
    assert lines[0].endswith("showing 4 of 4 (newest first)")
    assert lines[1].split()[:3] == ["started", "(UTC)", "agency"]
    jpj = lines[2].split()
    assert jpj[:8] == ["2026-11-02", "03:00", "jpj", "all", "critical", "active", "260", "10m"]
    assert lines[1].endswith("alert id             citizens ask about")
    assert jpj[-5:] == ["-", "jpj-1", "banjir,", "paras", "air"]  # the surge's top terms, best first
    kkm = lines[4].split()
    assert kkm[2:6] == ["kkm", "x", "warning", "resolved"]
    assert kkm[-4:] == ["2026-10-05", "02:00", "kkm-1", "-"]  # no terms: a dash, never an empty cell
    assert run_cli(["alerts", "--agency", "nobody"], env).stdout.strip().endswith("showing 0 of 0 (newest first)")


def test_alerts_on_a_data_dir_without_data_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [SERAMBI, "alerts"], env=cli_env(tmp_path), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert f"no Serambi data in {tmp_path / 'data'}" in result.stderr
    assert not (tmp_path / "data").exists()
