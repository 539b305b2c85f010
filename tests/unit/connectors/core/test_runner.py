"""poll(): pages with their cursors, the platform's waits, back-off, a broker that refuses, account errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Page, Parsed, PollingSource, Rejected
from connectors.core.errors import AccountError, PublishError, Retry
from connectors.core.metrics import ConnectorMetrics
from connectors.core.publisher import PageMark, Publisher
from connectors.core.runner import LockedPublisher, poll
from connectors.core.testing import FakeClock, ListRecordSink
from schemas.privacy import Pseudonymizer
from schemas.records import decode_batch, decode_record
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.events import EventFactory

Step = Page | Retry | AccountError


class Scripted(PollingSource[dict[str, int]]):
    """A source that serves scripted pages; its cursor is the number of pages served."""

    source = "poll:test"

    def __init__(self, steps: list[Step]) -> None:
        super().__init__(interval_seconds=60)
        self.steps, self.position, self.calls = steps, 0, 0

    def next_page(self) -> Page:
        self.calls += 1
        step = self.steps[self.position]
        if isinstance(step, Exception):
            if isinstance(step, Retry):
                self.position += 1
            raise step
        self.position += 1
        return step

    def snapshot(self) -> dict[str, int]:
        return {"position": self.position}

    def resume(self, state: dict[str, int]) -> None:
        self.position = state["position"]


class FlakySink:
    """A page publisher that refuses the first ``failures`` pages, then records them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.pages = failures, []  # type: ignore[var-annotated]

    def publish_page(self, items: Sequence[Parsed], mark: PageMark) -> int:
        if self.failures:
            self.failures -= 1
            msg = "1 record(s) not acknowledged by Kafka (test); retry"
            raise PublishError(msg, failed=1)
        self.pages.append((list(items), mark))
        return sum(not isinstance(i, Rejected) for i in items)


def _run(source: Scripted, sink: Any, *, follow: bool = False, clock: FakeClock | None = None) -> int:
    return poll(
        source, sink, threading.Event(), account="x:1", follow=follow, clock=clock or FakeClock(),
        metrics=ConnectorMetrics(), backoff=Backoff(rng=__import__("random").Random(1)),
    )  # fmt: skip


def test_each_page_goes_with_the_cursor_after_it_until_caught_up(event_factory: EventFactory) -> None:
    e1, e2 = event_factory("comment"), event_factory("comment")
    source = Scripted([Page([e1], more=True), Page([e2, Rejected("bad item 3", {})]), Page([])])
    sink = FlakySink()
    assert _run(source, sink) == 2
    assert [(len(items), mark.state) for items, mark in sink.pages] == [(1, {"position": 1}), (2, {"position": 2})]
    assert source.calls == 2  # caught up after the page without `more`: no follow


def test_the_platform_s_wait_is_obeyed_on_the_clock() -> None:
    clock = FakeClock()
    start = clock.now()
    source = Scripted([Retry(after=900, reason="429"), Page([])])
    _run(source, FlakySink(), clock=clock)
    assert clock.now() - start == timedelta(seconds=900)


def test_a_refused_page_is_fetched_again_and_published_once(event_factory: EventFactory) -> None:
    e1 = event_factory("comment")
    source = Scripted([Page([e1]), Page([e1])])  # the same page again after the rewind
    sink = FlakySink(failures=1)
    assert _run(source, sink) == 1
    assert source.calls == 2
    assert [mark.state for _, mark in sink.pages] == [{"position": 1}]


def test_an_account_error_ends_the_run() -> None:
    with pytest.raises(AccountError, match="token"):
        _run(Scripted([AccountError("1", "Error validating access token (code 190)")]), FlakySink())


def test_an_empty_page_that_moves_nothing_sends_no_cursor_but_a_moved_one_does(event_factory: EventFactory) -> None:
    source = Scripted([Page([]), Page([])])
    sink = FlakySink()
    _run(source, sink)
    assert [mark.state for _, mark in sink.pages] == [{"position": 1}]


def test_publish_page_splits_a_page_into_records_each_with_its_cursor_part(event_factory: EventFactory) -> None:
    records = ListRecordSink()
    publisher = Publisher(
        records, pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=3, source="poll:test", max_batch=2
    )
    events = [event_factory("comment", root_id=f"r{n % 4}", author_id=f"ps1:{'a' * 32}") for n in range(9)]
    clock = FakeClock()
    sent = LockedPublisher(publisher).publish_page(
        [*events, Rejected("item 9: no id", {"x": 1})], PageMark("poll:test", "x:1", {"after": "abc"}, clock.now())
    )
    assert sent == 9
    batches = records.on(EVENTS.name)
    marks = [decode_record(r.value).cursor for r in batches]
    assert all(m is not None for m in marks)
    assert sorted(m.part for m in marks if m) == list(range(len(batches)))
    assert {(m.parts, m.seq, m.state) for m in marks if m} == {(len(batches), marks[0].seq, '{"after":"abc"}')}  # type: ignore[union-attr]
    stored = [e.event_id for r in batches for e in decode_batch(r.value)[0]]
    assert sorted(stored) == sorted(e.event_id for e in events)
    assert len(records.on(DEAD_LETTER.name)) == 1
    # A page without events still moves the cursor: one record with the cursor alone.
    publisher.publish_page([], PageMark("poll:test", "x:1", {"after": "def"}, clock.now()))
    last = records.on(EVENTS.name)[-1]
    assert orjson.loads(last.value)["events"] == []
    mark = decode_record(last.value).cursor
    assert mark is not None
    assert mark.state == '{"after":"def"}'
