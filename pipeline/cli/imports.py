"""``serambi import FORMAT FILE``: a file through Kafka and the worker like live data, until stored."""

from __future__ import annotations

import math
from pathlib import Path

import click

from connectors.files import FILE_FORMATS
from pipeline.cli.common import friendly, settings_of

__all__ = ["import_"]


def _a_number(value: float | None) -> float | None:
    if value is not None and math.isnan(value):  # FloatRange lets NaN through: it compares false with both ends
        msg = "nan is not a speed; give a factor > 0 (3600 = an hour a second)"
        raise click.BadParameter(msg)
    return value


@click.command(
    "import", epilog="\b\nFormats:\n" + "\n".join(f"  {name:<8} {text}" for name, text in FILE_FORMATS.items())
)
@click.argument("fmt", metavar="FORMAT", type=click.Choice(list(FILE_FORMATS)))
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    callback=lambda _ctx, _param, value: _a_number(value),
    default=None,
    help="Replay with the original timing divided by this factor (> 0; 3600 = an hour a second) "
    "[default: as fast as possible].",
)
@click.pass_context
@friendly
def import_(ctx: click.Context, fmt: str, path: Path, speed: float | None) -> None:
    """Import FILE in FORMAT; events go through Kafka and the worker like live data, until ClickHouse holds them.

    Ends with `imported N, dead-lettered M (reasons: ...)`; `serambi deadletters` shows each rejected input.
    Exit status: 0 done; 1 when FILE held no valid event; 130/143 when Ctrl-C/SIGTERM stopped it (what was
    published so far is stored; running the import again finishes it and stores nothing twice).
    """
    from pipeline.runtime.importer import run_import  # noqa: PLC0415 - loads Kafka clients and maybe the stack

    result = run_import(settings_of(ctx), fmt, path, speed, click.echo)
    click.echo(result.summary(path, fmt))
    ctx.exit(result.exit_code)
