"""Pipeline health (Prometheus): throughput, consumer lag, dead letters, sink latency, freshness.

The metric names are :mod:`pipeline.metrics`'s (a test checks each one is declared there); the threshold
lines are the alert rules' (``pipeline/runtime/alert_rules/serambi.rules.yml``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common as common_model

from dashboards.common import prometheus_ref
from dashboards.layout import dashboard_base, place, prometheus_variables
from dashboards.panels import thresholds

__all__ = ["FOLDER", "TITLE", "UID", "dashboard"]

UID = "serambi-pipeline-health"
TITLE = "Pipeline health"
FOLDER = "ops"

# The alert rules' limits, drawn as lines: ConsumerLagHigh, DeadLetterGrowing, PipelineStalled.
LAG_ALERT_RECORDS = 1000
DEAD_LETTER_ALERT_PER_10M = 5
STALLED_ALERT_SECONDS = 180


def _query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(prometheus_ref())


def _graph(title: str, description: str, unit: str, *queries: prometheus.Dataquery) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).datasource(prometheus_ref()).unit(unit)
    for query in queries:
        panel = panel.with_target(query)
    return panel.line_width(2).height(8).span(12)


def _alert_line(panel: timeseries.Panel, limit: float) -> timeseries.Panel:
    line = sdk_common.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.DASHED)
    return panel.thresholds(thresholds("green", (limit, "red"))).thresholds_style(line)


def workers_up() -> stat.Panel:
    """Workers Prometheus scrapes successfully."""
    return (
        stat.Panel()
        .title("Workers up")
        .description("Scraped worker processes (PipelineStalled fires after 2 min at 0).")
        .datasource(prometheus_ref())
        .with_target(_query('sum(up{job="serambi-worker"})', "workers"))
        .thresholds(thresholds("red", (1, "green")))
        .height(8)
        .span(4)
    )


def throughput() -> timeseries.Panel:
    """Events accepted and rows stored per second."""
    return _graph(
        "Throughput",
        "Canonical events the workers accepted, by kind, and rows they stored in ClickHouse, per second.",
        "short",
        _query("sum by (kind) (rate(serambi_events_total[$__rate_interval]))", "events {{kind}}"),
        _query("sum by (table) (rate(serambi_sink_rows_stored_total[$__rate_interval]))", "rows {{table}}", "B"),
    ).span(20)


def consumer_lag() -> timeseries.Panel:
    """Records waiting per topic; the ConsumerLagHigh limit as a line."""
    panel = _graph(
        "Consumer lag",
        "Records on the workers' topics not yet handled (ConsumerLagHigh: > 1000 and not falling for 10 min).",
        "short",
        _query("sum by (topic) (serambi_worker_consumer_lag_records)", "{{topic}}"),
    )
    return _alert_line(panel, LAG_ALERT_RECORDS)


def dead_letters() -> timeseries.Panel:
    """Dead letters per 10 minutes by stage and error type; the DeadLetterGrowing limit as a line."""
    panel = _graph(
        "Dead letters (per 10 min)",
        "Inputs routed to the dead-letter topic (DeadLetterGrowing: > 5 per 10 min for 30 min).",
        "short",
        _query("sum by (stage, error_type) (increase(serambi_dead_letters_total[10m]))", "{{stage}} {{error_type}}"),
    )
    return _alert_line(panel, DEAD_LETTER_ALERT_PER_10M)


def sink_latency() -> timeseries.Panel:
    """Median and p99 time to insert one batch into ClickHouse."""
    quantile = "histogram_quantile({q}, sum by (le) (rate(serambi_sink_insert_seconds_bucket[$__rate_interval])))"
    return _graph(
        "Sink latency",
        "Time to insert one batch into ClickHouse.",
        "s",
        _query(quantile.format(q=0.5), "p50"),
        _query(quantile.format(q=0.99), "p99", "B"),
    )


def freshness() -> timeseries.Panel:
    """Seconds since each worker's last successful ClickHouse insert; the PipelineStalled limit as a line."""
    panel = _graph(
        "Freshness",
        "Seconds since each worker last stored a batch (PipelineStalled: > 180 s while records wait).",
        "s",
        _query("time() - max by (instance) (serambi_sink_last_success_timestamp_seconds)", "{{instance}}"),
    )
    return _alert_line(panel, STALLED_ALERT_SECONDS)


def dashboard() -> sdk.Dashboard:
    """Pipeline health."""
    board = dashboard_base(UID, TITLE, "ops", time_from="now-6h", refresh="30s")
    board = board.variables(prometheus_variables())
    board = board.description("Is the pipeline keeping up? Throughput, lag, dead letters, ClickHouse writes.")
    return place(board, [workers_up(), throughput(), consumer_lag(), dead_letters(), sink_latency(), freshness()])
