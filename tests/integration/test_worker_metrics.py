"""The worker's /metrics on a live stack (embedded broker, chDB, the local API): the per-agency gauges equal the
report's figures for the same 24 h window, and the worker's counters count what it stored."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.storage.sql.report import ReportWindow, build_report
from schemas.agency import Directory
from tests.helpers.events import AGENCY, EventFactory
from tests.helpers.live import LiveStack
from tests.helpers.settings import SettingsFactory

ALICE, BOB, CARA = ("ps1:" + c * 32 for c in "abc")


@pytest.fixture
def live(settings_factory: SettingsFactory) -> Iterator[LiveStack]:
    stack = LiveStack(settings_factory()).start()
    yield stack
    stack.stop()


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_endpoint_matches_the_report(
    live: LiveStack, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    live.stack.agencies.register(tiny_directory.agencies)
    now = datetime.now(UTC).replace(microsecond=0)
    events = [
        event_factory("comment", message_id="q1", root_id="r1", parent_id="r1", author_id=ALICE,
                      created_at=now - timedelta(hours=3)),
        event_factory("reply", message_id="a1", root_id="r1", parent_id="q1", created_at=now - timedelta(hours=2)),
        event_factory("comment", message_id="q2", root_id="r2", parent_id="r2", author_id=BOB,
                      created_at=now - timedelta(hours=1)),
        # Outside the 24 h window, still in the backlog (the report's rule), and overdue for a 24 h SLA.
        event_factory("comment", message_id="q3", root_id="r3", parent_id="r3", author_id=CARA,
                      created_at=now - timedelta(hours=30)),
        event_factory("post", post_id="p1", created_at=now - timedelta(hours=4)),
    ]  # fmt: skip
    live.publish(tiny_directory, events)
    live.drain()
    gauges = live.stack.gauges
    assert gauges is not None
    until = now + timedelta(minutes=1)
    # The stack's own rounds (every 15 s) judge at the same instant from now on, so a round between this
    # refresh and the scrape cannot move the ages.
    gauges.clock = lambda: until
    gauges.refresh()
    window = ReportWindow(since=until - timedelta(hours=24), until=until, agency_id=AGENCY)
    [report] = build_report(live.stack.store, live.stack.store.database, window)
    scraped = _scrape(live.stack.api.url)
    labels = frozenset({"agency": AGENCY, "tier": "federal"}.items())

    def agency(name: str) -> float | None:
        return scraped.get((name, labels))

    assert agency("serambi_agency_backlog_messages") == report["backlog"] == 2
    assert agency("serambi_agency_citizen_messages_24h") == report["citizen_messages"] == 2
    assert agency("serambi_agency_oldest_unanswered_seconds") == report["oldest_unanswered_seconds"] == 30 * 3600 + 60
    assert agency("serambi_agency_reply_rate_24h") == report["reply_rate"] == 1.0
    assert agency("serambi_agency_sla_compliance_24h") == report["sla_compliance"] == 1.0
    assert agency("serambi_agency_sla_seconds") == 24 * 3600
    # The other directory agency is registered and silent: zero backlog, no ratio to show.
    other = frozenset({"agency": "tother", "tier": "state"}.items())
    assert scraped[("serambi_agency_backlog_messages", other)] == 0
    assert ("serambi_agency_reply_rate_24h", other) not in scraped
    # The worker's own counters, for what it stored.
    assert scraped[("serambi_events_total", frozenset({"kind": "comment", "platform": "x"}.items()))] == 3
    assert scraped[("serambi_events_total", frozenset({"kind": "post", "platform": "x"}.items()))] == 1
    assert scraped[("serambi_response_seconds_count", frozenset())] == 1
    assert scraped[("serambi_response_seconds_sum", frozenset())] == 3600
    assert scraped[("serambi_sink_last_success_timestamp_seconds", frozenset())] >= now.timestamp()
    assert scraped[("serambi_matcher_open_conversations", frozenset())] >= 3
    lag = {dict(labels)["topic"] for name, labels in scraped if name == "serambi_worker_consumer_lag_records"}
    assert lag == {"serambi.events.v1", "serambi.deadletter.v1", "serambi.counts.v1", "serambi.alerts.v1"}
