"""``serambi status``: totals per agency and kind, from the running stack or the local ClickHouse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
import orjson

from pipeline.cli.common import friendly, read_settings_of

if TYPE_CHECKING:
    from pipeline.storage.sql.cursors import CursorStatus
    from pipeline.storage.sql.status import FutureEvents

__all__ = ["print_status", "status"]

_GROUPS = (
    ("posts", "post"),
    ("citizen msgs", "citizen_"),
    ("agency msgs", "agency_"),
    ("inter-agency", "other_agency_"),
    ("reactions", "reaction_"),
    ("edits/removals", "change_"),
)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@friendly
def status(ctx: click.Context, fmt: str) -> None:
    """Totals per agency and kind, through the running stack if one is up."""
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.cursors import cursor_status  # noqa: PLC0415
    from pipeline.storage.sql.status import dead_letter_sql, future_events, status_totals  # noqa: PLC0415

    with open_read_engine(read_settings_of(ctx)) as engine:
        totals = status_totals(engine.queries, engine.database)
        letters = engine.queries.query(dead_letter_sql(engine.database), read_only=True).dicts()
        future = future_events(engine.queries, engine.database)
        cursors = cursor_status(engine.queries, engine.database)
        print_status(engine.source, totals, letters, fmt, click.echo, future=future, cursors=cursors)


def print_status(  # noqa: PLR0913 - the parts of the output, and where it goes
    source: str,
    totals: dict[str, dict[str, int]],
    letters: list[dict[str, Any]],
    fmt: str,
    say: Callable[[str], None],
    *,
    future: FutureEvents | None = None,
    cursors: Sequence[CursorStatus] = (),
) -> None:
    """Print totals per agency and kind and dead letters per stage and type (``fmt`` = table or json).

    ``totals`` count events dated before now, as a report does; ``future`` are the stored events dated
    after now, which no report counts yet (shown apart, so the totals and a report agree). ``cursors``: how far
    each ``serambi connect`` connector got per account (its newest page stored whole).
    """
    ahead, earliest = (future.events, future.earliest) if future else (0, None)
    if fmt == "json":
        body = {
            "source": source,
            "agencies": totals,
            "dead_letters": letters,
            "future_events": {"events": ahead, "earliest": _iso(earliest)},
            "connectors": [
                {
                    "source": c.source,
                    "account": c.account,
                    "last_page_fetched_at": _iso(c.fetched_at),
                    "pages": c.pages,
                    "pages_in_flight": c.incomplete,
                }
                for c in cursors
            ],
        }
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
    for c in cursors:
        say(
            f"connector {c.source} {c.account}: newest page stored whole fetched {_iso(c.fetched_at)}; "
            f"{c.pages:,} pages, {c.incomplete} in flight"
        )
    if ahead:
        say(
            f"not counted: {ahead:,} stored event(s) dated after now (earliest {_iso(earliest)}), "
            "in no report until then: check the clock of their source"
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _row(first: str, cells: list[str]) -> str:
    return f"{first:<20}" + "".join(f"{cell:>14}" for cell in cells)
