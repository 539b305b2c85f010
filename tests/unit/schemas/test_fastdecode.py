"""The msgspec hot path (schemas.fastdecode) against the pydantic models: same events, same values, same records.

Properties, on valid events and on mutated ones (wrong types, bad times with and without offsets, missing and
extra fields, bad enums, unicode, huge integers, ids past 2**53, strings at their length limits):

- an event msgspec accepts, pydantic accepts, with equal attributes, equal ``event_dict`` and equal row JSON;
- an event pydantic refuses, msgspec refuses;
- an event pydantic accepts and msgspec refuses is spelled in a way only pydantic's lax mode takes (``"1"`` or
  ``true`` for an integer, a time without seconds...): spelled canonically, msgspec accepts it;
- ``decode_record`` (msgspec, then pydantic) gives exactly what the pydantic path alone gives, on any record.

The normal suite runs 400 examples per property; run more with ``SERAMBI_FUZZ_EXAMPLES=10000``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.bench.data import SyntheticEvents
from schemas import fastdecode
from schemas.errors import RecordError
from schemas.events import AuthorRole, ChangeOp, Event, InteractionKind, Platform, ReactionMode
from schemas.fastdecode import FastInteraction, HotEvent, event_dict, event_json
from schemas.records import BATCH_FORMAT, EventBatch, _decode_models, decode_record, encode_batch
from tests.helpers.events import make_event

EXAMPLES = int(os.environ.get("SERAMBI_FUZZ_EXAMPLES", "400"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What msgspec reads as a time (RFC 3339, any fraction: records with 7+ digits take the pydantic path).
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:?\d\d)")
_SLOW_SPELLINGS = re.compile(rb"\.[0-9]{7}|\\u00[23]")

_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_NEAR_BOUNDS = (datetime(2005, 12, 30), datetime(2100, 1, 2))  # noqa: DTZ001 - hypothesis takes naive bounds
_IN_RANGE = (datetime(2006, 1, 2), datetime(2099, 12, 30))  # noqa: DTZ001 - valid at any offset
_valid_times = st.one_of(
    st.datetimes(*_IN_RANGE, timezones=_offsets).map(datetime.isoformat),
    st.datetimes(*_IN_RANGE, timezones=_offsets).map(lambda d: d.isoformat(timespec="milliseconds")),
    st.datetimes(*_IN_RANGE, timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
)
_digits = st.text("0123456789", max_size=10)
# Spellings of times, right and wrong: separators, seconds, fractions, offsets, impossible dates and hours.
_time_texts = st.tuples(
    st.sampled_from(["2026", "2006", "2005", "2099", "2100", "0001", "9999", "26"]),
    st.sampled_from(["-11-02", "-02-30", "-13-01", "1102", "-1-2"]),
    st.sampled_from(["T", "t", " ", "_", ""]),
    st.sampled_from(["08:30:15", "08:30", "24:00:00", "23:59:60", "083015", "8:30:15"]),
    st.one_of(st.just(""), _digits.map(lambda d: "." + d), _digits.map(lambda d: "," + d)),
    st.sampled_from(
        ["", "Z", "z", "+00:00", "-00:00", "+05:30", "+0530", "+05", "-23:59", "+24:00", "+05:30:15", " Z"]
    ),
).map("".join)
_bad_times = st.one_of(
    st.datetimes(*_NEAR_BOUNDS, timezones=_offsets).map(datetime.isoformat),  # around the bounds, both sides
    st.datetimes(timezones=_offsets).map(datetime.isoformat),  # years 1..9999: the overflow edges
    st.datetimes(*_IN_RANGE).map(datetime.isoformat),  # naive
    _time_texts,
)
_texts = st.one_of(st.text(max_size=12), st.text(st.characters(codec="utf-8"), max_size=12), st.just("x\n\u2028😀"))
_ids = st.one_of(st.text(min_size=1, max_size=12), st.text(st.characters(codec="utf-8"), min_size=1, max_size=12))
_PLATFORMS = [p.value for p in Platform]
_event_ids = st.tuples(st.sampled_from(_PLATFORMS), st.text(st.characters(exclude_characters="\n"), min_size=1))
_odd_event_ids = st.one_of(
    st.sampled_from(["ab:c", "a:", "a:\nb", "a:b\n", "A:1", "1:x", ":x", "é:x", "x::", "x", "xx:\r", "x:" * 300]),
    _texts,
)
_huge = st.sampled_from([2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**65, -(2**64), 10**30, -1])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), _huge, st.floats(allow_nan=False, allow_infinity=False), _texts
)
_anything = st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(_texts, _scalars, max_size=2))
_ENUMS: dict[str, list[str]] = {
    "platform": _PLATFORMS,
    "kind": [k.value for k in InteractionKind],
    "author_role": [r.value for r in AuthorRole],
    "op": [o.value for o in ChangeOp],
    "mode": [m.value for m in ReactionMode],
    "type": ["post", "interaction", "reaction", "change"],
}
_LIMITS = {"event_id": 512, "agency_id": 64, "account_id": 256, "source": 64, "reaction_type": 32, "text": 65_536}


@st.composite
def _event_json(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event's JSON, spelled as producers spell it: every field of its type, optional ones or not."""
    kind = draw(st.sampled_from(_ENUMS["type"]))
    raw: dict[str, Any] = {
        "type": kind,
        "event_id": ":".join(draw(_event_ids)),
        "platform": draw(st.sampled_from(_ENUMS["platform"])),
        "agency_id": draw(_ids),
        "account_id": draw(_ids),
        "created_at": draw(_valid_times),
    }
    version = 2 if kind == "change" else draw(st.sampled_from([1, 2]))
    optional: dict[str, Any] = {"schema_version": version, "source": draw(_texts)}
    text, links = draw(st.none() | _texts), draw(st.lists(_texts, max_size=3))
    if kind == "post":
        raw["post_id"] = draw(_ids)
        optional |= {"text": text, "links": links}
    elif kind == "interaction":
        raw |= {"kind": draw(st.sampled_from(_ENUMS["kind"])), "message_id": draw(_ids), "root_id": draw(_ids)}
        raw |= {"author_id": draw(_ids), "author_role": draw(st.sampled_from(_ENUMS["author_role"]))}
        optional |= {"parent_id": draw(st.none() | _texts), "parent_author_id": draw(st.none() | _texts)}
        optional |= {"text": text, "links": links}
    elif kind == "reaction":
        raw |= {"target_id": draw(_ids), "root_id": draw(_ids), "reaction_type": draw(_ids)}
        optional |= {"mode": draw(st.sampled_from(_ENUMS["mode"])), "author_id": draw(st.none() | _texts)}
        optional["count"] = draw(st.one_of(st.integers(0, 10**6), st.sampled_from([2**53 + 1, 2**63, 2**64 - 1])))
    else:
        raw |= {"op": draw(st.sampled_from(_ENUMS["op"])), "target_id": draw(_ids), "root_id": draw(_ids)}
        optional |= {"author_id": draw(st.none() | _texts), "text": text}
        optional["author_role"] = draw(st.none() | st.sampled_from(_ENUMS["author_role"]))
    raw |= {key: value for key, value in optional.items() if draw(st.booleans())}
    return raw


_MUTATIONS = ["missing", "wrong type", "bad enum", "extra", "bad time", "number", "length", "event id", "empty"]


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, or one with up to three fields broken (some breakages are still valid events)."""
    raw = draw(_event_json())
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        how, field = draw(st.sampled_from(_MUTATIONS)), draw(st.sampled_from(sorted(raw)))
        if how == "missing":
            raw.pop(field, None)
        elif how == "wrong type":
            raw[field] = draw(_anything)
        elif how == "bad enum":
            choices = _ENUMS.get(field, ["x"])
            raw[field] = draw(st.sampled_from([c.upper() for c in choices] + [c + " " for c in choices] + [""]))
        elif how == "extra":
            raw[draw(st.sampled_from(["surprise", "Type", "kafka_partition", ""]))] = draw(_scalars)
        elif how == "bad time":
            raw["created_at"] = draw(st.one_of(_bad_times, _scalars))
        elif how == "number":  # numbers, and their lax spellings, where numbers go and where ids go
            raw[draw(st.sampled_from(["count", "schema_version", field]))] = draw(
                st.one_of(_huge, st.sampled_from([0, 1, 2, 1.0, 2.0, 1.5, True, "1", " 2", "1_0", 1e3, 2**53 + 1]))
            )
        elif how == "length":  # at, just under and just over the longest string a field takes
            limit = _LIMITS.get(field, 1)
            raw[field] = "é" * draw(st.sampled_from([limit - 1, limit, limit + 1]))
        elif how == "event id":
            raw["event_id"] = draw(_odd_event_ids)
        else:
            raw[field] = ""
    return raw


def _value(events: list[Any], ascii_only: bool, **batch: Any) -> bytes:
    # The standard library writes integers of any size and escapes (or not) non-ASCII text, as producers may.
    # A lone surrogate becomes invalid UTF-8 ("surrogatepass") or an escape: refused by both either way.
    payload = {"format": BATCH_FORMAT, "events": events, **batch}
    return json.dumps(payload, ensure_ascii=ascii_only).encode(errors="surrogatepass")


def _fast(value: bytes) -> HotEvent | None:
    try:
        return fastdecode.decode_batch(value).events[0]
    except ValueError:
        return None


def _pydantic(value: bytes) -> Event | None:
    try:
        return EventBatch.model_validate_json(value).events[0]
    except ValidationError:
        return None


def _assert_same(fast: HotEvent, model: Event) -> None:
    assert type(fast).__name__ == "Fast" + type(model).__name__
    assert fast.type == model.type
    for name in type(model).model_fields:
        mine, theirs = getattr(fast, name), getattr(model, name)
        assert (mine, type(mine)) == (theirs, type(theirs)), name  # enum members, str, int, tuple, None alike
    assert fast.created_at.utcoffset() == model.created_at.utcoffset() == timedelta(0)
    assert event_dict(fast) == event_dict(model) == model.model_dump(mode="json")
    assert orjson.loads(event_json(fast)) == orjson.loads(event_json(model))


def _canonical(raw: dict[str, Any], model: Event, value: bytes) -> bool:
    """Whether ``raw`` is spelled as pydantic writes the event (lax spellings are for pydantic alone)."""
    if _SLOW_SPELLINGS.search(value):
        return False
    dumped = model.model_dump(mode="json")
    for key, spelled in raw.items():
        if key == "created_at":
            if not (isinstance(spelled, str) and _RFC3339.fullmatch(spelled)):
                return False
        elif (spelled, type(spelled)) != (dumped[key], type(dumped[key])):
            return False
    return True


@PROPERTY
@given(raw=_mutated(), ascii_only=st.booleans())
def test_msgspec_accepts_what_pydantic_accepts_with_the_same_values(raw: dict[str, Any], ascii_only: bool) -> None:
    value = _value([raw], ascii_only)
    fast, model = _fast(value), _pydantic(value)
    event("accepted by " + {(True, True): "both", (False, True): "pydantic alone", (False, False): "neither"}.get(
        (fast is not None, model is not None), "msgspec alone"))  # fmt: skip
    if model is None:
        assert fast is None, "msgspec accepted an event pydantic refuses"
    elif fast is not None:
        _assert_same(fast, model)
    else:
        assert not _canonical(raw, model, value), "msgspec refused a canonically spelled valid event"


_cursors: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.just({"cursor": None}),
    st.fixed_dictionaries(
        {
            "source": st.sampled_from(["poll:x", ""]),
            "account": st.just("x:1"),
            "seq": st.sampled_from([0, 7, -1, "7", 2**64]),
            "part": st.integers(0, 2),
            "parts": st.integers(0, 2),
            "state": st.just('{"after":"abc"}'),
            "fetched_at": st.one_of(_valid_times, _bad_times, st.sampled_from([1_700_000_000, "1700000000"])),
        }
    ).map(lambda cursor: {"cursor": cursor}),
)
_DROP = object()
_batch_extras = st.sampled_from(
    [{}, {}, {}, {}, {"format": _DROP}, {"format": "serambi.batch/2"}, {"events": _DROP}, {"extra": 1}]
)


def _outcome(decode: Any, value: bytes) -> Any:
    try:
        return decode(value)
    except RecordError as exc:
        return str(exc)


def _summary(outcome: Any) -> Any:
    if isinstance(outcome, str):
        return outcome
    events, failures, cursor, cursor_error = outcome
    return [event_dict(e) for e in events], failures, cursor, cursor_error


def _path(decoded: Any) -> str:
    if isinstance(decoded, str):
        return "unreadable record"
    if decoded.failures or decoded.cursor_error:
        return "pydantic path, with failures"
    fast = any(type(e).__name__.startswith("Fast") for e in decoded.events)
    return "fast path" if fast or (not decoded.events and decoded.cursor) else "pydantic path, all valid"


@PROPERTY
@given(
    events=st.lists(st.one_of(_event_json(), _mutated()), max_size=4),
    cursor=_cursors,
    extras=_batch_extras,
    ascii_only=st.booleans(),
)
def test_records_decode_exactly_as_on_the_pydantic_path(
    events: list[dict[str, Any]], cursor: dict[str, Any], extras: dict[str, Any], ascii_only: bool
) -> None:
    payload = {"format": BATCH_FORMAT, "events": events, **cursor, **extras}
    payload = {key: value for key, value in payload.items() if value is not _DROP}
    value = json.dumps(payload, ensure_ascii=ascii_only).encode(errors="surrogatepass")
    new, old = _outcome(decode_record, value), _outcome(_decode_models, value)
    event(_path(new))
    assert _summary(new) == _summary(old)
    if not isinstance(new, str):
        for mine, model in zip(new.events, old[0], strict=True):
            if mine is not model and type(mine) is not type(model):
                _assert_same(mine, model)


def test_the_worker_s_records_take_the_fast_path() -> None:
    # The bench's records are what connectors send: msgspec must take them all, or the hot path is cold.
    for _partition, value in SyntheticEvents(partitions=4, batch_events=50, seed=3).batch_records(600):
        decoded = decode_record(value)
        assert decoded.events
        assert all(type(e).__name__.startswith("Fast") for e in decoded.events)
        models = EventBatch.model_validate_json(value).events
        for mine, model in zip(decoded.events, models, strict=True):
            _assert_same(mine, model)


def _one(**fields: Any) -> dict[str, Any]:
    comment = {
        "type": "interaction",
        "event_id": "x:m1",
        "platform": "x",
        "agency_id": "tdemo",
        "account_id": "900100",
        "created_at": "2026-11-02T02:00:00Z",
        "kind": "comment",
        "message_id": "m1",
        "root_id": "p1",
        "author_id": "ps1:" + "a" * 32,
        "author_role": "citizen",
    }
    return comment | fields


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2026-11-02T10:00:00.123456+08:00", datetime(2026, 11, 2, 2, 0, 0, 123000, tzinfo=UTC)),  # to UTC, to ms
        ("2026-11-02T02:00:00.999999Z", datetime(2026, 11, 2, 2, 0, 0, 999000, tzinfo=UTC)),  # truncated, not rounded
        ("2026-11-02 02:00:00-00:00", datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),
        ("2006-01-01T00:00:00Z", datetime(2006, 1, 1, tzinfo=UTC)),  # the earliest event time
    ],
)
def test_times_become_utc_milliseconds_as_in_pydantic(created_at: str, expected: datetime) -> None:
    value = _value([_one(created_at=created_at)], ascii_only=False)
    fast, model = _fast(value), _pydantic(value)
    assert fast is not None
    assert model is not None
    assert fast.created_at == expected
    _assert_same(fast, model)


@pytest.mark.parametrize(
    "created_at",
    ["2026-11-02T02:00:00", "2005-12-31T23:59:59.999Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"],
)
def test_naive_and_out_of_range_times_are_refused_by_both(created_at: str) -> None:
    value = _value([_one(created_at=created_at)], ascii_only=False)
    assert _fast(value) is None
    assert _pydantic(value) is None


@pytest.mark.parametrize(
    "value",
    [
        # msgspec would round 7 fraction digits (to 02:00:00.001), pydantic truncates them (to 02:00:00.000).
        _value([_one(created_at="2026-11-02T02:00:00.0009999Z")], ascii_only=False),
        # The same time with escaped digits, which the guard cannot read through: escapes take pydantic's path.
        _value([_one(created_at="2026-11-02T02:00:00.0009999Z")], ascii_only=False).replace(b"99Z", b"\\u00399Z"),
        # Duplicate keys: pydantic keeps the last value; msgspec validates both and refuses the bad first one.
        _value([_one()], ascii_only=False).replace(b'"platform": "x"', b'"platform": "nope", "platform": "x"'),
        # Lax spellings pydantic coerces.
        _value([_one(schema_version=True)], ascii_only=False),
        _value([_one(created_at="2026-11-02T02:00Z")], ascii_only=False),
    ],
)
def test_what_msgspec_refuses_and_pydantic_takes_decodes_as_before(value: bytes) -> None:
    assert _fast(value) is None
    model = _pydantic(value)
    assert model is not None
    decoded = decode_record(value)
    assert [event_dict(e) for e in decoded.events] == [model.model_dump(mode="json")]
    assert decoded.events[0].created_at == datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("count", "accepted"), [(2**64 - 1, True), (2**64, False), (-1, False), (2**63, True)])
def test_reaction_counts_go_to_the_largest_uint64(count: int, accepted: bool) -> None:
    reaction = {key: _one()[key] for key in ("event_id", "platform", "agency_id", "account_id", "created_at")}
    reaction |= {"type": "reaction", "target_id": "p1", "root_id": "p1", "reaction_type": "like", "count": count}
    value = _value([reaction], ascii_only=False)
    fast, model = _fast(value), _pydantic(value)
    assert (fast is not None, model is not None) == (accepted, accepted)
    if fast is not None and model is not None:
        _assert_same(fast, model)


@pytest.mark.parametrize(
    ("event_id", "accepted"),
    [("x:1", True), ("ab:b\n", True), ("zz:é", True), ("a:\nb", False), ("X:1", False), (":1", False), ("x:", False)],
)
def test_event_ids_follow_the_pattern_of_the_model(event_id: str, accepted: bool) -> None:
    value = _value([_one(event_id=event_id)], ascii_only=False)
    assert (_fast(value) is not None, _pydantic(value) is not None) == (accepted, accepted)


def test_rows_and_dead_letter_dicts_are_the_pydantic_ones() -> None:
    raw = _one(created_at="2026-11-02T10:00:00.5+08:00", text="Bila?\n😀", links=["https://a.gov.my"])
    value = _value([raw], ascii_only=True)
    fast, model = _fast(value), _pydantic(value)
    assert isinstance(fast, FastInteraction)
    assert model is not None
    assert event_json(fast).endswith(b"}")  # the worker appends kafka_partition in place of the closing brace
    assert orjson.loads(event_json(fast)) == orjson.loads(model.model_dump_json())
    assert (
        event_dict(fast)["created_at"] == "2026-11-02T02:00:00.500000Z" == model.model_dump(mode="json")["created_at"]
    )


@pytest.mark.parametrize("kind", ["post", "comment", "reply", "reaction", "edit", "remove"])
def test_event_dict_gives_the_pydantic_dump_key_for_key_in_its_order(kind: str) -> None:
    # A dead letter's id hashes its raw text: the same event must give the same text whichever path decoded it.
    event = make_event(kind, **({"author_id": "ps1:" + "a" * 32} if kind in ("comment", "reaction") else {}))
    [fast] = decode_record(encode_batch([event])).events
    assert type(fast).__module__ == "schemas.fastdecode"
    assert list(event_dict(fast).items()) == list(event.model_dump(mode="json").items())
