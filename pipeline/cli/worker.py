"""``serambi worker``: one stream-processing worker of a consumer group, on external Kafka and ClickHouse."""

from __future__ import annotations

import asyncio
import sys

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["worker"]

_HELP = """Process events as one worker of the consumer group `serambi-sink` (run N of them to scale out).

\b
Stores raw events, matches agency replies to citizen messages, writes response facts and feeds the surge
detector, for the partitions of the events topic the group assigns this worker; more workers than partitions
sit idle. Needs an external Kafka (SERAMBI_KAFKA_BOOTSTRAP_SERVERS) and, with more than one worker, a ClickHouse
server (SERAMBI_CLICKHOUSE_URL; chDB is one process per data dir). Run `serambi db migrate` first: the worker
refuses to start while the schema is behind, or when Kafka or ClickHouse cannot be reached.

\b
Serves /health (liveness), /ready (joined the group, nothing retried) and /metrics on
SERAMBI_METRICS_HOST:SERAMBI_WORKER_METRICS_PORT (127.0.0.1:8791). SIGTERM or Ctrl-C: finishes the batch in
hand, commits what is stored and leaves the group; a worker killed outright loses nothing either (its records
are stored again by the worker that takes its partitions; inserts are upserts).

On one machine, `serambi run` is the broker, a worker, the API and the board together.
"""


@click.command(help=_HELP)
@click.pass_context
@friendly
def worker(ctx: click.Context) -> None:
    """Process events as one worker of the consumer group."""
    from pipeline.runtime.worker import run_worker  # noqa: PLC0415 - loads Faust and the ClickHouse client

    sys.exit(asyncio.run(run_worker(settings_of(ctx), click.echo)))
