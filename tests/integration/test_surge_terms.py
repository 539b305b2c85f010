"""The terms a surge alert carries: its messages' top terms, never those of messages removed before its update."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pipeline.domain.surge import ALL_PLATFORMS, Severity, SurgeAlert, Transition
from pipeline.storage.sql.surge_terms import surge_terms
from pipeline.storage.store import Store
from schemas.agency import Directory
from tests.helpers.events import ACCOUNT, make_event
from tests.helpers.listening import END, FLOODED, burst_events, store_events

_CONCERT = tuple(f"Tiket konsert {n} dibatalkan, bila refund tiket konsert ini?" for n in range(6))


def _alert() -> SurgeAlert:
    started = END - timedelta(hours=2)
    return SurgeAlert(
        transition=Transition.RAISE,
        alert_id="surge-test",
        agency=FLOODED,
        platform=ALL_PLATFORMS,
        severity=Severity.WARNING,
        started_at=started,
        updated_at=END,
        resolved_at=None,
        backlog=10,
        oldest_unanswered_seconds=3600.0,
        arrivals=20,
        baseline=2.0,
        window_minutes=24 * 60,
        score=9.0,
        example_ids=(),
    )


def test_removed_messages_give_no_terms(store: Store, tiny_directory: Directory) -> None:
    concert = [
        make_event(
            "comment",
            message_id=f"concert-{n}",
            event_id=f"x:concert-{n}",
            text=text,
            created_at=END - timedelta(hours=10, minutes=n),
            agency_id=FLOODED,
            account_id=ACCOUNT,
            author_id=f"ps1:{hashlib.md5(f'concert-{n}'.encode()).hexdigest()}",
        )
        for n, text in enumerate(_CONCERT)
    ]
    store_events(store, tiny_directory, [*burst_events(), *concert])
    before = surge_terms(store, store.database, _alert())
    assert "banjir" in before
    # The control: the concert messages make terms of their own while they stand.
    assert any("tiket" in term or "dibatalkan" in term for term in before)

    removals = [
        make_event(
            "remove",
            target_id=f"concert-{n}",
            agency_id=FLOODED,
            account_id=ACCOUNT,
            created_at=END - timedelta(hours=1),
        )
        for n in range(len(_CONCERT))
    ]
    store_events(store, tiny_directory, removals, now=END + timedelta(minutes=1))
    after = surge_terms(store, store.database, _alert())
    assert "banjir" in after
    assert not any("tiket" in term or "konsert" in term or "dibatalkan" in term for term in after)
