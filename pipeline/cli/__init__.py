"""The ``serambi`` command line: the group here, one module per command group.

Command modules import only light modules at import time and load the stack (Faust, Kafka clients, chDB)
inside the command that needs it, so ``serambi --help`` and ``serambi schemas check`` start fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import bench, db, deadletters, imports, report, run, schemas, simulate, status
from pipeline.cli.common import configure_logging, settings_epilog

__all__ = ["main"]


@click.group(epilog=settings_epilog())
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="SERAMBI_DATA_DIR",
    show_envvar=True,
    help="Where chDB data, logs and the state file live [default: ./serambi-data].",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output (-v info, -vv debug; Kafka and Faust libraries at most info: no message text).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, verbose: int) -> None:
    """Serambi: do government agencies talk *with* citizens on social media, or only *at* them?"""
    configure_logging(verbose)
    ctx.obj = {"data_dir": data_dir} if data_dir else {}


for _command in (
    run.demo,
    run.run,
    simulate.simulate,
    imports.import_,
    deadletters.deadletters,
    status.status,
    report.report,
    bench.bench,
    db.db,
    schemas.schemas,
):
    main.add_command(_command)
