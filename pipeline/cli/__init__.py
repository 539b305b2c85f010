"""The ``serambi`` command line: the group here, one module per command group.

Command modules import only light modules at import time and load the stack (Faust, Kafka clients, chDB)
inside the command that needs it, so ``serambi --help`` and ``serambi schemas check`` start fast.
The global options (``--data-dir``, ``-v``) are accepted after any subcommand too: ``serambi report --data-dir D``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
from pathlib import Path

import click

from pipeline.cli import (
    alerts,
    bench,
    connect,
    dashboards,
    db,
    deadletters,
    imports,
    ingest,
    listen,
    report,
    run,
    schemas,
    simulate,
    status,
    web,
    worker,
)
from pipeline.cli.common import configure_logging, settings_epilog

__all__ = ["main"]

_VERBOSITY = "serambi.verbose"
_DATA_DIR_HELP = "Where chDB data, logs and the state file live [default: ./serambi-data]."
_VERBOSE_HELP = "More log output (-v info, -vv debug; Kafka and Faust libraries at most info: no message text)."


@click.group(epilog=settings_epilog())
@click.version_option(package_name="serambi", prog_name="serambi", message="%(prog)s %(version)s")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="SERAMBI_DATA_DIR",
    show_envvar=True,
    help=_DATA_DIR_HELP,
)
@click.option("-v", "--verbose", count=True, help=_VERBOSE_HELP)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, verbose: int) -> None:
    """Serambi: do government agencies talk *with* citizens on social media, or only *at* them?"""
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stuck process is waiting on, without
    # stopping it (the tests ask a process that outlived its timeout for this before they kill it).
    _dump_stacks_on_sigusr1()
    configure_logging(verbose)
    ctx.meta[_VERBOSITY] = verbose
    ctx.obj = {"data_dir": data_dir} if data_dir else {}


def _dump_stacks_on_sigusr1() -> None:
    # The process's own stderr (fd 2), not sys.stderr: a caller may have swapped that for an object without a
    # file descriptor (a test's capture, an embedding application), which faulthandler cannot write to.
    stream = sys.__stderr__
    if stream is None:
        return
    with contextlib.suppress(ValueError, OSError, AttributeError):  # no usable fd 2: no dumps, nothing else lost
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)


def _late_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    # Parsed after the group's callback ran: the subcommand's value wins over the group's (it came later).
    if value is not None:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "data_dir": value}


def _late_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        total = ctx.meta.get(_VERBOSITY, 0) + value  # ctx.meta is shared by the root and its subcommands
        ctx.meta[_VERBOSITY] = total
        configure_logging(total)


def _accept_global_options(command: click.Command) -> None:
    """Let ``command`` (and its subcommands) take the group's options after its name: ``serambi report -v``."""
    command.params.append(
        click.Option(
            ["--data-dir"],
            type=click.Path(path_type=Path),
            expose_value=False,
            callback=_late_data_dir,
            help=_DATA_DIR_HELP + " Also accepted before the command; env SERAMBI_DATA_DIR.",
        )
    )
    command.params.append(
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_late_verbose, help=_VERBOSE_HELP)
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_global_options(sub)


for _command in (
    run.demo,
    run.run,
    worker.worker,
    web.web,
    simulate.simulate,
    imports.import_,
    ingest.ingest,
    connect.connect,
    deadletters.deadletters,
    alerts.alerts,
    status.status,
    report.report,
    listen.listen,
    bench.bench,
    db.db,
    dashboards.dashboards,
    schemas.schemas,
):
    _accept_global_options(_command)
    main.add_command(_command)
