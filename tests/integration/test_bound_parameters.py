"""Hostile agency ids reach SQL only as bound parameters: through the CLI and through a running stack's API.

Agency ids are restricted to ``^[a-z0-9][a-z0-9_-]*$``, so each hostile id simply matches nothing: the
CLI report refuses it as an unknown agency (checked against the known ids, no SQL of it), the report
query answers the empty row for it, nothing else errors, and every table is intact afterwards.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.errors import StoreError
from pipeline.runtime.client import StackClient
from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.report import REPORT_FIELDS, ReportWindow, build_report
from schemas.agency import Directory
from schemas.tables import AGENCIES, DEAD_LETTERS, INTERACTIONS, POSTS, REACTIONS, RESPONSE_FACTS
from tests.helpers.events import AGENCY, T0, EventFactory
from tests.helpers.live import LiveStack
from tests.helpers.processes import SERAMBI, cli_env, run_cli, run_python
from tests.helpers.settings import SettingsFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE = (
    "it's",
    "back\\slash\\",
    "' OR 1=1 --",
    "x'); DROP TABLE serambi.posts; --",
    "agénsi 政府 🚨",
    "{agency:String}",
    "{since:DateTime64(6, 'UTC')}",
    "\\'; SELECT 1; --",
)
TABLES = (POSTS, INTERACTIONS, REACTIONS, DEAD_LETTERS, RESPONSE_FACTS, AGENCIES)
_COUNTS = {
    "citizen_messages",
    "needs_reply_messages",
    "answered",
    "pending",
    "overdue",
    "removed",
    "agency_posts",
    "agency_replies",
    "backlog",
}


def _empty(agency_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {field: 0 if field in _COUNTS else None for field in REPORT_FIELDS}
    return {**row, "agency_id": agency_id, "class": "insufficient_data"}


def _stored_counts(env: dict[str, str]) -> dict[str, int]:
    # Another process: the CLI's data dir is chDB too, and chDB allows one engine per process.
    code = (
        "import json\nfrom pipeline.settings import load_settings\nfrom pipeline.storage.store import Store\n"
        "s = Store(load_settings())\n"
        "tables = s.query('SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name',"
        " {'db': s.database}).rows\n"
        "print(json.dumps({t: s.query(f'SELECT count() FROM {s.database}.{t}').rows[0][0] for (t,) in tables}))\n"
    )
    stdout = run_python(code, env)
    counts: dict[str, int] = json.loads(stdout)
    return counts


def test_hostile_agency_ids_through_the_cli_report(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    run_cli(["import", "twcs", str(FIXTURES / "twcs_quirks.csv")], env)
    before = _stored_counts(env)
    assert set(TABLES) <= set(before)
    assert before[INTERACTIONS] > 0
    for hostile in HOSTILE:
        args = [SERAMBI, "report", "--agency", hostile, "--format", "json"]
        refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert (refused.returncode, refused.stdout) == (2, ""), hostile
        assert "no agency" in refused.stderr, hostile
    # The filter still works for a real agency, and the window travels bound too.
    expected = json.loads((FIXTURES / "twcs_quirks_expected.json").read_text())["posmalaysiax"]
    args = ["--agency", "posmalaysiax", "--since", "2000-01-01 00:00:00", "--until", "2030-01-01 00:00:00"]
    [row] = orjson.loads(run_cli(["report", *args, "--format", "json"], env).stdout)["agencies"]
    assert (row["agency_id"], row["citizen_messages"], row["answered"]) == (
        "posmalaysiax",
        expected["citizen_messages"],
        expected["answered"],
    )
    assert _stored_counts(env) == before


@pytest.fixture
def live(settings_factory: SettingsFactory) -> Iterator[LiveStack]:
    stack = LiveStack(settings_factory()).start()
    yield stack
    stack.stop()


def _table_counts(engine: QueryEngine, database: str) -> dict[str, int]:
    names = engine.query(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name", {"db": database}, read_only=True
    ).rows
    return {
        name: engine.query(f"SELECT count() FROM {database}.{name}", read_only=True).rows[0][0] for (name,) in names
    }


def test_hostile_agency_ids_through_the_stack_api(
    live: LiveStack, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    live.stack.agencies.register(tiny_directory.agencies)
    question = event_factory("comment", message_id="q1", root_id="r1", created_at=T0)
    answer = event_factory("reply", message_id="a1", parent_id="q1", root_id="r1", created_at=T0 + timedelta(hours=1))
    live.publish(tiny_directory, [question, answer, event_factory("post", post_id="p1", created_at=T0)])
    live.drain()
    client, db = StackClient(live.stack.api.url), live.settings.clickhouse_database
    before = _table_counts(client, db)
    assert set(TABLES) <= set(before)
    for hostile in HOSTILE:
        assert build_report(client, db, ReportWindow(agency_id=hostile)) == [_empty(hostile)], hostile
        assert client.query("SELECT {v:String} AS v", {"v": hostile}, read_only=True).rows == [(hostile,)]
    [row] = build_report(client, db, ReportWindow(agency_id=AGENCY))
    assert (row["citizen_messages"], row["answered"], row["agency_posts"], row["agency_replies"]) == (1, 1, 1, 1)
    # Instants keep their microseconds through JSON: the API and the local store give the same report.
    window = ReportWindow(since=T0 - timedelta(microseconds=1), until=datetime(2026, 11, 2, 3, 0, 0, 999, tzinfo=UTC))
    assert build_report(client, db, window) == build_report(live.stack.store, db, window)
    assert _table_counts(client, db) == before


def test_the_api_refuses_values_it_would_have_to_splice(live: LiveStack) -> None:
    client = StackClient(live.stack.api.url)
    # Without a {name:Type} placeholder, clickhouse-connect would format the value into the SQL text itself.
    with pytest.raises(StoreError, match="placeholder"):
        client.query("SELECT %(v)s", {"v": "x' OR 1=1"}, read_only=True)
    with pytest.raises(StoreError, match="only one SELECT"):
        client.query("DROP TABLE {t:Identifier}", {"t": f"{live.settings.clickhouse_database}.{POSTS}"}, read_only=True)
