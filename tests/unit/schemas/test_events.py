from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, Interaction, Post, Reaction, conversation_key, make_event_id
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


# Issue 7, item 5: a time near year 1 or 9999 overflowed (OverflowError) when shifted to UTC, past validation.
@pytest.mark.parametrize(
    "created_at",
    [
        "9999-12-31T23:59:59-01:00",  # overflows when shifted to UTC
        "0001-01-01T00:00:00+01:00",  # underflows when shifted to UTC
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2005-12-31T23:59:59.999Z",  # just before the earliest
        "2006-01-01T00:30:00+01:00",  # 2005-12-31 in UTC
        "2100-01-01T00:00:00Z",  # the end is exclusive
        "2099-12-31T23:30:00-01:00",  # 2100-01-01 in UTC
    ],
)
def test_created_at_out_of_range_is_refused_with_a_reason(event_factory: EventFactory, created_at: str) -> None:
    raw = event_factory("comment").model_dump(mode="json") | {"created_at": created_at}
    with pytest.raises(ValidationError, match=r"out of range: events must be at or after 2006-01-01 and before 2100"):
        EVENT_ADAPTER.validate_python(raw)
    with pytest.raises(ValidationError, match="out of range"):
        EVENT_ADAPTER.validate_json(orjson.dumps(raw))


@pytest.mark.parametrize(
    ("created_at", "utc"),
    [
        ("2006-01-01T00:00:00Z", datetime(2006, 1, 1, tzinfo=UTC)),
        ("2006-01-01T01:00:00+01:00", datetime(2006, 1, 1, tzinfo=UTC)),
        ("2099-12-31T23:59:59.999Z", datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2100-01-01T00:59:00+01:00", datetime(2099, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_created_at_bounds_hold_in_utc(event_factory: EventFactory, created_at: str, utc: datetime) -> None:
    raw = event_factory("comment").model_dump(mode="json") | {"created_at": created_at}
    assert EVENT_ADAPTER.validate_python(raw).created_at == utc
    assert EVENT_ADAPTER.validate_json(orjson.dumps(raw)).created_at == utc


@pytest.mark.parametrize("created_at", [0, 1_700_000_000, 1_700_000_000_000, 1.7e9, True, b"2026-11-02", None])
def test_numbers_are_not_times(event_factory: EventFactory, created_at: object) -> None:
    # Lax pydantic would read 1_700_000_000 as 2023-11-14: a producer sending a number means something else.
    raw = event_factory("comment").model_dump(mode="json") | {"created_at": created_at}
    with pytest.raises(ValidationError, match="created_at"):
        EVENT_ADAPTER.validate_python(raw)
    if not isinstance(created_at, bytes):
        with pytest.raises(ValidationError, match="created_at"):
            EVENT_ADAPTER.validate_json(orjson.dumps(raw))


def test_python_datetimes_still_construct_events(event_factory: EventFactory) -> None:
    at = datetime(2026, 11, 2, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    assert event_factory("post", created_at=at).created_at == datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="out of range"):
        event_factory("post", created_at=datetime.max.replace(tzinfo=timezone(-timedelta(hours=1))))


# Issue 7, item 11: ClickHouse stores count as UInt64, where 2**64 wrapped to 0.
def test_reaction_count_fits_clickhouse_uint64(event_factory: EventFactory) -> None:
    raw = event_factory("reaction").model_dump(mode="json")
    largest = Reaction.model_validate_json(orjson.dumps(raw | {"count": 2**64 - 1}))
    assert largest.count == 2**64 - 1
    too_big = orjson.dumps(raw | {"count": 0}).replace(b'"count":0', b'"count":18446744073709551616')
    with pytest.raises(ValidationError, match="less than or equal to 18446744073709551615"):
        EVENT_ADAPTER.validate_json(too_big)
    with pytest.raises(ValidationError, match="count"):
        EVENT_ADAPTER.validate_python(orjson.loads(too_big))  # orjson reads it as a float
