"""``serambi alerts``: alerts on agencies (unanswered surges), each in its latest state, newest first.

Read-only: from the running stack of the data dir, else its local ClickHouse; a data dir without data is an
error, never created.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
import orjson

from pipeline.cli.common import SINCE, friendly, read_settings_of
from pipeline.cli.report import human_duration

if TYPE_CHECKING:
    from schemas.alerts import AlertEvent

__all__ = ["alerts", "print_alerts"]

_HEADER = (
    f"{'started (UTC)':<17} {'agency':<12} {'platform':<9} {'severity':<8} {'state':<8} {'backlog':>7} "
    f"{'oldest':>7} {'per min':>7} {'normal':>7} {'resolved (UTC)':<17} {'alert id':<20} citizens ask about"
)


@click.command("alerts")
@click.option("--active", is_flag=True, help="Only alerts not resolved yet.")
@click.option(
    "--since",
    type=SINCE,
    default=None,
    help="Only alerts open at or after: ISO-8601, or an age (30m, 24h, 7d); active ones always are.",
)
@click.option("--agency", default=None, metavar="ID", help="Only this agency's alerts.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Newest first, at most this many."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@friendly
def alerts(  # noqa: PLR0913 - one parameter per option
    ctx: click.Context, active: bool, since: datetime | None, agency: str | None, limit: int, fmt: str
) -> None:
    """Show alerts: when a surge of unanswered messages started, how big, and whether it is resolved.

    \b
    platform   "all" for an agency's traffic on every platform together
    severity   warning, or critical for a large surge or backlog
    backlog    unanswered citizen messages at the alert's last update; oldest: age of the oldest one
    per min    citizen messages per minute in the window that judged the surge; normal: its baseline
    citizens ask about   the top terms of the surge's messages against the agency's week before
    Times are event times (a replay of old data gives the alerts of then).
    """
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.alerts import AlertFilter, list_alerts  # noqa: PLC0415

    with open_read_engine(read_settings_of(ctx)) as engine:
        found, total = list_alerts(engine.queries, engine.database, AlertFilter(active, since, agency, limit))
        print_alerts(engine.source, found, total, fmt, click.echo)


def print_alerts(source: str, found: list[AlertEvent], total: int, fmt: str, say: Callable[[str], None]) -> None:
    """Print alerts (``fmt`` = table or json); ``total`` is how many matched before the limit."""
    if fmt == "json":
        rows = [{**alert.model_dump(mode="json"), "active": alert.active} for alert in found]
        say(orjson.dumps({"source": source, "total": total, "alerts": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    say(f"alerts: {source}: showing {len(found):,} of {total:,} (newest first)")
    if not found:
        return
    say(_HEADER)
    for alert in found:
        say(
            f"{_minute(alert.started_at):<17} {alert.agency[:12]:<12} {alert.platform:<9} {alert.severity:<8} "
            f"{'active' if alert.active else 'resolved':<8} {alert.backlog:>7,} "
            f"{human_duration(alert.oldest_unanswered_seconds):>7} {alert.arrivals_per_minute:>7.1f} "
            f"{alert.baseline_per_minute:>7.1f} {_minute(alert.resolved_at):<17} {alert.alert_id:<20} "
            f"{', '.join(alert.top_terms) or '-'}"
        )


def _minute(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
