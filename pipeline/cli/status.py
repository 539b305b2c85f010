"""``serambi status``: totals per agency and kind, from the running stack or the local ClickHouse."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from pipeline.runtime.client import StackClient
from pipeline.runtime.statefile import read_state
from pipeline.settings import Settings
from pipeline.storage.sql.status import QueryEngine, dead_letter_sql, status_totals
from pipeline.storage.store import Store

__all__ = ["show_status"]


def show_status(settings: Settings, fmt: str, say: Callable[[str], None]) -> None:
    """Print totals per agency and kind (``fmt`` = table or json)."""
    state = read_state(settings.state_file)
    if state is not None:
        _report(StackClient(state.api_url), settings, fmt, say, f"running stack pid {state.pid}")
        return
    store = Store(settings)
    try:
        store.migrate()
        _report(store, settings, fmt, say, f"stored data in {settings.data_dir} (no stack running)")
    finally:
        store.close()


def _report(engine: QueryEngine, settings: Settings, fmt: str, say: Callable[[str], None], where: str) -> None:
    totals = status_totals(engine, settings.clickhouse_database)
    letters = engine.query(dead_letter_sql(settings.clickhouse_database), read_only=True).dicts()
    if fmt == "json":
        say(
            orjson.dumps(
                {"source": where, "agencies": totals, "dead_letters": letters}, option=orjson.OPT_INDENT_2
            ).decode()
        )
        return
    say(f"Serambi status: {where}")
    if not totals:
        say("no events stored yet")
    say(_row("agency", [title for title, _ in _GROUPS] + ["total"]))
    for agency, per in sorted(totals.items()):
        cells = [sum(n for kind, n in per.items() if kind.startswith(prefix)) for _, prefix in _GROUPS]
        say(_row(agency, [f"{n:,}" for n in [*cells, sum(per.values())]]))
    say(
        f"dead letters: {sum(int(x['letters']) for x in letters)} "
        + " ".join(f"{x['stage']}/{x['error_type']}={x['letters']}" for x in letters)
    )


_GROUPS = (
    ("posts", "post"),
    ("citizen msgs", "citizen_"),
    ("agency msgs", "agency_"),
    ("inter-agency", "other_agency_"),
    ("reactions", "reaction_"),
)


def _row(first: str, cells: list[str]) -> str:
    return f"{first:<20}" + "".join(f"{cell:>14}" for cell in cells)
