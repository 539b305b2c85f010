"""``serambi status``: totals per agency and kind, from the running stack or the local ClickHouse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from pipeline.cli.common import friendly, settings_of

__all__ = ["print_status", "status"]

_GROUPS = (
    ("posts", "post"),
    ("citizen msgs", "citizen_"),
    ("agency msgs", "agency_"),
    ("inter-agency", "other_agency_"),
    ("reactions", "reaction_"),
)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@friendly
def status(ctx: click.Context, fmt: str) -> None:
    """Totals per agency and kind, through the running stack if one is up."""
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.status import dead_letter_sql, status_totals  # noqa: PLC0415

    with open_read_engine(settings_of(ctx)) as engine:
        totals = status_totals(engine.queries, engine.database)
        letters = engine.queries.query(dead_letter_sql(engine.database), read_only=True).dicts()
        print_status(engine.source, totals, letters, fmt, click.echo)


def print_status(
    source: str,
    totals: dict[str, dict[str, int]],
    letters: list[dict[str, Any]],
    fmt: str,
    say: Callable[[str], None],
) -> None:
    """Print totals per agency and kind and dead letters per stage and type (``fmt`` = table or json)."""
    if fmt == "json":
        body = {"source": source, "agencies": totals, "dead_letters": letters}
        say(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    say(f"Serambi status: {source}")
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


def _row(first: str, cells: list[str]) -> str:
    return f"{first:<20}" + "".join(f"{cell:>14}" for cell in cells)
