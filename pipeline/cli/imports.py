"""``serambi import FORMAT FILE``: a file through Kafka and the worker like live data, until stored."""

from __future__ import annotations

from pathlib import Path

import click

from connectors.files import FILE_FORMATS
from pipeline.cli.common import friendly, settings_of

__all__ = ["import_"]


@click.command(
    "import", epilog="\b\nFormats:\n" + "\n".join(f"  {name:<8} {text}" for name, text in FILE_FORMATS.items())
)
@click.argument("fmt", metavar="FORMAT", type=click.Choice(list(FILE_FORMATS)))
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
    """Import FILE in FORMAT; events go through Kafka and the worker like live data, until ClickHouse holds them."""
    from pipeline.runtime.importer import run_import  # noqa: PLC0415 - loads Kafka clients and maybe the stack

    result = run_import(settings_of(ctx), fmt, path, speed, click.echo)
    click.echo(result.summary(path))
