"""The worker's Prometheus metrics, declared once, on top of the connectors'; the registry is injected.

Names follow Prometheus conventions: ``serambi_`` prefix, base units (seconds, messages, records), ``_total`` on
counters. The alert rules in ``deploy/prometheus/rules/serambi.rules.yml`` use these names exactly.

Label cardinality is bounded: ``agency`` and ``tier`` come from the ``agencies`` table (the directory file plus the
agencies an import registered, e.g. the companies of a twcs file: an import may add agencies, so the bound is
the registered set, not the directory alone); ``partition`` from the topic's partition count; ``kind``,
``platform``, ``stage``, ``error_type``, ``severity`` and ``table`` from fixed sets in :mod:`schemas`.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.core.metrics import ConnectorMetrics

__all__ = ["AGENCY_LABELS", "RESPONSE_BUCKETS_SECONDS", "Metrics", "label_sets"]

AGENCY_LABELS = ("agency", "tier")
# First-response times run from minutes (a staffed desk) to days (a weekend, a neglected account): 1 min to 7 days.
RESPONSE_BUCKETS_SECONDS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800)


class Metrics(ConnectorMetrics):
    """Serambi's metrics on one registry (pass a fresh ``CollectorRegistry`` in tests).

    The connector metrics (:class:`connectors.core.metrics.ConnectorMetrics`) come first on the same registry,
    so ``serambi_dead_letters_total`` is one counter that both stages count (``stage="connector"`` in the
    publisher, ``stage="worker"`` in the worker's agent). Declaring either class twice on one registry raises.

    Example::

        metrics = Metrics(CollectorRegistry())
        metrics.events.labels("comment", "x").inc()
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self._declare_sink()
        self._declare_worker()
        self._declare_agencies()
        self._declare_detector()

    def _declare_sink(self) -> None:
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
        self.sink_last_success = Gauge(
            "serambi_sink_last_success_timestamp_seconds",
            "Unix time of the worker's last successful ClickHouse insert (0 until the first one).",
            registry=r,
        )
        self.spool_bytes = Gauge(
            "serambi_spool_bytes",
            "Bytes of embedded-broker input spooled to disk and not yet known to be stored.",
            registry=r,
        )

    def _declare_worker(self) -> None:
        r = self.registry
        self.consumer_lag = Gauge(
            "serambi_worker_consumer_lag_records",
            "Records on the worker's topics not yet handled (stored, or sent on), per topic and partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.events = Counter(
            "serambi_events_total",
            "Canonical events the worker accepted (decoded, within bounds), by kind and platform.",
            ["kind", "platform"],
            registry=r,
        )
        self.matcher_open_conversations = Gauge(
            "serambi_matcher_open_conversations",
            "Conversations the reply matcher holds in memory.",
            registry=r,
        )
        self.matcher_evicted = Counter(
            "serambi_matcher_evicted",
            "Conversations dropped from memory (reloaded from ClickHouse when next met): idle beyond the lateness, "
            "or the oldest idle ones above SERAMBI_MATCHER_MAX_CONVERSATIONS.",
            ["reason"],
            registry=r,
        )
        self.response_seconds = Histogram(
            "serambi_response_seconds",
            "First-response time (wall clock) of the citizen messages the worker matched to a reply.",
            buckets=RESPONSE_BUCKETS_SECONDS,
            registry=r,
        )
        self.alerts_raised = Counter(
            "serambi_alerts_raised_total",
            "Surge alerts the detector raised, by severity at the time of raising.",
            ["severity"],
            registry=r,
        )

    def _declare_agencies(self) -> None:
        # Set by pipeline.runtime.gauges from ClickHouse with the report's rules (one definition of each).
        r, labels = self.registry, AGENCY_LABELS
        self.agency_backlog = Gauge(
            "serambi_agency_backlog_messages", "Unanswered citizen messages, whenever asked.", labels, registry=r
        )
        self.agency_oldest_unanswered = Gauge(
            "serambi_agency_oldest_unanswered_seconds",
            "Age of the agency's oldest unanswered citizen message (0 when none).",
            labels,
            registry=r,
        )
        self.agency_sla = Gauge("serambi_agency_sla_seconds", "The agency's SLA (wall clock).", labels, registry=r)
        self.agency_reply_rate = Gauge(
            "serambi_agency_reply_rate_24h",
            "Answered / (answered + overdue) over the last 24 h (absent when nothing is judged yet).",
            labels,
            registry=r,
        )
        self.agency_needs_reply_rate = Gauge(
            "serambi_agency_needs_reply_rate_24h",
            "Reply rate of the citizen messages that need a reply, last 24 h (absent when none is judged yet).",
            labels,
            registry=r,
        )
        self.agency_sla_compliance = Gauge(
            "serambi_agency_sla_compliance_24h",
            "Answered within SLA / (answered + overdue) over the last 24 h (absent when nothing is judged yet).",
            labels,
            registry=r,
        )
        self.agency_citizen_messages = Gauge(
            "serambi_agency_citizen_messages_24h", "Citizen messages asked in the last 24 h.", labels, registry=r
        )

    def _declare_detector(self) -> None:
        # Set by the surge detector's agent (pipeline.domain.surge via the stream), one series per judged agency.
        r, labels = self.registry, AGENCY_LABELS
        self.agency_arrivals = Gauge(
            "serambi_agency_arrivals_per_minute",
            "Unanswered citizen arrivals per minute in the detector's current window.",
            labels,
            registry=r,
        )
        self.agency_arrivals_baseline = Gauge(
            "serambi_agency_arrivals_baseline_per_minute",
            "The agency's normal arrival rate for this hour of the week (seasonal baseline).",
            labels,
            registry=r,
        )
        self.agency_surge_score = Gauge(
            "serambi_agency_surge_score",
            "How far arrivals exceed the baseline (the detector's test statistic; 0 when normal).",
            labels,
            registry=r,
        )
        self.agency_surge_active = Gauge(
            "serambi_agency_surge_active",
            "1 while a surge alert of at least this severity is active for the agency (critical: both are 1).",
            [*labels, "severity"],
            registry=r,
        )

    def set_consumer_lag(self, lag_by_partition: Mapping[tuple[str, int], int]) -> None:
        """Set the lag of each (topic, partition); those not given any more (topics recreated smaller) are dropped."""
        given = {(topic, str(partition)): lag for (topic, partition), lag in lag_by_partition.items()}
        for labels, lag in given.items():
            self.consumer_lag.labels(*labels).set(lag)
        for gone in set(label_sets(self.consumer_lag)) - set(given):
            self.consumer_lag.remove(*gone)


def label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    """The label values of every child of ``gauge`` (to drop the series that no longer apply)."""
    # prometheus-client keeps the children in ``_metrics`` and has no public accessor; its lock guards writes.
    with gauge._lock:
        return [tuple(labels) for labels in gauge._metrics]
