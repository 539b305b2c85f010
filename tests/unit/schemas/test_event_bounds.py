"""Event times ingest accepts (issue 8, item 4): no numbers as times, no implausible times, no giant texts.

The bounds are checked where events enter (the publisher, on its wall clock) and again where the worker decodes
them (on its clock), so a record from any producer is bounded too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink
from pipeline.stream.decode import Accepted, Record, decode
from schemas.events import EVENT_ADAPTER, MAX_TEXT_CHARS, Post
from schemas.privacy import PREFIX, Pseudonymizer
from schemas.records import encode_batch, validation_reason
from schemas.timeutil import EventBounds
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.events import T0, make_event

NOW = T0 + timedelta(days=3)


def _post(**overrides: Any) -> dict[str, Any]:
    return make_event("post").model_dump(mode="json") | overrides


def test_a_number_is_not_a_time_in_the_canonical_format() -> None:
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(_post(created_at=12345))
    assert "created_at: Value error, must be an ISO 8601 string" in validation_reason(caught.value)


def test_a_text_longer_than_the_documented_limit_is_refused_and_one_at_it_is_kept() -> None:
    kept = EVENT_ADAPTER.validate_python(_post(text="a" * MAX_TEXT_CHARS))
    assert isinstance(kept, Post)
    assert kept.text == "a" * MAX_TEXT_CHARS
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(_post(text="a" * (MAX_TEXT_CHARS + 1)))
    assert f"text: String should have at most {MAX_TEXT_CHARS} characters" in validation_reason(caught.value)


@pytest.mark.parametrize(
    ("created_at", "words"),
    [
        (datetime(2005, 12, 31, 23, 59, tzinfo=UTC), None),  # the schema's own floor is 2006: bounds start there
        (datetime(2010, 1, 1, tzinfo=UTC), "before the earliest event time accepted"),
        (NOW + timedelta(hours=2, seconds=1), "more than 2 h after the ingest clock"),
    ],
)
def test_bounds_say_why_a_time_is_refused(created_at: datetime, words: str | None) -> None:
    bounds = EventBounds(earliest=datetime(2012, 1, 1, tzinfo=UTC), max_future=timedelta(hours=2))
    reason = bounds.reason(created_at, NOW)
    assert reason is not None
    assert words is None or words in reason
    assert "SERAMBI_" in reason  # names the setting to change


def test_bounds_accept_their_edges() -> None:
    bounds = EventBounds(earliest=T0, max_future=timedelta(hours=2))
    assert bounds.reason(T0, NOW) is None
    assert bounds.reason(NOW + timedelta(hours=2), NOW) is None


def _publisher(sink: ListRecordSink, **kwargs: Any) -> Publisher:
    return Publisher(sink, pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=2, source="t", **kwargs)


def test_the_publisher_dead_letters_an_event_from_the_future_with_the_reason() -> None:
    sink = ListRecordSink()
    publisher = _publisher(sink, wall_clock=lambda: NOW)
    assert publisher.publish(make_event("comment", created_at=NOW + timedelta(hours=1)))
    assert not publisher.publish(make_event("comment", created_at=NOW + timedelta(days=2)))
    publisher.flush()
    letters = [orjson.loads(r.value) for r in sink.records if r.topic == DEAD_LETTER.name]
    assert [(d["error_type"], d["stage"]) for d in letters] == [("out_of_range", "connector")]
    assert "more than 24 h after the ingest clock" in letters[0]["reason"]
    assert "SERAMBI_MAX_FUTURE_HOURS" in letters[0]["reason"]
    assert sum(1 for r in sink.records if r.topic == EVENTS.name) == 1


def test_the_publisher_applies_the_bounds_it_is_given() -> None:
    sink = ListRecordSink()
    bounds = EventBounds(earliest=T0, max_future=timedelta(0))
    publisher = _publisher(sink, bounds=bounds, wall_clock=lambda: NOW)
    assert not publisher.publish(make_event("post", created_at=T0 - timedelta(minutes=1)))
    assert not publisher.publish(make_event("post", created_at=NOW + timedelta(minutes=1)))
    assert publisher.publish(make_event("post", created_at=NOW))
    assert publisher.dead_lettered == 2


def test_the_worker_dead_letters_out_of_range_events_of_any_producer() -> None:
    inside = make_event("comment", author_id=f"{PREFIX}abc", created_at=NOW)
    future = make_event("comment", author_id=f"{PREFIX}def", created_at=NOW + timedelta(days=30))
    record = Record(0, 7, encode_batch([inside, future]))
    accepted = Accepted(EventBounds(), NOW)
    decoded = decode([record], ceiling=NOW, is_agency_account=lambda _p, _a: False, accepted=accepted)
    assert [f.error_type for f in decoded.failures] == ["out_of_range"]
    assert decoded.failures[0].source == "worker:events/p0@7"
    assert "after the ingest clock" in decoded.failures[0].reason
    assert [orjson.loads(line)["event_id"] for line in decoded.rows["interactions"]] == [inside.event_id]
