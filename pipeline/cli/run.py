"""``serambi demo`` and ``serambi run``: the embedded stack, with or without the simulator."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from pipeline.cli.common import duration_option, friendly, settings_of

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.storage.query import QueryEngine

__all__ = ["demo", "run"]

# The demo's default replay speed: the week of history in about a minute, a day in ~9 s (simulate's 60x is a
# gentle live-like flow into a stack that already runs).
DEMO_SPEED = 10080.0
_REPORT_SPAN = timedelta(days=7)


class IsoTime(click.ParamType):
    """An ISO-8601 date or date-time; with an offset (``+08:00``, ``Z``) or else UTC."""

    name = "ISO-8601 time"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """``value`` as an aware datetime (naive input is UTC)."""
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                self.fail(f"{value!r} is not an ISO-8601 time, e.g. 2026-11-20 or 2026-11-20T08:00+08:00", param, ctx)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.command()
@duration_option
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=DEMO_SPEED,
    show_default=True,
    help="Simulated seconds per wall-clock second while the history replays (default: a week in a minute); "
    "live once it reaches now.",
)
@click.option(
    "--start",
    type=IsoTime(),
    default=None,
    help="Start of the simulated history (ISO-8601; UTC unless an offset is given) [default: 7 days ago].",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulator.")
@click.pass_context
@friendly
def demo(ctx: click.Context, duration: float | None, speed: float, start: datetime | None, seed: int) -> None:
    """Run the whole job on the embedded default: broker, ClickHouse, worker, simulator.

    Replays a week of simulated history fast, then runs live; on exit, drains and prints the report of the
    last 7 days. Running it again on the same data dir stores the overlapping history once (the simulator's
    events are the same, with the same ids, for the same minutes).
    """
    from pipeline.runtime.demo import DemoOptions, plan_demo, run_stack  # noqa: PLC0415 - loads Faust and chDB

    plan = plan_demo(datetime.now(UTC), speed, start)  # refuses a bad --start before anything starts
    settings = settings_of(ctx)
    click.echo(
        f"serambi demo: starting Kafka (embedded), ClickHouse (chDB) and the worker, then replaying "
        f"{_span(plan.now - plan.start)} of simulated history (~{plan.replay_seconds:,.0f} s) and running live. "
        "Ctrl-C stops, drains and prints the report."
    )
    options = DemoOptions(duration_s=duration, speed=speed, seed=seed, start=start)
    sys.exit(asyncio.run(run_stack(settings, options, click.echo, report=lambda q, db: _report(settings, q, db))))


def _span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} hours"


def _report(settings: Settings, queries: QueryEngine, database: str) -> None:
    from pipeline.cli.report import print_report  # noqa: PLC0415 - the report's own imports
    from pipeline.storage.sql.report import ReportWindow, build_report  # noqa: PLC0415

    until = datetime.now(UTC)
    since = until - _REPORT_SPAN
    window = ReportWindow(since=since, until=until, default_sla_hours=settings.sla_hours)
    rows = build_report(queries, database, window)
    click.echo(
        f"\ncross-agency report, {since:%a %d %b %H:%M} to {until:%a %d %b %H:%M} UTC "
        "(`serambi report --window 7d` shows it again):"
    )
    print_report(rows, "table", "reply_rate", click.echo)


@click.command()
@duration_option
@click.pass_context
@friendly
def run(ctx: click.Context, duration: float | None) -> None:
    """Run broker (unless configured), ClickHouse, API and worker, without the simulator."""
    from pipeline.runtime.demo import DemoOptions, run_stack  # noqa: PLC0415 - loads Faust and chDB

    options = DemoOptions(duration_s=duration, speed=1.0, seed=0, simulate=False)
    sys.exit(asyncio.run(run_stack(settings_of(ctx), options, click.echo)))
