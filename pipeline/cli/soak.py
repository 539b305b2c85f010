"""``serambi bench soak``: live-like load for a long time; do worker and broker memory stay flat?"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import friendly, settings_of

__all__ = ["soak"]


@click.command()
@click.option("--minutes", type=float, default=30.0, show_default=True, help="How long the load runs.")
@click.option("--rate", type=int, default=2000, show_default=True, help="Events/s published during the run.")
@click.option(
    "--sample-every",
    "sample_every_s",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between samples (RSS, lag, spool).",
)
@click.option("--seed", type=int, default=11, show_default=True, help="Seed of the synthetic events.")
@click.option(
    "--flat-mb-per-min",
    type=float,
    default=1.0,
    show_default=True,
    help="Highest RSS slope over the second half of the run still called flat.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures (samples included) as JSON here.",
)
@click.pass_context
@friendly
def soak(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    minutes: float,
    rate: int,
    sample_every_s: float,
    seed: int,
    flat_mb_per_min: float,
    json_out: Path | None,
) -> None:
    """Soak: RATE events/s for MINUTES through the embedded stack; worker and broker RSS over time.

    Events go through the real publisher (and the embedded broker's spool) from this process. "Flat" means
    the least-squares RSS slope over the second half of the run is below --flat-mb-per-min. Runs on a
    throw-away data dir unless --data-dir is given. The matcher keeps conversations for
    SERAMBI_LATENESS_HOURS of event time (live here), so a run shorter than that sees it fill up.
    """
    from pipeline.bench.soak import SoakOptions, run_soak  # noqa: PLC0415 - loads the whole stack

    data_dir = (ctx.find_root().obj or {}).get("data_dir")
    options = SoakOptions(
        minutes=minutes,
        rate=rate,
        sample_every_s=sample_every_s,
        seed=seed,
        flat_mb_per_min=flat_mb_per_min,
        data_dir=data_dir,
    )
    result = run_soak(settings_of(ctx), options, click.echo)
    click.echo(result.as_json())
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")
