"""The metrics a connector exports, declared once; the registry is injected.

:class:`pipeline.metrics.Metrics` extends these with the worker's, on the same registry, so a process
that runs connectors and the worker exposes one set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

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
        self.dead_letters = Counter(
            "serambi_dead_letters_total",
            "Inputs routed to the dead-letter topic.",
            ["stage", "error_type"],
            registry=r,
        )
