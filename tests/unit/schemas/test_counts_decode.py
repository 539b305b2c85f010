"""The detector's read path (schemas.counts.decode_count_batch) against the pydantic CountBatch: same verdicts, values.

Properties, on valid batches and on mutated ones (wrong types, lax spellings, bad and odd times, missing and extra
fields, bad enums, negative and huge counts, strings at their length limits):

- a value decode_count_batch accepts, pydantic accepts, with equal fields (times: the same instant and offset);
- a value pydantic refuses, decode_count_batch refuses (with pydantic's error);
- what the worker itself writes (pipeline.stream.surge_agents.count_batches) takes the msgspec path.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.domain.surge import CountRecord
from pipeline.domain.tally import CountDrain
from pipeline.stream.surge_agents import count_batches
from schemas.counts import CountBatch, CountBatchView, MinuteCountView, decode_count_batch
from schemas.events import Platform

EXAMPLES = int(os.environ.get("SERAMBI_FUZZ_EXAMPLES", "400"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)

_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_times = st.one_of(
    st.datetimes(timezones=_offsets).map(datetime.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.datetimes().map(datetime.isoformat),  # naive: refused
    st.tuples(
        st.sampled_from(["2026-11-02", "2026-02-30", "0001-01-01", "9999-12-31", "20261102"]),
        st.sampled_from(["T", "t", " ", "_"]),
        st.sampled_from(["08:30:15", "08:30", "24:00:00", "23:59:60", "083015"]),
        st.sampled_from(["", ".5", ".123456", ".1234567", ",5"]),
        st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+08:00", "+0800", "+08", "+24:00"]),
    ).map("".join),
    st.integers(-(10**11), 10**11),  # epoch seconds: pydantic's lax mode only
)
_texts = st.one_of(st.text(max_size=8), st.text(st.characters(codec="utf-8"), max_size=8), st.just("a\\u0030"))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _texts)
_counts = st.one_of(
    st.integers(0, 10**6),
    st.sampled_from([-1, 2**63 - 1, 2**63, 2**64, 10**30, "1", "x", 1.0, 1.5, True, None]),
)


@st.composite
def _count(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "agency": draw(st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(["", "a" * 64, "a" * 65]))),
        "platform": draw(st.one_of(st.sampled_from([p.value for p in Platform]), st.sampled_from(["all", "X", ""]))),
        "minute": draw(_times),
    }
    optional = {
        "arrivals": draw(_counts),
        "answered": draw(_counts),
        "backlog": draw(_counts),
        "oldest_unanswered_at": draw(st.none() | _times),
        "example_ids": draw(
            st.one_of(
                st.lists(_texts, max_size=3),
                st.sampled_from([["x"] * 4, ["y" * 512], ["y" * 513], "abc", [1]]),
            )
        ),
    }
    raw |= {key: value for key, value in optional.items() if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        raw[draw(st.sampled_from(["extra", *sorted(raw)]))] = draw(_scalars)  # an extra field or a wrong type
    if draw(st.integers(0, 9)) == 0:
        raw.pop(draw(st.sampled_from(sorted(raw))))
    return raw


@st.composite
def _batch(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "source": draw(st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(["", "w" * 200, "w" * 201]))),
        "watermark": draw(st.none() | _times),
        "sent_at": draw(_times),
    }
    if draw(st.booleans()):
        raw["counts"] = draw(st.lists(_count(), max_size=3))
    if draw(st.integers(0, 9)) == 0:
        raw[draw(st.sampled_from(["extra", *sorted(raw)]))] = draw(_scalars)
    if draw(st.integers(0, 9)) == 0:
        raw.pop(draw(st.sampled_from(sorted(raw))))
    return raw


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b and a.utcoffset() == b.utcoffset()


def _same_count(fast: MinuteCountView, model: MinuteCountView) -> bool:
    return (
        (fast.agency, fast.platform, fast.arrivals, fast.answered, fast.backlog, fast.example_ids)
        == (model.agency, model.platform, model.arrivals, model.answered, model.backlog, model.example_ids)
        and _same_time(fast.minute, model.minute)
        and _same_time(fast.oldest_unanswered_at, model.oldest_unanswered_at)
    )


def _same(fast: CountBatchView, model: CountBatch) -> bool:
    return (
        fast.source == model.source
        and _same_time(fast.watermark, model.watermark)
        and _same_time(fast.sent_at, model.sent_at)
        and len(fast.counts) == len(model.counts)
        and all(_same_count(a, b) for a, b in zip(fast.counts, model.counts, strict=True))
    )


@PROPERTY
@given(_batch())
def test_the_fast_read_accepts_what_pydantic_accepts_with_equal_values_refuses_the_rest(raw: dict[str, Any]) -> None:
    value = json.dumps(raw).encode()  # the json module: integers past 64 bits too
    try:
        model = CountBatch.model_validate_json(value)
    except ValidationError:
        with pytest.raises(ValidationError):
            decode_count_batch(value)
        return
    assert _same(decode_count_batch(value), model)


def test_what_the_worker_writes_takes_the_msgspec_path_with_the_models_values() -> None:
    records = [
        CountRecord("jpj", "facebook", "w1", T0 + timedelta(minutes=i), 3, 1, 7, T0, ("facebook:psm1:ab",))
        for i in range(3)
    ]
    [value] = count_batches("w1", CountDrain(records, T0 + timedelta(minutes=3)), T0, previous_watermark=None)
    fast = decode_count_batch(value)
    assert not isinstance(fast, CountBatch)  # the twin, not the pydantic model
    assert _same(fast, CountBatch.model_validate_json(value))


def test_a_lax_spelling_is_read_by_pydantic() -> None:
    raw: dict[str, Any] = {"source": "w1", "watermark": None, "sent_at": "2026-11-02T08:30:00Z"}
    raw["counts"] = [{"agency": "jpj", "platform": "x", "minute": "2026-11-02T08:30:00Z", "arrivals": "2"}]
    batch = decode_count_batch(orjson.dumps(raw))
    assert isinstance(batch, CountBatch)
    assert batch.counts[0].arrivals == 2
