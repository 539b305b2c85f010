"""A surge alert outlives a restart of the stack: raised before, resolved after, under one id (issue 9).

The detector's state (baselines, windows, active alerts) is saved in the data dir at stop and restored at
start; without it, the alert raised before the restart would stay active in the ``alerts`` table for ever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.agency import load_directory
from tests.helpers.live import LiveStack
from tests.helpers.surge_events import REPLIES_AT, flood_day
from tests.integration.test_surge_partitions import stored_alerts


def test_an_alert_raised_before_a_restart_resolves_after_it(tmp_path: Path, settings_factory: Any) -> None:
    settings = settings_factory(data_dir=tmp_path / "data")
    directory = load_directory()
    events = flood_day(directory.get("jpj")).ordered()
    before = [e for e in events if e.created_at < REPLIES_AT]
    live = LiveStack(settings).start()
    try:
        live.publish(directory, before)
        [raised] = stored_alerts(live, resolved=False)
    finally:
        live.stop()
    assert (settings.data_dir / "surge-detector.json").exists()
    live = LiveStack(settings).start()
    try:
        live.publish(directory, [e for e in events if e.created_at >= REPLIES_AT])
        [resolved] = stored_alerts(live, resolved=True)
    finally:
        live.stop()
    assert resolved.alert_id == raised.alert_id
    assert resolved.resolved_at is not None
    assert resolved.resolved_at > REPLIES_AT
