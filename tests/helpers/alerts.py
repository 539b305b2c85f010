"""Alert events for tests: a hand-made one, and the detector's own on a real surge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.bench.alert_traffic import (
    MONDAY,
    answer_between,
    count_records,
    flat,
    hourly_history,
    messages,
    with_surge,
)
from pipeline.domain.surge import SurgeAlert, SurgeDetector

START = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


def alert_fields(**changes: Any) -> dict[str, Any]:
    """The fields of a valid ``raise`` of agency jpj at :data:`START`, with ``changes``."""
    base: dict[str, Any] = {
        "transition": "raise",
        "alert_id": "a1b2c3",
        "agency": "jpj",
        "platform": "all",
        "kind": "unanswered_surge",
        "severity": "warning",
        "started_at": START.isoformat(),
        "updated_at": START.isoformat(),
        "resolved_at": None,
        "backlog": 40,
        "oldest_unanswered_seconds": 600.0,
        "arrivals_per_minute": 6.0,
        "baseline_per_minute": 1.0,
        "window_minutes": 5,
        "score": 9.5,
        "example_ids": ["m1", "m2"],
    }
    return base | changes


def real_surge_alerts() -> list[SurgeAlert]:
    """The detector's alerts on agency ``a``: a 30-minute flood answered an hour later (raise, updates, resolve)."""
    detector = SurgeDetector()
    detector.seed_history("a", "all", hourly_history(flat(60), MONDAY - timedelta(days=21), 21, 1))
    onset, end = MONDAY + timedelta(hours=3), MONDAY + timedelta(hours=8)
    batch = messages(with_surge(flat(60), onset, 30, 600), MONDAY, end, seed=2)
    batch = answer_between(batch, onset, onset + timedelta(minutes=30), onset + timedelta(hours=1), 20)
    return detector.observe_all(count_records(batch, MONDAY, end, "a")) + detector.advance_to(end)
