"""``serambi report``: the cross-agency table in the terminal, or JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from pipeline.cli.common import friendly, settings_of
from pipeline.domain.windows import ROLLING_WINDOWS, rolling_window
from pipeline.storage.sql.report import REPORT_FIELDS
from schemas.timeutil import assume_utc

__all__ = ["print_report", "report"]

_COLOURS = {"dinner_party": "green", "mixed": "yellow", "soapbox": "red", "insufficient_data": "bright_black"}
_COLUMNS = (
    ("agency_id", "agency", 18),
    ("class", "class", 18),
    ("citizen_messages", "msgs", 7),
    ("answered", "answered", 9),
    ("pending", "pending", 8),
    ("overdue", "overdue", 8),
    ("reply_rate", "reply%", 7),
    ("sla_compliance", "sla%", 6),
    ("median_response_seconds", "median", 9),
    ("p90_response_seconds", "p90", 9),
    ("two_way_ratio", "2-way", 6),
    ("pull_share", "pull%", 6),
    ("backlog", "backlog", 8),
    ("oldest_unanswered_seconds", "oldest", 9),
)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--since", type=click.DateTime(), default=None, help="Start (UTC) [default: all data].")
@click.option("--until", type=click.DateTime(), default=None, help="End (UTC), status judged here [default: now].")
@click.option(
    "--window",
    type=click.Choice(list(ROLLING_WINDOWS)),
    default=None,
    help="Rolling window ending now (instead of --since/--until).",
)
@click.option("--agency", default=None, help="Only this agency id.")
@click.option("--sort", type=click.Choice(REPORT_FIELDS), default="reply_rate", show_default=True)
@click.pass_context
@friendly
def report(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    window: str | None,
    agency: str | None,
    sort: str,
) -> None:
    """Cross-agency report: do agencies answer citizens, how fast, and are they soapboxes or dinner parties?"""
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.report import ReportWindow, build_report  # noqa: PLC0415

    settings = settings_of(ctx)
    if window is not None:
        if since is not None or until is not None:
            msg = "--window replaces --since/--until: give one or the other"
            raise click.UsageError(msg)
        since, until = rolling_window(datetime.now(UTC), window)
    span = ReportWindow(
        since=_utc(since) or ReportWindow.since,
        until=_utc(until),
        agency_id=agency,
        default_sla_hours=settings.sla_hours,
    )
    with open_read_engine(settings) as engine:
        print_report(build_report(engine.queries, engine.database, span), fmt, sort, click.echo)


def _utc(moment: datetime | None) -> datetime | None:
    # click.DateTime gives naive times: the report's times are UTC.
    return assume_utc(moment) if moment is not None else None


def print_report(rows: list[dict[str, Any]], fmt: str, sort: str, say: Callable[[str], None]) -> None:
    """Print report rows as a coloured table sorted by ``sort`` (agencies without the figure last), or JSON."""
    if fmt == "json":
        say(orjson.dumps({"agencies": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    descending = sort not in ("agency_id", "class")
    known = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=descending)
    rows = known + [r for r in rows if r[sort] is None]  # agencies without the figure go last
    say("".join(f"{title:>{width}}" if i else f"{title:<{width}}" for i, (_, title, width) in enumerate(_COLUMNS)))
    for row in rows:
        cells = [_cell(key, row[key], width, i) for i, (key, _, width) in enumerate(_COLUMNS)]
        say("".join(cells))
    if not rows:
        say("no agencies yet")


def _cell(key: str, value: Any, width: int, index: int) -> str:
    if key == "class":
        return click.style(f"{value:>{width}}", fg=_COLOURS.get(str(value)))
    if value is None:
        text = "-"
    elif key.endswith(("_rate", "_compliance", "_share", "_ratio")):
        text = f"{100 * value:.0f}"
    elif key.endswith("_seconds"):
        text = _duration(float(value))
    else:
        text = str(value)
    return f"{text:<{width}}" if index == 0 else f"{text:>{width}}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
