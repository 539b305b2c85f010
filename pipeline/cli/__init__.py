"""The ``serambi`` command line."""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from kafka.errors import KafkaError

from connectors.core.errors import ConnectorError
from pipeline.cli.status import show_status
from pipeline.errors import PipelineError
from pipeline.runtime.demo import DemoOptions, run_stack
from pipeline.settings import Settings, load_settings
from pipeline.storage.sql.report import REPORT_FIELDS, ReportWindow
from schemas.errors import DirectoryError, SchemaDriftError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _settings_epilog() -> str:
    lines = ["\b", "Settings (environment, or a TOML file named by SERAMBI_CONFIG_FILE):"]
    for name, info in Settings.model_fields.items():
        lines.append(f"  SERAMBI_{name.upper():<28} {info.description or ''}".rstrip())
    return "\n".join(lines)


def _settings(ctx: click.Context) -> Settings:
    return load_settings(**ctx.obj) if ctx.obj else load_settings()


def _friendly(func: F) -> F:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (PipelineError, ConnectorError, DirectoryError, SchemaDriftError, ValueError, csv.Error) as exc:
            raise click.ClickException(str(exc)) from exc
        except KafkaError as exc:
            msg = f"Kafka: {exc}; check SERAMBI_KAFKA_BOOTSTRAP_SERVERS and that the broker runs"
            raise click.ClickException(msg) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(epilog=_settings_epilog())
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="SERAMBI_DATA_DIR",
    show_envvar=True,
    help="Where chDB data, logs and the state file live [default: ./serambi-data].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, verbose: int) -> None:
    """Serambi: do government agencies talk *with* citizens on social media, or only *at* them?"""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # client libraries log reconnects and slow polls as warnings; ours say what matters
        for noisy in ("kafka", "aiokafka", "faust", "mode"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    ctx.obj = {"data_dir": data_dir} if data_dir else {}


def _stack_options(func: F) -> F:
    return click.option(
        "--duration",
        type=float,
        default=None,
        envvar="SERAMBI_DURATION",
        show_envvar=True,
        help="Stop after this many seconds [default: run until Ctrl-C].",
    )(func)


@main.command()
@_stack_options
@click.option(
    "--speed",
    type=float,
    default=1440.0,
    show_default=True,
    help="Simulated seconds per wall-clock second: replays the last duration x speed (24 h when "
    "open-ended), then runs live.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulator.")
@click.pass_context
@_friendly
def demo(ctx: click.Context, duration: float | None, speed: float, seed: int) -> None:
    """Run the whole job on the embedded default: broker, ClickHouse, worker, simulator."""
    options = DemoOptions(duration_s=duration, speed=speed, seed=seed)
    sys.exit(asyncio.run(run_stack(_settings(ctx), options, click.echo)))


@main.command()
@_stack_options
@click.pass_context
@_friendly
def run(ctx: click.Context, duration: float | None) -> None:
    """Run broker (unless configured), ClickHouse, API and worker, without the simulator."""
    options = DemoOptions(duration_s=duration, speed=1.0, seed=0, simulate=False)
    sys.exit(asyncio.run(run_stack(_settings(ctx), options, click.echo)))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@_friendly
def status(ctx: click.Context, fmt: str) -> None:
    """Totals per agency and kind, through the running stack if one is up."""
    show_status(_settings(ctx), fmt, click.echo)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--since", type=click.DateTime(), default=None, help="Start (UTC) [default: all data].")
@click.option("--until", type=click.DateTime(), default=None, help="End (UTC), status judged here [default: now].")
@click.option(
    "--window",
    type=click.Choice(["24h", "7d"]),
    default=None,
    help="Rolling window ending now (instead of --since/--until).",
)
@click.option("--agency", default=None, help="Only this agency id.")
@click.option("--sort", type=click.Choice(REPORT_FIELDS), default="reply_rate", show_default=True)
@click.pass_context
@_friendly
def report(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    window: str | None,
    agency: str | None,
    sort: str,
) -> None:
    """Cross-agency report: do agencies answer citizens, how fast, and are they soapboxes or dinner parties?"""
    from pipeline.cli.report import show_report  # noqa: PLC0415
    from pipeline.domain.windows import rolling_window  # noqa: PLC0415

    settings = _settings(ctx)
    if window is not None:
        if since is not None or until is not None:
            msg = "--window replaces --since/--until: give one or the other"
            raise click.UsageError(msg)
        since, until = rolling_window(datetime.now(UTC), window)
    span = ReportWindow(
        since=_utc(since) or ReportWindow.since,
        until=_utc(until),
        agency_id=agency,
        default_sla_hours=settings.sla_hours,
    )
    show_report(settings, span, fmt, sort, click.echo)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["jsonl", "twcs"]))
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Replay with the original timing divided by this factor [default: as fast as possible].",
)
@click.pass_context
@_friendly
def import_(ctx: click.Context, fmt: str, path: Path, speed: float | None) -> None:
    """Import FILE (jsonl: canonical events; twcs: Kaggle Customer Support on Twitter CSV).

    Events go through Kafka and the worker like live data; returns when ClickHouse holds them.
    """
    from pipeline.runtime.importer import run_import  # noqa: PLC0415

    count = run_import(_settings(ctx), fmt, path, speed, click.echo)
    click.echo(f"imported {count:,} events from {path}")


@main.command()
@click.option("--events", type=int, default=1_000_000, show_default=True, help="Events through the worker.")
@click.option("--fresh-rate", type=int, default=5000, show_default=True, help="Events/s in the freshness phase.")
@click.option("--fresh-seconds", type=float, default=20.0, show_default=True, help="Length of that phase.")
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as JSON here.",
)
@click.pass_context
@_friendly
def bench(ctx: click.Context, events: int, fresh_rate: int, fresh_seconds: float, json_out: Path | None) -> None:
    """Benchmark: events/s end to end, freshness p50/p99, peak RSS, ratio to a bare aiokafka consumer."""
    from pipeline.bench.throughput import BenchOptions, run_bench  # noqa: PLC0415

    result = run_bench(
        _settings(ctx), BenchOptions(events=events, fresh_rate=fresh_rate, fresh_seconds=fresh_seconds), click.echo
    )
    click.echo(result.as_json())
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")


@main.group()
def db() -> None:
    """ClickHouse maintenance."""


@db.command("migrate")
@click.pass_context
@_friendly
def db_migrate(ctx: click.Context) -> None:
    """Apply pending ClickHouse migrations (idempotent)."""
    from pipeline.storage.sql.views import ensure_views  # noqa: PLC0415
    from pipeline.storage.store import Store  # noqa: PLC0415 - opens chDB only when asked

    settings = _settings(ctx.find_root())
    store = Store(settings)
    try:
        applied = store.migrate()
        views = ensure_views(store, default_sla_hours=settings.sla_hours)
    finally:
        store.close()
    click.echo(
        f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}; {len(views)} views up to date"
    )


@main.group()
def schemas() -> None:
    """JSON Schemas of the Kafka topics."""


@schemas.command("generate")
def schemas_generate() -> None:
    """Write schemas/jsonschema/<topic>.json from the models."""
    from schemas.jsonschema import write_schemas  # noqa: PLC0415

    for path in write_schemas():
        click.echo(f"wrote {path}")


@schemas.command("check")
@_friendly
def schemas_check() -> None:
    """Fail when the committed JSON Schemas differ from the models."""
    from schemas.jsonschema import check_schemas  # noqa: PLC0415

    check_schemas()
    click.echo("schemas up to date")


@main.command()
@_stack_options
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
@_friendly
def simulate(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    duration: float | None,
    speed: float,
    seed: int,
    output: Any,
    hours: float,
) -> None:
    """Simulator connector: realistic agency and citizen activity into Kafka.

    Uses the running stack's broker (serambi demo/run), else SERAMBI_KAFKA_BOOTSTRAP_SERVERS.
    """
    from pipeline.runtime.feed import publish_simulation, write_simulation  # noqa: PLC0415

    settings = _settings(ctx)
    if output is not None:
        count = write_simulation(settings, output, hours=hours, seed=seed)
    else:
        count = publish_simulation(settings, duration_s=duration, speed=speed, seed=seed, say=click.echo)
    click.echo(f"simulated {count:,} events", err=True)
