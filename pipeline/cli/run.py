"""``serambi demo`` and ``serambi run``: the embedded stack, with or without the simulator."""

from __future__ import annotations

import asyncio
import sys

import click

from pipeline.cli.common import duration_option, friendly, settings_of

__all__ = ["demo", "run"]


@click.command()
@duration_option
@click.option(
    "--speed",
    type=float,
    default=1440.0,
    show_default=True,
    help="Simulated seconds per wall-clock second: replays the last duration x speed (24 h when "
    "open-ended), then runs live.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulator.")
@click.pass_context
@friendly
def demo(ctx: click.Context, duration: float | None, speed: float, seed: int) -> None:
    """Run the whole job on the embedded default: broker, ClickHouse, worker, simulator."""
    from pipeline.runtime.demo import DemoOptions, run_stack  # noqa: PLC0415 - loads Faust and chDB

    options = DemoOptions(duration_s=duration, speed=speed, seed=seed)
    sys.exit(asyncio.run(run_stack(settings_of(ctx), options, click.echo)))


@click.command()
@duration_option
@click.pass_context
@friendly
def run(ctx: click.Context, duration: float | None) -> None:
    """Run broker (unless configured), ClickHouse, API and worker, without the simulator."""
    from pipeline.runtime.demo import DemoOptions, run_stack  # noqa: PLC0415 - loads Faust and chDB

    options = DemoOptions(duration_s=duration, speed=1.0, seed=0, simulate=False)
    sys.exit(asyncio.run(run_stack(settings_of(ctx), options, click.echo)))
