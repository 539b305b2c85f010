"""``serambi bench``: throughput, freshness, memory; and its subcommands.

``chaos`` (kill -9), ``alerts``, ``detector`` (the surge detector's CPU per judged minute), ``views``, ``ingress``,
``scale`` (workers x partitions), ``capacity`` (the model), ``soak``.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import friendly, read_settings_of, settings_of
from pipeline.cli.soak import soak

__all__ = ["bench"]

# The freshness phase sends a record every 20 ms with at most rate * 20 ms events: at these minimums it sends
# at least 100 records, so its p99 is a measured figure, not the maximum of a handful.
_MIN_FRESH_RATE = 50
_MIN_FRESH_SECONDS = 2.0
# The worker's rate runs from its first stored batch to its last; each record of the preload holds up to this many
# events (pipeline.bench.throughput.BenchOptions.batch_events, not imported here: it loads the whole stack).
_EVENTS_PER_RECORD = 500

# The labelled corpus of the needs-a-reply classifier, in a source checkout (`serambi bench classify`).
_CORPUS = Path("tests/fixtures/listening/needs_reply.jsonl")

_JSON_OUT = click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as JSON here.",
)


# Without a subcommand, the group is the throughput benchmark it always was: `serambi bench --events N`.
@click.group(invoke_without_command=True)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Events through the worker; enough for two worker batches (see below).",
)
@click.option(
    "--fresh-rate",
    type=click.IntRange(min=_MIN_FRESH_RATE),
    default=5000,
    show_default=True,
    help="Events/s in the freshness phase.",
)
@click.option(
    "--fresh-seconds",
    type=click.FloatRange(min=_MIN_FRESH_SECONDS),
    default=20.0,
    show_default=True,
    help="Length of that phase.",
)
@click.option(
    "--hot-path-events",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Events through the processor alone (CPU time per event, no broker or ClickHouse).",
)
@click.option(
    "--span-days",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Event time the events of each run cover; above the lateness (7 days) idle conversations are evicted.",
)
@_JSON_OUT
@click.pass_context
@friendly
def bench(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    events: int,
    fresh_rate: int,
    fresh_seconds: float,
    hot_path_events: int,
    span_days: float,
    json_out: Path | None,
) -> None:
    """Benchmark: events/s end to end, freshness p50/p99, peak RSS, ratio to a bare aiokafka consumer.

    The synthetic events are conversations (posts and private threads of 36 agency accounts) in which about a
    quarter of citizen messages get an agency reply, from minutes to days later: about 15 % of the events
    produce or update a response fact. Printed and written as JSON: the rates, the facts stored, the open
    conversations and their bytes each, the worker's CPU per event and a table of microseconds per event by
    stage, for the processor alone (phase 0) and end to end.

    `serambi bench chaos` instead kills the worker during a replay and checks every figure.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = read_settings_of(ctx, require_data=False)  # creates nothing: a refused run leaves no trace
    # One worker batch takes up to SERAMBI_SINK_BATCH_RECORDS records: fewer events than fill one give no
    # interval to divide by (a rate of 0 events/s). Refused here, before the broker starts.
    minimum = settings.sink_batch_records * _EVENTS_PER_RECORD + 1
    if events < minimum:
        msg = (
            f"at least {minimum:,} events measure a rate (more than one worker batch of "
            f"SERAMBI_SINK_BATCH_RECORDS={settings.sink_batch_records} records of up to {_EVENTS_PER_RECORD} events); "
            f"got {events:,}"
        )
        raise click.BadParameter(msg, ctx=ctx, param_hint="'--events'")
    from pipeline.bench.throughput import BenchOptions, run_bench  # noqa: PLC0415 - loads the whole stack
    from pipeline.runtime.interrupt import Interrupt, raise_on_signals  # noqa: PLC0415 - with the stack

    options = BenchOptions(
        events=events,
        fresh_rate=fresh_rate,
        fresh_seconds=fresh_seconds,
        hot_path_events=hot_path_events,
        span_days=span_days,
    )
    interrupt = Interrupt()
    try:
        with raise_on_signals(interrupt):
            result = run_bench(settings_of(ctx), options, click.echo, interrupt)
    except KeyboardInterrupt:
        # The broker and data dir of a benchmark are throw-away: they are gone, and there is nothing to resume.
        click.echo(f"interrupted by {interrupt.name}: benchmark stopped, no figures; nothing was left behind", err=True)
        ctx.exit(interrupt.exit_code)
    for line in result.table():
        click.echo(line)
    click.echo(result.as_json())
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")


@bench.command()
@click.option("--kills", type=click.IntRange(min=0), default=30, show_default=True, help="SIGKILLs of the worker.")
@click.option(
    "--events", type=click.IntRange(min=1), default=40_000, show_default=True, help="Simulated events (at least)."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the data and of the kill points.")
@_JSON_OUT
@click.pass_context
@friendly
def chaos(ctx: click.Context, kills: int, events: int, seed: int, json_out: Path | None) -> None:
    """Kill -9 the worker at random points of a replay on an external broker; compare every figure.

    A clean run and a run with KILLS SIGKILLs (start-up, right after commits, after random numbers of
    stored rows) consume the same records; the report, the facts, the stored events and the activity
    counts must equal each other, the batch oracle and what was published. Exits 1 when one differs.
    """
    from pipeline.bench.chaos import ChaosOptions, run_chaos  # noqa: PLC0415 - loads Kafka clients

    result = run_chaos(settings_of(ctx), ChaosOptions(kills=kills, events=events, seed=seed), click.echo)
    click.echo(result.as_json())
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")
    if not result.equal:
        shown = "\n  ".join(result.differences[:20])
        msg = f"{len(result.differences)} figure(s) differ after {result.kills} kills (seed {seed}):\n  {shown}"
        raise click.ClickException(msg)
    click.echo(f"every figure equal after {result.kills} kills: report, facts, stored events, activity, oracle")


@bench.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the traffic and of the surges.")
@click.option(
    "--weeks",
    type=click.IntRange(min=2),
    default=4,
    show_default=True,
    help="Simulated weeks; the first half builds baselines, the second is scored.",
)
@_JSON_OUT
@friendly
def alerts(seed: int, weeks: int, json_out: Path | None) -> None:
    """Quality of surge detection on simulated weeks of the sample agencies: delay, missed surges, false alerts.

    Daily and weekly rhythms, each agency's rest days and holidays, answering in working hours, one small noisy
    agency and scripted surges (sudden, slow ramp, at night, on a weekend, and smaller ones) go through the
    surge detector at default settings as the worker feeds it (6 partitions, minute by minute). Targets:
    median delay <= 2 min, max <= 5 min, no missed surge of at least 3x normal for 20 min, at most one false
    alert a week. Exits 0 when it ran; the output says whether the targets are met.
    """
    from pipeline.bench.alerts import AlertBenchOptions, run_alert_bench  # noqa: PLC0415 - only this command

    result = run_alert_bench(AlertBenchOptions(seed=seed, weeks=weeks), click.echo)
    for line in result.table():
        click.echo(line)
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")


@bench.command()
@click.option(
    "--interactions",
    type=click.IntRange(min=1),
    default=50_000_000,
    show_default=True,
    help="Interactions generated (citizen messages and agency replies; at least 100 per agency).",
)
@click.option(
    "--agencies", type=click.IntRange(12, 200), default=60, show_default=True, help="Agencies of the directory."
)
@click.option(
    "--runs", type=click.IntRange(min=1), default=20, show_default=True, help="Timed runs per view and range."
)
@click.option(
    "--budget-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Stop repeating a view and range once its timed runs took this long.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated data.")
@_JSON_OUT
@click.pass_context
@friendly
def views(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    interactions: int,
    agencies: int,
    runs: int,
    budget_seconds: float,
    seed: int,
    json_out: Path | None,
) -> None:
    """Latency of every catalog view (24h, 7d, 90d windows) and of the board's first render over many interactions.

    INTERACTIONS (default 50 million) with their response facts, posts and a directory of AGENCIES are generated
    by ClickHouse, shaped like the simulator's data: 180 days ending now, skewed volumes, 30 % of citizen
    messages answered within the SLA, 6 % later. Each view runs once to warm up, then RUNS times; the table
    gives p50/p95 in ms. Target: every overview view p95 <= 150 ms at 50 million interactions. Progress goes
    to stderr, the table to stdout.

    Runs on a throw-away data dir unless --data-dir (or SERAMBI_DATA_DIR) is given: there, database
    views_bench stays, and a later run of the same shape reuses it instead of loading again (another shape
    replaces it). With SERAMBI_CLICKHOUSE_URL set, database views_bench of that server is used the same way.
    """
    from pipeline.bench.views import ViewsBenchOptions, run_views_bench  # noqa: PLC0415 - loads chDB
    from pipeline.bench.views_data import DataShape  # noqa: PLC0415 - with it
    from pipeline.runtime.interrupt import Interrupt, raise_on_signals  # noqa: PLC0415 - only this command

    try:
        shape = DataShape(interactions=interactions, agencies=agencies, seed=seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param_hint="'--interactions'") from None
    data_dir = (ctx.find_root().obj or {}).get("data_dir")
    options = ViewsBenchOptions(shape=shape, runs=runs, budget_seconds=budget_seconds, data_dir=data_dir)
    interrupt = Interrupt()
    try:
        with raise_on_signals(interrupt):
            result = run_views_bench(read_settings_of(ctx, require_data=False), options, _progress)
    except KeyboardInterrupt:
        kept = f"; database views_bench stays in {data_dir} (reused next time if its load had finished)"
        kept = kept if data_dir else ", nothing left behind"
        click.echo(f"interrupted by {interrupt.name}: benchmark stopped, no figures{kept}", err=True)
        ctx.exit(interrupt.exit_code)
    for line in result.table():
        click.echo(line)
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")


@bench.command()
@click.option(
    "--deliveries", type=click.IntRange(min=1), default=20_000, show_default=True, help="Signed deliveries to send."
)
@click.option(
    "--clients", type=click.IntRange(min=1), default=32, show_default=True, help="Concurrent connections sending them."
)
@_JSON_OUT
@click.pass_context
@friendly
def ingress(ctx: click.Context, deliveries: int, clients: int, json_out: Path | None) -> None:
    """Signed webhook deliveries per second the ingress acknowledges, with the acknowledgement latency.

    Runs the embedded stack (broker, worker, chDB) with the webhook ingress on a throw-away data dir; another
    process sends signed Facebook Page feed deliveries (a citizen comment each, an agency reply in every third)
    from concurrent connections and times each from send to the 200 (sent only once Kafka acknowledged it).
    Then the worker drains and what was stored is counted against what was sent.
    """
    from pipeline.bench.ingress import IngressBenchOptions, run_ingress_bench  # noqa: PLC0415 - loads the stack

    options = IngressBenchOptions(deliveries=deliveries, clients=clients)
    result = run_ingress_bench(read_settings_of(ctx, require_data=False), options, _progress)
    for line in result.table():
        click.echo(line)
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")


@bench.command()
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    callback=lambda ctx, param, value: _counts(value, ctx, param),
    help="Worker process counts to measure, comma-separated.",
)
@click.option(
    "--partitions", type=click.IntRange(min=1), default=4, show_default=True, help="Partitions of the events topic."
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Events preloaded; every run reads them.",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Runs per worker count; the median is shown.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated events.")
@_JSON_OUT
@click.pass_context
@friendly
def scale(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    workers: tuple[int, ...],
    partitions: int,
    events: int,
    runs: int,
    seed: int,
    json_out: Path | None,
) -> None:
    """Aggregate events/s of K worker processes on P partitions, and that each event is stored exactly once.

    EVENTS synthetic events (those of `serambi bench`) are preloaded onto PARTITIONS partitions of a throw-away
    embedded broker. For each count K of --workers, K processes start together, process k reading the
    partitions whose number modulo K is k, each running the worker's processing (prepare + commit) into its own chDB
    data dir (chDB is one process per data dir; a deployment's workers write to ClickHouse shards). The rate
    runs from the first record read to the last chunk stored; afterwards the stored rows are counted against
    the topic. The table gives the median of RUNS runs, the rate per worker, the efficiency against the first
    row and the capacity model's figure. Workers beyond the partitions idle; processes beyond the cores share
    them. Exits 1 when an event was stored twice or not at all.
    """
    from pipeline.bench.scale import ScaleOptions, run_scale_bench  # noqa: PLC0415 - loads Kafka clients and chDB

    options = ScaleOptions(workers=workers, partitions=partitions, events=events, runs=runs, seed=seed)
    result = run_scale_bench(read_settings_of(ctx, require_data=False), options, _progress)
    for line in result.table():
        click.echo(line)
    if json_out is not None:
        json_out.write_text(result.as_json(), encoding="utf-8")
    if not result.exact:
        msg = "some events were stored more than once or not at all: see the table's last column and the JSON"
        raise click.ClickException(msg)


@bench.command()
@click.option(
    "--accounts",
    default="100,1000,10000",
    show_default=True,
    callback=lambda ctx, param, value: _counts(value, ctx, param),
    help="Agency accounts to plan for, comma-separated.",
)
@click.option(
    "--peaks",
    default="1,20",
    show_default=True,
    callback=lambda ctx, param, value: _factors(value, ctx, param),
    help="Load factors over the normal busy hour (1 = normal, 20 = a national incident), comma-separated.",
)
@click.option(
    "--events-per-account-day",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Instead of the model's assumption (500 events a day per account).",
)
@click.option(
    "--worker-events-per-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Instead of the measured rate of one worker (e.g. from `serambi bench scale` on the target machines).",
)
def capacity(
    accounts: tuple[int, ...],
    peaks: tuple[float, ...],
    events_per_account_day: float | None,
    worker_events_per_s: float | None,
) -> None:
    """Partitions, workers, ingress replicas, Kafka brokers and ClickHouse shards for ACCOUNTS at PEAKS, with formulas.

    The capacity model (pipeline/bench/capacity.py) on the measured figures and stated assumptions it lists,
    as Markdown; with the defaults, exactly the tables of deploy/CAPACITY.md.
    """
    import dataclasses  # noqa: PLC0415 - only this command

    from pipeline.bench.capacity import MEASURED, render_markdown  # noqa: PLC0415 - only this command

    inputs = MEASURED
    if events_per_account_day is not None:
        inputs = dataclasses.replace(inputs, events_per_account_per_day=events_per_account_day)
    if worker_events_per_s is not None:
        inputs = dataclasses.replace(inputs, worker_events_per_s=worker_events_per_s)
    click.echo(render_markdown(inputs, accounts, peaks), nl=False)


@bench.command()
@click.option("--agencies", type=click.IntRange(min=1), default=36, show_default=True, help="Agencies judged.")
@click.option(
    "--days", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Days of minute counts judged."
)
@click.option(
    "--batch-minutes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Minutes of counts per watermark advance: 1 is live, a replay sends hundreds.",
)
@click.option("--per-platform", is_flag=True, help="Also judge each agency x platform.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the counts and surges.")
@_JSON_OUT
@friendly
def detector(  # noqa: PLR0913 - one per CLI option
    agencies: int, days: float, batch_minutes: int, per_platform: bool, seed: int, json_out: Path | None
) -> None:
    """CPU time of the surge detector per judged (agency, minute), on a worker's counts of realistic traffic.

    Agencies of 0.5 to 10 citizen messages a minute at their daily peak, a few surges, three weeks of hourly
    history; the detector is fed as the worker's watch feeds it (counts, watermark, gauges).
    """
    import json  # noqa: PLC0415 - only this command

    from pipeline.bench.detector import count_stream, detector_us_per_key_minute  # noqa: PLC0415 - only this command
    from pipeline.domain.surge import SurgeParams  # noqa: PLC0415 - only this command

    stream = count_stream(agencies, days, seed)
    result = detector_us_per_key_minute(stream, SurgeParams(per_platform=per_platform), batch_minutes)
    click.echo(
        f"{result.us_per_key_minute:.1f} us per judged key-minute: {result.key_minutes} key-minutes, "
        f"{result.records} records, {len(result.alerts)} alert transitions, {result.cpu_seconds:.2f} s CPU"
    )
    if json_out is not None:
        json_out.write_text(json.dumps(result.figures()), encoding="utf-8")


@bench.command("classify")
@click.option(
    "--corpus",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON lines with a text each [default: tests/fixtures/listening/needs_reply.jsonl, in a source checkout].",
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Events of `serambi bench`'s synthetic traffic whose citizen messages are classified too.",
)
@_JSON_OUT
@friendly
def classify_cost(corpus: Path | None, events: int, json_out: Path | None) -> None:
    """CPU microseconds per citizen message of the needs-a-reply classifier, cold and warm cache.

    Over a labelled corpus (real-looking messages) and over the benchmark's simulated texts (four short ones,
    so its cache is warm at once). The worker classifies every citizen message as it decodes it.
    """
    import json  # noqa: PLC0415 - only this command
    from dataclasses import asdict  # noqa: PLC0415 - only this command

    from pipeline.bench.classify import corpus_texts, measure_classify, simulated_texts  # noqa: PLC0415 - only this

    path = corpus if corpus is not None else _CORPUS
    costs = []
    if path.is_file():
        costs.append(measure_classify(f"corpus {path}", corpus_texts(path)))
    else:
        click.echo(f"no corpus at {path} (not a source checkout): pass --corpus FILE to measure one", err=True)
    costs.append(measure_classify(f"simulated ({events:,} events)", simulated_texts(events)))
    for cost in costs:
        click.echo(cost.line())
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(cost) for cost in costs]), encoding="utf-8")


@bench.command("inserts")
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Events of `serambi bench`'s synthetic traffic whose rows are stored.",
)
@_JSON_OUT
@click.pass_context
@friendly
def inserts_cost(ctx: click.Context, events: int, json_out: Path | None) -> None:
    """CPU microseconds per event that chDB alone spends storing the worker's rows (no Python work timed).

    Prepares the events with the worker's processor, then replays its inserts, chunk by chunk, into a fresh
    chDB with every migration (materialized views and projections included) and times them per table, the
    merges they leave behind, and a one-row insert per table (the fixed cost of any insert). With the embedded
    default this CPU is spent in the worker's process, beside the Python work `serambi bench` measures.
    """
    import json  # noqa: PLC0415 - only this command
    from dataclasses import asdict  # noqa: PLC0415 - only this command

    from pipeline.bench.inserts import measure_inserts  # noqa: PLC0415 - loads chDB
    from pipeline.bench.throughput import BenchOptions  # noqa: PLC0415 - the same synthetic traffic

    settings = read_settings_of(ctx, require_data=False)
    # The traffic of a default `serambi bench` run (its event-time density), of which the first `events` are stored.
    options = BenchOptions()
    data = options.data(settings.partitions, options.events)
    cost = measure_inserts(settings, data, events, _progress)
    for line in cost.lines():
        click.echo(line)
    if json_out is not None:
        figures = {**asdict(cost), "total_us_per_event": cost.total_us_per_event, "cores_at_75k": cost.cores_at(75_000)}
        json_out.write_text(json.dumps(figures), encoding="utf-8")


def _counts(value: str, ctx: click.Context, param: click.Parameter) -> tuple[int, ...]:
    """``1,2,4`` as whole numbers of at least 1."""
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        msg = f"a comma-separated list of whole numbers of at least 1, e.g. 1,2,4 (got {value!r})"
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return counts


def _factors(value: str, ctx: click.Context, param: click.Parameter) -> tuple[float, ...]:
    """``1,20`` as numbers above 0."""
    try:
        factors = tuple(float(part) for part in value.split(","))
    except ValueError:
        factors = ()
    if not factors or min(factors) <= 0:
        msg = f"a comma-separated list of numbers above 0, e.g. 1,20 (got {value!r})"
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return factors


def _progress(line: str) -> None:
    click.echo(line, err=True)


bench.add_command(soak)
