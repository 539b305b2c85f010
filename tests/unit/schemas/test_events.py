from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, Interaction, Post, conversation_key, make_event_id
from tests.helpers.events import EventFactory


def test_event_id_is_platform_prefixed() -> None:
    assert make_event_id("facebook", "104_881") == "facebook:104_881"
    with pytest.raises(ValueError, match="not a valid"):
        make_event_id("myspace", "1")


def test_created_at_is_normalised_to_utc(event_factory: EventFactory) -> None:
    kl = timezone(timedelta(hours=8))
    post = event_factory("post", created_at=datetime(2026, 11, 2, 10, 0, tzinfo=kl))
    assert post.created_at.utcoffset() == timedelta(0)
    assert post.created_at.hour == 2


def test_naive_datetime_is_rejected(event_factory: EventFactory) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        event_factory("post", created_at=datetime(2026, 11, 2, 10, 0))  # noqa: DTZ001 - the point of the test


def test_unknown_fields_are_rejected(event_factory: EventFactory) -> None:
    raw = event_factory("comment").model_dump(mode="json") | {"surprise": 1}
    with pytest.raises(ValidationError, match="surprise"):
        EVENT_ADAPTER.validate_python(raw)


def test_round_trip_through_json_keeps_type(event_factory: EventFactory) -> None:
    for kind, cls in (("post", Post), ("comment", Interaction)):
        event = event_factory(kind)
        again = EVENT_ADAPTER.validate_json(event.model_dump_json())
        assert isinstance(again, cls)
        assert again == event


def test_conversation_key_groups_a_thread(event_factory: EventFactory) -> None:
    post = event_factory("post", post_id="p1")
    comment = event_factory("comment", root_id="p1")
    reply = event_factory("reply", root_id="p1", parent_id=comment.message_id)
    assert conversation_key(post) == conversation_key(comment) == conversation_key(reply) == "x:900100:p1"
    assert conversation_key(event_factory("comment", root_id="p2")) != conversation_key(post)


def test_created_at_is_kept_to_the_millisecond_as_clickhouse_stores_it(event_factory: EventFactory) -> None:
    post = event_factory("post", created_at=datetime(2026, 11, 2, 10, 0, 0, 123987, tzinfo=UTC))
    assert post.created_at.microsecond == 123000
