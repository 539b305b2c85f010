"""``serambi import FORMAT FILE``: a file through Kafka and the worker like live data, until stored."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["import_"]

_FORMATS = ("jsonl", "twcs")


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(_FORMATS))
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Replay with the original timing divided by this factor [default: as fast as possible].",
)
@click.pass_context
@friendly
def import_(ctx: click.Context, fmt: str, path: Path, speed: float | None) -> None:
    """Import FILE (jsonl: canonical events; twcs: Kaggle Customer Support on Twitter CSV).

    Events go through Kafka and the worker like live data; returns when ClickHouse holds them.
    """
    from pipeline.runtime.importer import run_import  # noqa: PLC0415 - loads Kafka clients and maybe the stack

    count = run_import(settings_of(ctx), fmt, path, speed, click.echo)
    click.echo(f"imported {count:,} events from {path}")
