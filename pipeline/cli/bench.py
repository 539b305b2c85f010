"""``serambi bench``: the throughput, freshness and memory benchmark."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["bench"]


@click.command()
@click.option("--events", type=int, default=1_000_000, show_default=True, help="Events through the worker.")
@click.option("--fresh-rate", type=int, default=5000, show_default=True, help="Events/s in the freshness phase.")
@click.option("--fresh-seconds", type=float, default=20.0, show_default=True, help="Length of that phase.")
@click.option(
    "--hot-path-events",
    type=int,
    default=200_000,
    show_default=True,
    help="Events through the processor alone (CPU time per event, no broker or ClickHouse).",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as JSON here.",
)
@click.pass_context
@friendly
def bench(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context, events: int, fresh_rate: int, fresh_seconds: float, hot_path_events: int, json_out: Path | None
) -> None:
    """Benchmark: events/s end to end, freshness p50/p99, peak RSS, ratio to a bare aiokafka consumer."""
    from pipeline.bench.throughput import BenchOptions, run_bench  # noqa: PLC0415 - loads the whole stack

    options = BenchOptions(
        events=events, fresh_rate=fresh_rate, fresh_seconds=fresh_seconds, hot_path_events=hot_path_events
    )
    result = run_bench(settings_of(ctx), options, click.echo)
    click.echo(result.as_json())
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")
