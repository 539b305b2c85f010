"""Every ClickHouse panel of the committed dashboards runs against chDB loaded with simulator data.

Each panel's ``rawSql`` is expanded the way Grafana and the ClickHouse plugin do (tests/helpers/grafana_macros.py)
for All, one agency, two agencies of which one has a quote in its id, and one tier; it must run and return its
catalog view's columns, only the chosen agencies, and the same rows as the view run with bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import committed_dashboards
from dashboards.common import CLICKHOUSE_PLUGIN, DATABASE, view_sql
from pipeline.storage.server_migrations import server_statements
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import CATALOG, run_view
from pipeline.storage.sql.viewspec import Audience
from pipeline.storage.store import Store
from schemas.agency import Directory
from tests.helpers.catalog_data import LoadedStack, load_simulation
from tests.helpers.grafana_macros import ALL, expand

QUOTED = "o'brien"
SQL_VIEWS = {view_sql(v): name for name, v in CATALOG.items()}
PANELS = [
    (d.uid, p["title"], t["rawSql"])
    for d in committed_dashboards()
    for p in d.model["panels"]
    for t in p.get("targets", [])
    if t.get("datasource", {}).get("type") == CLICKHOUSE_PLUGIN
]
CASES = ("all", "one", "two_with_quote", "tier")


@dataclass(frozen=True)
class Case:
    """Variable values of one case and the same choice as a :class:`ViewFilter`."""

    values: dict[str, Sequence[str]]
    agencies: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()

    def view_filter(self, stack: LoadedStack) -> ViewFilter:
        return ViewFilter(stack.since, stack.until, agencies=self.agencies, tiers=self.tiers)


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, sample_directory: Directory
) -> Iterator[LoadedStack]:
    stack = load_simulation(tmp_path_factory.mktemp("dashboards"), chdb_dir, sample_directory, days=2.0)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def busiest(loaded: LoadedStack) -> str:
    rows = loaded.store.query(
        f"SELECT agency_id FROM {loaded.database}.interactions WHERE author_role = 'citizen' "
        "GROUP BY agency_id ORDER BY count() DESC, agency_id LIMIT 1"
    ).rows
    return str(rows[0][0])


@pytest.fixture(scope="module")
def cases(busiest: str, sample_directory: Directory) -> dict[str, Case]:
    tier = next(a.tier for a in sample_directory.agencies if a.id == busiest)
    return {
        "all": Case({"agency": ALL, "platform": ALL, "tier": ALL}),
        "one": Case({"agency": [busiest], "platform": ALL, "tier": ALL}, agencies=(busiest,)),
        "two_with_quote": Case({"agency": [busiest, QUOTED], "platform": ALL, "tier": ALL}, agencies=(busiest, QUOTED)),
        "tier": Case({"agency": ALL, "platform": ALL, "tier": [tier]}, tiers=(tier,)),
    }


def _on(database: str, sql: str) -> str:
    # The dashboards read the `serambi` database; the loaded stack has a database of its own.
    renamed, count = re.subn(rf"\b{DATABASE}\.", f"{database}.", sql)
    assert count > 0
    return renamed


def _run(store: Store, database: str, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return store.query(_on(database, sql), parameters, read_only=True).dicts()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("uid", "title", "raw_sql"), PANELS, ids=[f"{u}:{t}" for u, t, _ in PANELS])
def test_panel_sql_runs_and_returns_its_columns(
    loaded: LoadedStack, cases: dict[str, Case], busiest: str, case: str, uid: str, title: str, raw_sql: str
) -> None:
    assert raw_sql in SQL_VIEWS, f"{uid}/{title}: not a catalog view's SQL; run `serambi dashboards generate`"
    name = SQL_VIEWS[raw_sql]
    catalog_view, chosen = CATALOG[name], cases[case]
    sql = expand(raw_sql, loaded.since, loaded.until, chosen.values)
    if case == "two_with_quote" and "${agency:singlequote}" in raw_sql:
        assert "'o\\'brien'" in sql
    rows = _run(loaded.store, loaded.database, sql)
    if rows:
        assert tuple(rows[0]) == catalog_view.column_names
    if case == "all" and catalog_view.audience == Audience.CENTRAL:
        assert rows, f"{name} returned no rows for All"
    agencies = {r["agency_id"] for r in rows if "agency_id" in r}
    if case in {"one", "two_with_quote"}:
        assert agencies <= {busiest}
        if name in {"leaderboard", "quadrant"}:
            assert agencies == {busiest}
    if case == "tier":
        tier = chosen.tiers[0]
        members = f"SELECT DISTINCT agency_id FROM {DATABASE}.agencies WHERE tier = {{tier:String}}"
        in_tier = {r["agency_id"] for r in _run(loaded.store, loaded.database, members, {"tier": tier})}
        assert agencies <= in_tier
    if catalog_view.audience in {Audience.CENTRAL, Audience.AGENCY}:
        # Macros and bound parameters are two renderings of one view: same rows for the same choice.
        bound = run_view(loaded.store, loaded.database, name, chosen.view_filter(loaded)).dicts()
        assert _sorted(rows) == _sorted(bound)


def _sorted(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return sorted(tuple(repr(v) for v in row.values()) for row in rows)


def test_the_leaderboard_has_every_directory_agency_for_all(loaded: LoadedStack, sample_directory: Directory) -> None:
    (raw_sql,) = {sql for _, title, sql in PANELS if title == "Leaderboard: answering"}
    sql = expand(raw_sql, loaded.since, loaded.until, {"agency": ALL, "platform": ALL, "tier": ALL})
    rows = _run(loaded.store, loaded.database, sql)
    assert {a.id for a in sample_directory.agencies} <= {r["agency_id"] for r in rows}
    assert any(r["citizen_messages"] > 0 for r in rows)


def test_variable_queries_list_the_directory(loaded: LoadedStack, sample_directory: Directory) -> None:
    (overview,) = [d for d in committed_dashboards() if d.uid == "serambi-overview"]
    variables = {v["name"]: v["query"] for v in overview.model["templating"]["list"] if v["type"] == "query"}
    found = {name: [r[0] for r in loaded.store.query(_on(loaded.database, sql), read_only=True).rows]
             for name, sql in variables.items()}  # fmt: skip
    agencies = sample_directory.agencies
    assert set(found["agency"]) >= {a.id for a in agencies}
    assert set(found["tier"]) == {a.tier for a in agencies}
    assert set(found["platform"]) == {str(acc.platform) for a in agencies for acc in a.accounts}
    for values in found.values():
        assert values == sorted(values)


def test_the_grafana_reader_migration_parses_with_clickhouse(loaded: LoadedStack) -> None:
    parameters = {"password_sha256_hex": "ab" * 32, "password_salt": "cd" * 16}
    statements = server_statements(loaded.database)
    assert len(statements) >= 5
    for _, statement in statements:
        bound = {k: v for k, v in parameters.items() if "{" + k + ":" in statement}
        ast = loaded.store.query(f"EXPLAIN AST {statement}", bound or None).rows
        assert ast, statement
    (profile,) = [s for _, s in statements if s.startswith("CREATE SETTINGS PROFILE")]
    names = re.findall(r"(\w+) = ", profile)
    known = loaded.store.query(
        "SELECT name FROM system.settings WHERE name IN {names:Array(String)}", {"names": names}
    ).rows
    assert sorted(r[0] for r in known) == sorted(names)
