"""The worker's Prometheus metrics, declared once, on top of the connectors'; the registry is injected."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.core.metrics import ConnectorMetrics

__all__ = ["Metrics"]


class Metrics(ConnectorMetrics):
    """Serambi's metrics on one registry (pass a fresh ``CollectorRegistry`` in tests).

    Labels stay bounded: platform, event type, table, stage and error type come from fixed sets.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.rows_stored = Counter(
            "serambi_sink_rows_stored_total",
            "Rows the worker inserted into ClickHouse.",
            ["table"],
            registry=r,
        )
        self.sink_batches = Counter("serambi_sink_batches_total", "Insert batches the worker wrote.", registry=r)
        self.sink_insert_seconds = Histogram(
            "serambi_sink_insert_seconds",
            "Time to insert one batch into ClickHouse.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.spool_bytes = Gauge(
            "serambi_spool_bytes",
            "Bytes of embedded-broker input spooled to disk and not yet known to be stored.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "serambi_worker_consumer_lag_records",
            "Records on the events topic not yet stored in ClickHouse.",
            registry=r,
        )
