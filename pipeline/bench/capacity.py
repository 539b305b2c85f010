"""Capacity model: partitions, workers, ingress replicas, Kafka brokers and ClickHouse shards for a platform size.

Pure arithmetic on measured figures (``serambi bench``, ``bench scale``, ``bench ingress``, ``bench views``) and
stated assumptions (Kafka sizing guidance, platform volumes), each with its source in :data:`SOURCES`. A plan
sizes every component for a load of ``accounts`` agency accounts at ``peak`` times the normal busy hour, to run at
:attr:`Inputs.utilisation` of its capacity, and says which formula made each figure (:attr:`Plan.lines`).
``deploy/CAPACITY.md`` prints :func:`render_markdown` of :data:`MEASURED`; a unit test keeps the two equal.

One rule shapes the rest: a partition is consumed by one worker of the group, so workers beyond the partition
count idle, and a group of K workers on P partitions runs at the pace of its busiest worker, which holds
ceil(P / K) partitions (:func:`throughput`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from schemas.topics import EVENTS, TOPICS

__all__ = [
    "ACCOUNTS",
    "MEASURED",
    "PEAKS",
    "SOURCES",
    "Inputs",
    "Line",
    "Plan",
    "balance",
    "partition_step",
    "plan",
    "render_markdown",
    "throughput",
    "worker_step",
]

ACCOUNTS = (100, 1_000, 10_000)
PEAKS = (1.0, 20.0)  # normal busy hour; a national incident
_SECONDS_PER_DAY = 86_400
_MB = 1_000_000
_SMALL_STEPS = (1, 2, 3, 4, 6, 12)


def balance(workers: int, partitions: int) -> float:
    """Share of ``min(K, P)`` workers' capacity a group of K workers on P partitions reaches (0 < balance <= 1).

    Partitions are spread as evenly as possible, so the busiest worker holds ceil(P / K) of them; with traffic
    spread evenly over partitions, the group goes at that worker's pace: P / (min(K, P) * ceil(P / K)).
    Example: 3 workers on 4 partitions hold 2, 1 and 1: balance 4 / (3 * 2) = 0.67, the work of 2 workers.
    """
    _check_group(workers, partitions)
    return partitions / (min(workers, partitions) * math.ceil(partitions / workers))


def worker_step(count: int) -> int:
    """The smallest of 1, 2, 3, 4, 6, 12, 24, 48, ... (then 12 x 2^n) that is at least ``count``.

    Each of these divides every :func:`partition_step`, so a planned group splits its partitions evenly
    (balance 1). Other counts gain nothing over the step below them: 13 to 23 workers on 24 partitions do the
    work of 12 (:func:`throughput`).
    """
    for small in _SMALL_STEPS:
        if count <= small:
            return small
    return partition_step(count)


def partition_step(count: int) -> int:
    """The smallest 12 x 2^n that is at least ``count``: 12, 24, 48, ... (12 splits evenly among 1, 2, 3, 4, 6, 12)."""
    base = _SMALL_STEPS[-1]
    return base if count <= base else int(base * 2 ** math.ceil(math.log2(count / base)))


def throughput(per_worker: float, workers: int, partitions: int) -> float:
    """Events/s of K workers on P partitions: per_worker * min(K, P) * balance(K, P) = per_worker * P / ceil(P / K).

    Grows with workers up to the partition count, in steps (only when ceil(P / K) drops), and stays flat beyond.
    """
    _check_group(workers, partitions)
    return per_worker * partitions / math.ceil(partitions / workers)  # the same, with one rounding


def _check_group(workers: int, partitions: int) -> None:
    if workers < 1 or partitions < 1:
        msg = f"workers and partitions must be at least 1 (got {workers} and {partitions})"
        raise ValueError(msg)


@dataclass(frozen=True)
class Inputs:
    """What the model computes from; :data:`SOURCES` says where each figure comes from. Rates are per second."""

    # Measured on this project's machine (2 vCPU, 24 GB): see SOURCES.
    worker_events_per_s: float
    ingress_deliveries_per_s: float
    insert_rows_per_s: float
    rows_per_event: float
    event_bytes: float
    stored_bytes_per_event: float
    view_interactions_per_shard: float
    # Kafka sizing assumptions, from published guidance.
    partition_mb_per_s: float = 10.0
    broker_mb_per_s: float = 25.0
    partitions_per_broker: int = 4_000
    replication_factor: int = 3
    # Platform volumes: assumptions, stated in SOURCES.
    events_per_account_per_day: float = 500.0
    busy_hour_factor: float = 3.0
    webhook_share: float = 0.6
    events_per_delivery: float = 1.0
    interaction_share: float = 0.65
    view_window_days: int = 90
    retention_days: int = 365
    # Planning rules.
    utilisation: float = 0.5
    min_replicas: int = 2
    clickhouse_replicas: int = 2


# The measured figures deploy/CAPACITY.md is built from (its "Measured inputs" section gives each run).
MEASURED = Inputs(
    worker_events_per_s=40_292.0,
    ingress_deliveries_per_s=2_628.0,
    insert_rows_per_s=47_594.0,
    rows_per_event=1.25,
    event_bytes=340.0,
    stored_bytes_per_event=68.0,
    view_interactions_per_shard=25_000_000.0,
)

_MACHINE = "2 vCPU, 24 GB, shared with other jobs"
SOURCES: dict[str, str] = {
    "worker_events_per_s": f"measured: `serambi bench scale --workers 1,2,4 --partitions 4 --events 400000 --runs 3`, "
    f"median run of 1 worker (prepare + commit into its own chDB; it used 1.5 cores), {_MACHINE}",
    "ingress_deliveries_per_s": f"measured: `serambi bench ingress` (20,000 deliveries, 32 clients), median of 3 runs "
    f"(1,798-2,722), stack and load generator on the same {_MACHINE}",
    "insert_rows_per_s": "measured: the same `bench scale` run, rows inserted / seconds spent in Processor.commit "
    "(chDB in-process, one inserting thread, materialized views included)",
    "rows_per_event": "measured: `serambi bench ingress` stored 6,600 response facts with 26,600 events (raw + facts "
    "= 1.25 rows per event; the synthetic mix of `bench scale` gives 1.004)",
    "event_bytes": "measured: `bench scale`, bytes of the batch records on the events topic / events (JSON)",
    "stored_bytes_per_event": "measured: `bench scale`, system.parts bytes_on_disk / events (all tables, views, "
    "projections; before merges)",
    "view_interactions_per_shard": "measured: `serambi bench views` (README): 50 M interactions over 180 days, i.e. "
    "25 M in a 90-day window: overview views p95 163-283 ms on one 2 vCPU chDB",
    "partition_mb_per_s": "assumption: 'conservatively ... a single partition ... runs at 10 MB/s' "
    "(https://dattell.com/data-architecture-blog/kafka-optimization-how-many-partitions-are-needed/)",
    "broker_mb_per_s": "assumption: 786,980 records/s x 100 B = 75 MB/s on 3 brokers with 3x replication, one "
    "producer (https://engineering.linkedin.com/kafka/benchmarking-apache-kafka-2-million-writes-second-three-"
    "cheap-machines), i.e. 25 MB/s per broker",
    "partitions_per_broker": "assumption: 'up to 4,000 partitions per broker' (Confluent, 'Apache Kafka Supports "
    "200K Partitions Per Cluster', 2018; ZooKeeper era, KRaft allows more)",
    "replication_factor": "rule: 3 replicas, min.insync.replicas 2: one broker may fail without losing acks=all",
    "events_per_account_per_day": "assumption: the sample directory's simulation parameters give ~105 events a day "
    "per account (12 agencies, 33 accounts, ~8 posts a day x (1 + ~9 comments + ~23 reactions + replies) + "
    "mentions); planned at 500, about 5x, for the busiest ministries' pages",
    "busy_hour_factor": "assumption: the busiest hour carries 3x the daily mean (office hours and evenings)",
    "webhook_share": "assumption: 60 % of events arrive by webhook (Facebook, Instagram); the rest is polled",
    "events_per_delivery": "assumption: 1 event per webhook delivery (the ingress benchmark's carry 1.33; fewer "
    "events per delivery is the dearer case)",
    "interaction_share": "the benchmark mix: 50 % citizen comments + 15 % agency replies",
    "view_window_days": "the longest window of the board's overview (90 days)",
    "retention_days": "assumption: raw events kept a year (SERAMBI_RAW_TTL_DAYS=365)",
    "utilisation": "rule: plan at 50 % of measured capacity (head-room for replays after an outage)",
    "min_replicas": "rule: 2 workers and 2 ingress replicas at least, so a restart or a node loss stops nothing",
    "clickhouse_replicas": "rule: 2 replicas per shard (ReplicatedMergeTree + ClickHouse Keeper)",
}
# The K-on-P table of the doc: worker counts on 12 partitions, steps and not.
_GROUP_PARTITIONS = 12
_GROUP_WORKERS = (1, 2, 3, 4, 5, 6, 8, 12, 16)


@dataclass(frozen=True)
class Line:
    """One figure of a plan and the formula, with its numbers, that made it."""

    name: str
    value: float
    formula: str


@dataclass(frozen=True)
class Plan:
    """What ``accounts`` accounts at ``peak`` x the normal busy hour need; :attr:`lines` explain each figure."""

    accounts: int
    peak: float
    events_per_s: float
    partitions: int
    workers: int
    ingress: int
    brokers: int
    shards: int
    replicas: int
    storage_gb: float
    lines: tuple[Line, ...]


def plan(inputs: Inputs, accounts: int, peak: float) -> Plan:
    """Size every component for ``accounts`` agency accounts at ``peak`` times the normal busy hour."""
    if accounts < 1 or peak <= 0:
        msg = f"accounts must be at least 1 and peak above 0 (got {accounts} and {peak})"
        raise ValueError(msg)
    i, u = inputs, inputs.utilisation
    lines: list[Line] = []

    def line(name: str, value: float, formula: str) -> float:
        lines.append(Line(name, value, f"{formula} = {_num(value)}"))
        return value

    rate = line(
        "events/s",
        accounts * i.events_per_account_per_day / _SECONDS_PER_DAY * i.busy_hour_factor * peak,
        f"{accounts:,} accounts x {_num(i.events_per_account_per_day)} events/day / 86,400 s x "
        f"{_num(i.busy_hour_factor)} busy hour x {_num(peak)} peak",
    )
    needed = max(i.min_replicas, math.ceil(rate / (i.worker_events_per_s * u)))
    workers = int(
        line(
            "workers",
            worker_step(needed),
            f"worker_step(max({i.min_replicas}, ceil({_num(rate)} / ({_num(i.worker_events_per_s)} x {u:g}))))",
        )
    )
    by_bytes = math.ceil(rate * i.event_bytes / (i.partition_mb_per_s * _MB * u))
    partitions = int(
        line(
            "partitions",
            partition_step(max(workers, by_bytes)),
            f"partition_step(max({workers} workers, ceil({_num(rate)} x {_num(i.event_bytes)} B "
            f"/ ({_num(i.partition_mb_per_s)} MB/s x {u:g}))))",
        )
    )
    deliveries = rate * i.webhook_share / i.events_per_delivery
    ingress = int(
        line(
            "ingress replicas",
            max(i.min_replicas, math.ceil(deliveries / (i.ingress_deliveries_per_s * u))),
            f"max({i.min_replicas}, ceil({_num(rate)} x {i.webhook_share:g} / {_num(i.events_per_delivery)} "
            f"/ ({_num(i.ingress_deliveries_per_s)} x {u:g})))",
        )
    )
    replicas_total = sum(t.partitions or partitions for t in TOPICS) * i.replication_factor
    brokers = int(
        line(
            "Kafka brokers",
            max(
                i.replication_factor,
                math.ceil(rate * i.event_bytes / (i.broker_mb_per_s * _MB * u)),
                math.ceil(replicas_total / (i.partitions_per_broker * u)),
            ),
            f"max({i.replication_factor}, ceil({_num(rate)} x {_num(i.event_bytes)} B / ({_num(i.broker_mb_per_s)} "
            f"MB/s x {u:g})), ceil({replicas_total} partition replicas / ({i.partitions_per_broker:,} x {u:g})))",
        )
    )
    window = accounts * i.events_per_account_per_day * i.interaction_share * i.view_window_days
    shards = int(
        line(
            "ClickHouse shards",
            max(
                1,
                math.ceil(rate * i.rows_per_event / (i.insert_rows_per_s * u)),
                math.ceil(window / i.view_interactions_per_shard),
            ),
            f"max(1, ceil({_num(rate)} x {i.rows_per_event:g} rows / ({_num(i.insert_rows_per_s)} x {u:g})), "
            f"ceil({_num(window)} interactions in {i.view_window_days} days / {_num(i.view_interactions_per_shard)}))",
        )
    )
    storage = line(
        "storage GB per replica",
        accounts * i.events_per_account_per_day * i.retention_days * i.stored_bytes_per_event / 1e9,
        f"{accounts:,} x {_num(i.events_per_account_per_day)} events/day x {i.retention_days} days x "
        f"{_num(i.stored_bytes_per_event)} B",
    )
    return Plan(
        accounts=accounts,
        peak=peak,
        events_per_s=rate,
        partitions=partitions,
        workers=workers,
        ingress=ingress,
        brokers=brokers,
        shards=shards,
        replicas=i.clickhouse_replicas,
        storage_gb=storage,
        lines=tuple(lines),
    )


def render_markdown(
    inputs: Inputs = MEASURED, accounts: Sequence[int] = ACCOUNTS, peaks: Sequence[float] = PEAKS
) -> str:
    """K workers on 12 partitions, the inputs, the plans and their formulas: what ``serambi bench capacity`` prints."""
    plans = [plan(inputs, a, p) for a in accounts for p in peaks]
    out = [
        f"| workers on {_GROUP_PARTITIONS} partitions | busiest holds | balance | events/s (model) |",
        "|---:|---:|---:|---:|",
    ]
    out += [
        f"| {k} | {math.ceil(_GROUP_PARTITIONS / k)} | {balance(k, _GROUP_PARTITIONS):.2f} "
        f"| {_num(throughput(inputs.worker_events_per_s, k, _GROUP_PARTITIONS))} |"
        for k in _GROUP_WORKERS
    ]
    out += ["", "| input | value | source |", "|---|---|---|"]
    out += [f"| `{f.name}` | {_num(getattr(inputs, f.name))} | {SOURCES[f.name]} |" for f in fields(inputs)]
    out += [
        "",
        f"| accounts | load | events/s | partitions ({EVENTS.name}) | workers | ingress replicas | Kafka brokers "
        "| ClickHouse shards x replicas | storage per replica |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    out += [
        f"| {p.accounts:,} | {_load(p.peak)} | {_num(p.events_per_s)} | {p.partitions} | {p.workers} | {p.ingress} "
        f"| {p.brokers} | {p.shards} x {p.replicas} | {_num(p.storage_gb)} GB |"
        for p in plans
    ]
    for p in plans:
        out += ["", f"{p.accounts:,} accounts, {_load(p.peak)}:", ""]
        out += [f"- {line.name}: `{line.formula}`" for line in p.lines]
    return "\n".join(out) + "\n"


def _load(peak: float) -> str:
    return "normal" if peak == 1 else f"{_num(peak)}x peak"


def _num(value: float) -> str:
    """Readable and stable: integers with separators, small numbers with 3 significant digits."""
    if value == int(value) or abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:.3g}"
