"""The metrics a connector exports, declared once; the registry is injected.

:class:`pipeline.metrics.Metrics` extends these with the worker's, on the same registry, so a process
that runs connectors and the worker exposes one set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["ConnectorMetrics"]


class ConnectorMetrics:
    """Connector metrics on one registry (pass a fresh ``CollectorRegistry`` in tests).

    Labels stay bounded: source, platform, event type, stage and error type come from fixed sets.
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
        self.requests = Counter(
            "serambi_connector_requests_total",
            "Pages a polling or streaming connector asked for, by outcome (page, rate_limited, retry, account_error).",
            ["source", "outcome"],
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "serambi_connector_rate_limit_wait_seconds_total",
            "Seconds connectors waited because the platform said so or failed (rate limits, quotas, back-off).",
            ["source"],
            registry=r,
        )
        # Per account: bounded by the agency directory (an office's accounts), which operators need to tell apart.
        self.lag_seconds = Gauge(
            "serambi_connector_lag_seconds",
            "How far behind the platform a connector is: now minus the newest item's platform time it has seen.",
            ["source", "account"],
            registry=r,
        )
        self.cursor_timestamp = Gauge(
            "serambi_connector_cursor_timestamp_seconds",
            "When a connector last delivered a page with its cursor (cursor age = time() - this).",
            ["source", "account"],
            registry=r,
        )
        self.quota_remaining = Gauge(
            "serambi_connector_quota_remaining",
            "Platform quota left where the platform counts one (YouTube's daily units).",
            ["source", "account"],
            registry=r,
        )
        self.dead_letters = Counter(
            "serambi_dead_letters_total",
            "Inputs routed to the dead-letter topic.",
            ["stage", "error_type"],
            registry=r,
        )
