"""A periodic refresher of the per-agency gauges and the consumer lag, for Prometheus scrapes.

The per-agency gauges are slow-moving (a 24 h window, a backlog) and cost a ClickHouse query, so they are not
computed per scrape: every ``interval_s`` (default 15 s, the usual scrape interval) one read-only report query
(:func:`pipeline.storage.sql.agency_gauges.agency_gauges`) sets them all. A scrape may therefore read values up
to one interval old. A failed refresh (ClickHouse busy or down) is logged and leaves the last values in place;
``PipelineStalled`` is what pages for a ClickHouse outage, not stale gauges.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge

from pipeline.metrics import Metrics, label_sets
from pipeline.runtime.periodic import in_background
from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.agency_gauges import AgencyGauge, agency_gauges

__all__ = ["GaugeRefresher", "refreshing"]

log = logging.getLogger(__name__)
# The refresher's task ignores nothing, but a query in its thread cannot be cancelled: the stop waits this long.
_STOP_TIMEOUT_S = 10.0


@dataclass
class GaugeRefresher:
    """Sets the per-agency gauges of ``metrics`` from ClickHouse, and refreshes the consumer lag.

    Args:
        engine: where the report query runs (read-only path).
        database: the ClickHouse database.
        metrics: whose ``agency_*`` gauges are set.
        default_sla_hours: the SLA of an agency the table holds none for (``SERAMBI_SLA_HOURS``).
        window: the rolling window of the ``*_24h`` gauges; default 24 h (the names say it).
        clock: wall clock; default ``datetime.now(UTC)``.
        lag: called each round to refresh the consumer-lag gauge (the stack's drain check), or ``None``.

    Example::

        refresher = GaugeRefresher(store, store.database, metrics, default_sla_hours=24.0)
        refresher.refresh()  # blocking; the stack runs it every 15 s in a thread
    """

    engine: QueryEngine
    database: str
    metrics: Metrics
    default_sla_hours: float
    window: timedelta = timedelta(hours=24)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lag: Callable[[], object] | None = None
    leader: Callable[[], bool] | None = None
    """With several workers, only the one this says is the leader sets the per-agency gauges (``None``: always):
    every worker exporting them would make each agency's series as many times as there are workers."""
    refreshed: int = field(default=0, init=False)
    """Rounds that set the gauges, for tests and health."""

    def refresh(self, until: datetime | None = None) -> list[AgencyGauge]:
        """Query and set every agency's gauges judged at ``until`` (default: now); return the values set."""
        at = until or self.clock()
        values = agency_gauges(self.engine, self.database, at, self.window, self.default_sla_hours)
        self._apply(values)
        self.refreshed += 1
        return values

    def _apply(self, values: Sequence[AgencyGauge]) -> None:
        m = self.metrics
        current: set[tuple[str, ...]] = {(v.agency_id, v.tier) for v in values}
        for v in values:
            labels = (v.agency_id, v.tier)
            m.agency_backlog.labels(*labels).set(v.backlog_messages)
            m.agency_oldest_unanswered.labels(*labels).set(v.oldest_unanswered_seconds)
            m.agency_sla.labels(*labels).set(v.sla_seconds)
            m.agency_citizen_messages.labels(*labels).set(v.citizen_messages)
            # A ratio with nothing to judge is absent, not 0: a 0 would read as "answers nobody".
            _set_or_remove(m.agency_reply_rate, labels, v.reply_rate)
            _set_or_remove(m.agency_needs_reply_rate, labels, v.needs_reply_rate)
            _set_or_remove(m.agency_sla_compliance, labels, v.sla_compliance)
        gauges = (
            m.agency_backlog,
            m.agency_oldest_unanswered,
            m.agency_sla,
            m.agency_citizen_messages,
            m.agency_reply_rate,
            m.agency_needs_reply_rate,
            m.agency_sla_compliance,
        )
        for gauge in gauges:
            # An agency whose tier changed (directory edited, restart) must not keep its old series.
            for stale in set(label_sets(gauge)) - current:
                gauge.remove(*stale)

    async def run(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` until cancelled; a failed round is logged and retried next round."""
        while True:
            try:
                if self.leader is None or self.leader():
                    await asyncio.to_thread(self.refresh)
                else:
                    self._apply([])  # no longer the leader: its series go, the new leader's stay
                if self.lag is not None:
                    await asyncio.to_thread(self.lag)
            except Exception:
                log.exception("refreshing the agency gauges failed; keeping the last values")
            await asyncio.sleep(interval_s)


def _set_or_remove(gauge: Gauge, labels: tuple[str, str], value: float | None) -> None:
    if value is None:
        if labels in set(label_sets(gauge)):
            gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(value)


@contextlib.asynccontextmanager
async def refreshing(refresher: GaugeRefresher, interval_s: float = 15.0) -> AsyncIterator[GaugeRefresher]:
    """Run ``refresher`` in the background while the block runs; the stop is bounded (a query is not cancellable).

    ``interval_s`` 0 (``SERAMBI_METRICS_REFRESH_SECONDS=0``): never; the per-agency gauges stay absent.
    """
    if interval_s <= 0:
        yield refresher
        return
    async with in_background(refresher.run(interval_s), "the gauge refresher", _STOP_TIMEOUT_S):
        yield refresher
