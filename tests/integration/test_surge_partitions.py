"""An agency's surge spread over every partition is detected the same as on one (issue 9, acceptance).

The same events (four working days of normal traffic, then a flood of unanswered mentions, each its own
conversation, so they spread over all partitions, and the replies to them) go through the real stack (embedded
broker, chDB, worker with its tally, counts topic, detector and alert store) once with 1 partition and once with
6: the ``alerts`` table must hold the same alert (id, start, resolve, severity) both times.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.alerts import AlertFilter, list_alerts
from schemas.agency import load_directory
from schemas.alerts import AlertEvent
from tests.helpers.live import LiveStack
from tests.helpers.monitoring import wait_until
from tests.helpers.surge_events import FLOOD_AT, REPLIES_AT, flood_day


def stored_alerts(live: LiveStack, *, resolved: bool) -> list[AlertEvent]:
    """The alerts table once it holds alerts, all resolved (``resolved``) or at least one active."""
    store: QueryEngine = live.stack.store

    def ready() -> list[AlertEvent] | None:
        alerts, _ = list_alerts(store, live.stack.store.database, AlertFilter())
        return alerts if alerts and all(a.active != resolved for a in alerts) else None

    state = "resolved" if resolved else "active"
    return wait_until(ready, timeout_s=120, what=f"surge alerts, all {state}, in the alerts table")


def _alerts(settings: Settings) -> list[AlertEvent]:
    directory = load_directory()
    live = LiveStack(settings).start()
    try:
        live.publish(directory, flood_day(directory.get("jpj")).ordered())
        return stored_alerts(live, resolved=True)
    finally:
        live.stop()


def _identity(alert: AlertEvent) -> tuple[object, ...]:
    return (alert.alert_id, alert.agency, alert.platform, alert.severity, alert.started_at, alert.resolved_at)


def test_a_surge_over_six_partitions_gives_the_alert_it_gives_on_one(tmp_path: Path, settings_factory: Any) -> None:
    one = _alerts(settings_factory(partitions=1, data_dir=tmp_path / "one"))
    six = _alerts(settings_factory(partitions=6, data_dir=tmp_path / "six"))
    assert [_identity(a) for a in one] == [_identity(a) for a in six]
    [alert] = one
    assert alert.agency == "jpj"
    assert FLOOD_AT < alert.started_at <= FLOOD_AT + timedelta(minutes=5)
    assert alert.resolved_at is not None
    assert alert.resolved_at > REPLIES_AT
