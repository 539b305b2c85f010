"""``serambi simulate``: the simulator connector into Kafka, or simulated events into a JSON-lines file."""

from __future__ import annotations

from typing import BinaryIO

import click

from pipeline.cli.common import duration_option, friendly, settings_of
from pipeline.settings import Settings, read_settings

__all__ = ["simulate"]


@click.command()
@duration_option
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
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
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True),
    default=24.0,
    show_default=True,
    help="Simulated hours for --output (> 0), ending now.",
)
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
    Ctrl-C/SIGTERM stop it at once (exit 130/143): what was published is flushed, a file keeps whole lines.
    """
    from pipeline.runtime.feed import publish_simulation, write_simulation  # noqa: PLC0415 - Kafka clients

    if output is not None:
        result = write_simulation(_settings_creating_nothing(ctx), output, hours=hours, seed=seed)
    else:
        settings = _settings_creating_nothing(ctx)
        if not settings.embedded_broker:  # an external Kafka: the events need this data dir's pseudonym key
            settings = settings_of(ctx)
        result = publish_simulation(settings, duration_s=duration, speed=speed, seed=seed, say=click.echo)
    where = "written" if output is not None else "published"
    if result.interrupt is not None:
        click.echo(f"interrupted by {result.interrupt.name}: simulated {result.events:,} events, all {where}", err=True)
    else:
        click.echo(f"simulated {result.events:,} events", err=True)
    ctx.exit(result.exit_code)


def _settings_creating_nothing(ctx: click.Context) -> Settings:
    """Settings without creating a data dir or key: a file output needs none, a running stack has its own."""
    return read_settings(**(ctx.find_root().obj or {}))
