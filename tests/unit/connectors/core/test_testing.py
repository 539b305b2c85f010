"""The test doubles shipped in connectors.core.testing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.core.contracts import Rejected
from connectors.core.testing import FakeClock, ListEventSink, load_payload
from tests.helpers.events import EventFactory
from tests.helpers.paths import PAYLOADS


def test_list_event_sink_validates_mappings_like_the_publisher(event_factory: EventFactory) -> None:
    sink = ListEventSink()
    post = event_factory("post")
    assert sink.publish(post)
    assert sink.publish(post.model_dump(mode="json"))
    assert not sink.publish({"type": "post"})
    sink.dead_letter("row 3: bad", {"a": 1}, error_type="invalid_row")
    sink.flush()
    assert sink.events == [post, post]
    assert [d.error_type for d in sink.dead_letters] == ["schema", "invalid_row"]
    assert sink.dead_letters[1] == Rejected("row 3: bad", {"a": 1}, "invalid_row")
    assert sink.flushes == 1


def test_fake_clock_moves_only_when_slept_on_or_advanced() -> None:
    clock = FakeClock(datetime(2026, 11, 2, tzinfo=UTC))
    assert clock.now() == clock.now() == clock.start
    clock.sleep(1.5)
    clock.advance(60)
    stop = threading.Event()
    stop.set()
    clock.sleep(3600, stop)
    assert clock.now() == clock.start + timedelta(seconds=61.5)
    assert clock.sleeps == [1.5, 3600]


def test_load_payload_reads_json_and_ndjson(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"x": [1, 2]}', encoding="utf-8")
    (tmp_path / "b.ndjson").write_text('{"n": 1}\n\n{"n": 2}\n', encoding="utf-8")
    assert load_payload(tmp_path / "a.json") == {"x": [1, 2]}
    assert load_payload(tmp_path / "b.ndjson") == [{"n": 1}, {"n": 2}]


def test_load_payload_reads_the_documented_payloads() -> None:
    events = load_payload(PAYLOADS / "bluesky" / "jetstream_events.ndjson")
    assert events
    assert all("did" in event for event in events)
    assert "delivery" in load_payload(PAYLOADS / "facebook" / "webhook_verification_and_signed_delivery.json")
