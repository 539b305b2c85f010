"""Every Prometheus metric of Serambi, declared once; the registry is injected."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """Serambi's metrics on one registry (pass a fresh ``CollectorRegistry`` in tests).

    Labels stay bounded: platform, event type, table, stage and error type come from fixed sets.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_published = Counter(
            "serambi_connector_events_published_total",
            "Canonical events a connector handed to Kafka.",
            ["source", "platform", "type"],
            registry=r,
        )
        self.records_published = Counter(
            "serambi_connector_records_published_total",
            "Kafka records (batches of events) a connector produced.",
            ["source"],
            registry=r,
        )
        self.publish_failures = Counter(
            "serambi_connector_publish_failures_total",
            "Kafka records a connector failed to deliver.",
            ["source"],
            registry=r,
        )
        self.dead_letters = Counter(
            "serambi_dead_letters_total",
            "Inputs routed to the dead-letter topic.",
            ["stage", "error_type"],
            registry=r,
        )
        self.rows_stored = Counter(
            "serambi_sink_rows_stored_total",
            "Rows the worker inserted into ClickHouse.",
            ["table"],
            registry=r,
        )
        self.sink_batches = Counter(
            "serambi_sink_batches_total", "Insert batches the worker wrote.", registry=r
        )
        self.sink_insert_seconds = Histogram(
            "serambi_sink_insert_seconds",
            "Time to insert one batch into ClickHouse.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.consumer_lag = Gauge(
            "serambi_worker_consumer_lag_records",
            "Records on the events topic not yet stored in ClickHouse.",
            registry=r,
        )
