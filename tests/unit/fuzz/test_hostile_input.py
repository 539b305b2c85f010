"""Fuzzing the decoders and file parsers with hostile input: no exception may escape (issue 7, item 5).

Every input must come out as valid events or as failures (dead letters, :class:`Rejected`) with a reason:
dates near year 1 or 9999 with any offset, numbers where times belong, integers past 64 bits, odd strings,
wrong types anywhere in an event. The normal suite runs 300 examples per test; run 10,000 with::

    SERAMBI_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/unit/fuzz -q
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from connectors.core.contracts import Rejected
from connectors.files.jsonl import parse_jsonl
from connectors.files.twcs import parse_twcs
from pipeline.metrics import Metrics
from pipeline.stream.decode import Record, decode
from pipeline.stream.processor import Processor
from schemas.agency import Directory
from schemas.errors import RecordError
from schemas.events import Event
from schemas.fastdecode import HotEvent
from schemas.records import BATCH_FORMAT, decode_batch
from schemas.timeutil import EARLIEST_EVENT, LATEST_EVENT
from tests.helpers.events import T0, make_event
from tests.helpers.fakes import DirectoryAgencies, FakeClock, ListHistory, ListInserter

EXAMPLES = int(os.environ.get("SERAMBI_FUZZ_EXAMPLES", "300"))
# The directory fixture is read-only, so sharing it between examples is safe.
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
PSEUDONYM = "ps1:" + "f" * 32

_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_instants = st.datetimes(timezones=_offsets)  # any year 1..9999, any offset: the overflow edges included
_edges = st.sampled_from(
    [
        datetime.max.replace(tzinfo=timezone(-timedelta(hours=1))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
        EARLIEST_EVENT - timedelta(microseconds=1),
        LATEST_EVENT,
        datetime(2099, 12, 31, 23, 30, tzinfo=timezone(-timedelta(hours=1))),
    ]
)
_iso = st.one_of(_instants, _edges).map(datetime.isoformat)
_twitter = st.one_of(_instants, _edges).map(lambda d: d.strftime("%a %b %d %H:%M:%S %z ") + f"{d.year:04d}")
_huge = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**65, -(2**64), 10**30, -1])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _huge,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    _iso,
    _twitter,
)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
_FIELDS = ["created_at", "count", "event_id", "platform", "type", "kind", "author_role", "root_id", "links", "mode"]


@st.composite
def _raw_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event's JSON with some fields made hostile (or removed)."""
    kind = draw(st.sampled_from(["post", "comment", "reply", "reaction"]))
    author = {} if kind in {"post", "reply"} else {"author_id": PSEUDONYM}
    raw: dict[str, Any] = make_event(kind, **author).model_dump(mode="json")
    for field in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        if field == "created_at":
            raw[field] = draw(st.one_of(_iso, _twitter, _scalars))
        elif draw(st.booleans()):
            raw[field] = draw(st.one_of(_huge, _json))
        else:
            raw.pop(field, None)
    return raw


def _dumps(value: Any) -> bytes:
    # The standard library writes integers of any size (orjson stops at 64 bits): hostile producers do too.
    return json.dumps(value).encode()


_batches = st.lists(_raw_events(), min_size=1, max_size=5).map(lambda evs: {"format": BATCH_FORMAT, "events": evs})
_values = st.one_of(_batches.map(_dumps), _json.map(_dumps), st.binary(max_size=40))


def _in_range(event: Event | HotEvent) -> bool:
    return event.created_at.utcoffset() == timedelta(0) and EARLIEST_EVENT <= event.created_at < LATEST_EVENT


@FUZZ
@given(value=_values)
def test_decode_batch_returns_events_or_failures(value: bytes) -> None:
    try:
        events, bad = decode_batch(value)
    except RecordError:
        return  # the record as a whole is unreadable: decode() dead-letters it
    assert all(_in_range(e) for e in events)
    assert all(f.reason for f in bad)


@FUZZ
@given(values=st.lists(_values, min_size=1, max_size=4))
def test_decode_never_raises(values: list[bytes]) -> None:
    records = [Record(n % 2, n, value) for n, value in enumerate(values)]
    decoded = decode(records, ceiling=T0 + timedelta(days=1), is_agency_account=lambda platform, account: False)
    assert all(_in_range(e) for e in decoded.interactions)
    assert all(f.reason for f in decoded.failures)
    assert all(b"\n" not in line for lines in decoded.rows.values() for line in lines)  # one JSONEachRow line each


@FUZZ
@given(batches=st.lists(_batches, min_size=1, max_size=4))
def test_the_processor_prepares_any_batch(batches: list[dict[str, Any]], tiny_directory: Directory) -> None:
    # Matching and business time see every valid event: they must not raise either.
    inserter = ListInserter()
    agencies = DirectoryAgencies(tiny_directory)
    processor = Processor(inserter, Metrics(CollectorRegistry()), agencies, ListHistory(), clock=FakeClock(T0))
    prepared = processor.prepare([Record(0, n, _dumps(batch)) for n, batch in enumerate(batches)])
    processor.commit(prepared)
    events = sum(len(batch["events"]) for batch in batches)
    stored = sum(len(rows) for table, rows in inserter.rows.items() if table != "response_facts")
    matching = sum(1 for f in prepared.failures if f.source == "worker:matcher")
    assert stored + len(prepared.failures) - matching == events  # every event is stored or dead-lettered


@FUZZ
@given(lines=st.lists(st.one_of(_raw_events().map(_dumps), _json.map(_dumps), st.binary(max_size=40)), max_size=6))
def test_parse_jsonl_yields_events_or_rejected(lines: list[bytes]) -> None:
    for parsed in parse_jsonl(line.replace(b"\n", b" ") + b"\n" for line in lines):
        assert isinstance(parsed, Rejected) or _in_range(parsed)
        assert not isinstance(parsed, Rejected) or parsed.reason.startswith("line ")


_cells = st.one_of(st.text(max_size=12), _huge.map(str), st.integers(0, 9).map(str))


@st.composite
def _twcs_rows(draw: st.DrawFn) -> dict[str, str]:
    tweet_id = draw(st.integers(1, 8))
    return {
        "tweet_id": str(tweet_id),
        "author_id": draw(st.sampled_from(["55", "56", "Co", "Other"])),
        "inbound": draw(st.sampled_from(["True", "False", "maybe"])),
        "created_at": draw(st.one_of(_twitter, _iso, _cells)),
        "text": draw(st.one_of(st.just("@Co hi"), _cells)),
        "response_tweet_id": draw(st.one_of(st.integers(1, 8).map(str), _cells)),
        "in_response_to_tweet_id": draw(st.one_of(st.integers(1, 8).map(str), _cells)),
    }


@FUZZ
@given(rows=st.lists(_twcs_rows(), max_size=8))
def test_parse_twcs_returns_events_or_invalid_rows(rows: list[dict[str, str]]) -> None:
    result = parse_twcs(rows)
    assert all(_in_range(e) for e in result.events)
    assert len(result.events) + result.skipped + len(result.invalid) == len(rows)  # each row accounted for once
