"""The demo's live alert lines: each surge alert transition the worker stored, said once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.alerts import AlertFilter, list_alerts
from schemas.alerts import AlertEvent

__all__ = ["AlertLines"]

log = logging.getLogger(__name__)
_ALERTS_LISTED = 200


class AlertLines:
    """Says each surge alert transition the worker stored (raised, updated, resolved), polling the alerts table.

    The table keeps each alert's latest transition, so an alert raised and resolved between two polls is said
    as both at once. Alerts already there when :meth:`prime` ran (an earlier run on the data dir) are not said.

    Args:
        engine: the stack's ClickHouse (read-only queries).
        database: its database.
        say: where the lines go.

    Example::

        lines = AlertLines(stack.store, stack.store.database, print)
        lines.prime()
        lines.poll()  # on every progress tick
    """

    def __init__(self, engine: QueryEngine, database: str, say: Callable[[str], None]) -> None:
        self._engine = engine
        self._database = database
        self._say = say
        self._seen: dict[str, tuple[str, datetime]] = {}
        self.raised = 0
        self.resolved = 0

    def prime(self) -> None:
        """Remember the alerts stored so far without saying them."""
        for alert in self._latest():
            self._seen[alert.alert_id] = (alert.transition, alert.updated_at)

    def poll(self) -> None:
        """Say every transition stored since the previous poll, oldest alert first."""
        for alert in reversed(self._latest()):
            before = self._seen.get(alert.alert_id)
            if before == (alert.transition, alert.updated_at):
                continue
            self._seen[alert.alert_id] = (alert.transition, alert.updated_at)
            if before is None:
                self.raised += 1
                self._say(f"ALERT raised:   {_alert_line(alert)}")
            if alert.transition == "resolve":
                self.resolved += 1
                self._say(f"ALERT resolved: {_alert_line(alert)}; lasted {_span(alert)} of event time")
            elif before is not None:
                self._say(f"ALERT updated:  {_alert_line(alert)}")

    def summary(self) -> str:
        """One line on the alerts of this run."""
        return f"surge alerts this run: {self.raised} raised, {self.resolved} resolved (`serambi alerts` lists them)"

    def _latest(self) -> list[AlertEvent]:
        try:
            alerts, _ = list_alerts(self._engine, self._database, AlertFilter(limit=_ALERTS_LISTED))
        except Exception:  # a busy or failing ClickHouse must not stop the demo: the next tick tries again
            log.warning("could not read the alerts table; trying again at the next progress line", exc_info=True)
            return []
        return alerts


def _alert_line(alert: AlertEvent) -> str:
    return (
        f"unanswered surge at {alert.agency} ({alert.severity}) since {alert.started_at:%a %d %b %H:%M} UTC: "
        f"backlog {alert.backlog:,}, {alert.arrivals_per_minute:.1f} arrivals/min against a normal "
        f"{alert.baseline_per_minute:.1f}/min{_asks(alert)}"
    )


def _asks(alert: AlertEvent) -> str:
    # What the page says besides the numbers; nothing when no term stood out (or none could be read).
    return f", citizens ask about: {', '.join(alert.top_terms)}" if alert.top_terms else ""


def _span(alert: AlertEvent) -> str:
    minutes = round(((alert.resolved_at or alert.updated_at) - alert.started_at).total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
