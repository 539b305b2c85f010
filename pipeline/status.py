"""``serambi status``: totals per agency and kind, from the running stack or the local ClickHouse."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from pipeline.queries import QueryEngine, dead_letter_sql, status_totals
from pipeline.remote import StackClient
from pipeline.settings import Settings
from pipeline.state import read_state
from pipeline.store import Store

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
        say(orjson.dumps({"source": where, "agencies": totals, "dead_letters": letters},
                         option=orjson.OPT_INDENT_2).decode())
        return
    say(f"Serambi status: {where}")
    if not totals:
        say("no events stored yet")
    kinds = sorted({kind for per in totals.values() for kind in per})
    say(_row("agency", kinds))
    for agency, per in sorted(totals.items()):
        say(_row(agency, [f"{per.get(kind, 0):,}" for kind in kinds]))
    say(f"dead letters: {sum(int(x['letters']) for x in letters)} "
        + " ".join(f"{x['stage']}/{x['error_type']}={x['letters']}" for x in letters))


def _row(first: str, cells: list[str]) -> str:
    return f"{first:<16}" + "".join(f"{cell:>22}" for cell in cells)


