"""``serambi web``: the web board (and its read API) alone, over ClickHouse."""

from __future__ import annotations

import signal
import threading

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["web"]

_HELP = """Serve the web board: leaderboards, trends, soapbox vs dinner party, per-agency pages.

\b
Reads ClickHouse only (give it the read-only user in SERAMBI_CLICKHOUSE_URL); listens on
SERAMBI_BOARD_HOST:SERAMBI_BOARD_PORT (127.0.0.1:8780; beyond loopback it needs SERAMBI_API_TOKEN). /health
(liveness) and /ready (ClickHouse answers) are open for probes. Refuses to start while the schema is behind
(`serambi db migrate`). On the embedded default it reads through the running stack of the data dir (or the
stored data when none runs); `serambi run` serves the same board itself.
"""


@click.command(help=_HELP)
@click.pass_context
@friendly
def web(ctx: click.Context) -> None:
    """Serve the web board."""
    # Loaded here: the ClickHouse client and aiohttp are not needed for --help.
    from pipeline.runtime.web import serving_board  # noqa: PLC0415

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with serving_board(settings_of(ctx)) as described:
        click.echo(described)
        click.echo("Ctrl-C (or SIGTERM) stops")
        stop.wait()
    click.echo("board stopped")
