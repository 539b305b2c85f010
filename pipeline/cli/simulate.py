"""``serambi simulate``: the simulator connector into Kafka, or simulated events into a JSON-lines file."""

from __future__ import annotations

from typing import BinaryIO

import click

from pipeline.cli.common import duration_option, friendly, settings_of

__all__ = ["simulate"]


@click.command()
@duration_option
@click.option(
    "--speed",
    type=float,
    default=60.0,
    show_default=True,
    help="Simulated seconds per wall-clock second (replays the recent past, then live).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed: same seed, same events.")
@click.option(
    "--output",
    type=click.File("wb"),
    default=None,
    help="Write --hours of events as JSON lines here instead of Kafka ('-' = stdout).",
)
@click.option("--hours", type=float, default=24.0, show_default=True, help="Simulated hours for --output.")
@click.pass_context
@friendly
def simulate(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    duration: float | None,
    speed: float,
    seed: int,
    output: BinaryIO | None,
    hours: float,
) -> None:
    """Simulator connector: realistic agency and citizen activity into Kafka.

    Uses the running stack's broker (serambi demo/run), else SERAMBI_KAFKA_BOOTSTRAP_SERVERS.
    """
    from pipeline.runtime.feed import publish_simulation, write_simulation  # noqa: PLC0415 - Kafka clients

    settings = settings_of(ctx)
    if output is not None:
        count = write_simulation(settings, output, hours=hours, seed=seed)
    else:
        count = publish_simulation(settings, duration_s=duration, speed=speed, seed=seed, say=click.echo)
    click.echo(f"simulated {count:,} events", err=True)
