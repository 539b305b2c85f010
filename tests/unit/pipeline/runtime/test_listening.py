"""The listening job without ClickHouse: computation times, one insert per round, its own reader, unchanged lists
not stored again, a failing agency skipped, the loop survives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from pipeline.domain.topics import terms
from pipeline.errors import StoreError
from pipeline.runtime.listening import RESTATE_AFTER, ListeningJob, listening
from pipeline.storage.query import Parameters, QueryResult
from pipeline.storage.topic_lists import COLUMNS
from tests.helpers.fakes import FakeClock

T = datetime(2026, 11, 20, 8, 7, 30, tzinfo=UTC)
FLOOD = "Banjir di Klang, paras air naik"
ROADS = "Jalan rosak di Taman Melati"


class FakeStore:
    """Answers the topic texts query with a flood in the window and roads before; ``broken`` agencies raise."""

    __test__ = False
    database = "db"

    def __init__(self, broken: Sequence[str] = (), *, reads: bool = True) -> None:
        self.broken = set(broken)
        self.reads = reads
        self.inserts: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = []
        self.ends: list[datetime] = []
        self.fail_inserts = False

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        assert read_only
        assert self.reads, "the job read through the store, not its own reader"
        assert parameters is not None
        agency = parameters["agency"]
        if agency in self.broken:
            msg = "Code: 241. Memory limit exceeded"
            raise StoreError(msg)
        self.ends.append(parameters["until"])
        window = [(agency, "window", FLOOD, 1, 1)] * 4 + [(agency, "window", ROADS, 0, 1)]
        history = [(agency, "history", ROADS, 0, 1)] * 8 + [(agency, "previous", ROADS, 0, 1)] * 2
        return QueryResult(("agency_id", "period", "text", "unanswered", "needs_reply"), [*window, *history])

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.fail_inserts:
            msg = "Code: 210. Connection refused"
            raise StoreError(msg)
        self.inserts.append((table, tuple(columns), [tuple(row) for row in rows]))


def _job(store: FakeStore, agencies: Sequence[str] = ("a", "b"), **kwargs: Any) -> ListeningJob:
    return ListeningJob(store, timedelta(minutes=5), clock=FakeClock(T), agencies=lambda: agencies, **kwargs)


def test_a_round_stamps_its_lists_with_when_they_were_computed_and_inserts_once() -> None:
    store = FakeStore()
    stats = _job(store).refresh()
    assert (stats.started, stats.agencies, stats.failed, stats.unchanged) == (T, 2, (), 0)
    assert set(store.ends) == {T}  # the lists end when computed: no slot shared by two computations
    [(table, columns, rows)] = store.inserts
    assert (table, columns) == ("citizen_topics", COLUMNS)
    assert stats.rows == len(rows)
    by_key = {(r[0], r[1], r[3]): dict(zip(COLUMNS, r, strict=True)) for r in rows}
    assert by_key["a", "week", 0]["count"] == 5  # the totals: the window's messages
    assert by_key["a", "rising", 0]["count"] == 4  # only the unanswered ones
    top = by_key["a", "rising", 1]
    rising = [r["term"] for r in by_key.values() if r["list"] == "rising" and r["agency_id"] == "a" and r["rank"]]
    assert top["term"] in terms(FLOOD)
    assert set(rising) <= terms(FLOOD)  # the roads were asked about as often before: they did not rise
    assert (top["count"], top["unanswered"], top["rise"]) == (4, 4, 4)
    assert {row["computed_at"] for row in by_key.values()} == {T}


def test_the_texts_are_read_through_the_jobs_own_reader() -> None:
    store, reader = FakeStore(reads=False), FakeStore()
    stats = _job(store, reader=reader).refresh()
    assert (stats.agencies, stats.failed) == (2, ())
    assert len(reader.ends) == 4  # two lists of two agencies, none through the store's shared session
    assert store.inserts


def test_an_unchanged_computation_is_not_stored_again_until_it_is_restated() -> None:
    store = FakeStore()
    job = _job(store)
    first = job.refresh()
    assert isinstance(job.clock, FakeClock)
    job.clock.advance(timedelta(minutes=15))
    again = job.refresh()
    assert (again.rows, again.unchanged, again.agencies) == (0, 2, 2)
    assert store.inserts[1][2] == []
    job.clock.advance(RESTATE_AFTER)
    restated = job.refresh()
    assert (restated.rows, restated.unchanged) == (first.rows, 0)
    assert {row[COLUMNS.index("computed_at")] for row in store.inserts[2][2]} == {
        T + timedelta(minutes=15) + RESTATE_AFTER
    }


def test_a_failed_insert_is_retried_in_full_next_round() -> None:
    store = FakeStore()
    store.fail_inserts = True
    job = _job(store)
    with pytest.raises(StoreError):
        job.refresh()
    store.fail_inserts = False
    assert job.refresh().rows > 0


def test_a_failing_agency_is_logged_and_skipped_and_the_others_are_stored(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore(broken=["a"])
    job = _job(store, ("a", "b", "c"))
    with caplog.at_level(logging.INFO, "pipeline.runtime.listening"):
        stats = job.refresh()
    assert (stats.agencies, stats.failed, job.failures) == (2, ("a",), 1)
    assert {row[0] for row in store.inserts[0][2]} == {"b", "c"}
    assert "computing the topic lists of a failed" in caplog.text
    assert "no topic lists for 1 agencies this round: a" in caplog.text


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_the_loop_survives_a_failed_round_and_only_the_leader_computes() -> None:
    store = FakeStore()
    store.fail_inserts = True
    leading = {"now": False}
    asked: list[bool] = []

    def leader() -> bool:
        asked.append(leading["now"])
        return leading["now"]

    job = ListeningJob(store, timedelta(milliseconds=10), leader=leader, clock=FakeClock(T), agencies=lambda: ["a"])

    async def scenario() -> None:
        async with listening(job):
            await _until(lambda: len(asked) >= 2)
            assert (job.rounds, job.failures) == (0, 0)  # not the leader: nothing computed
            leading["now"] = True
            await _until(lambda: job.failures >= 2)  # failed rounds, and the loop goes on
            store.fail_inserts = False
            await _until(lambda: job.rounds >= 1)

    asyncio.run(scenario())
    assert store.inserts


def test_an_interval_of_zero_never_runs() -> None:
    store = FakeStore()
    job = ListeningJob(store, timedelta(0), clock=FakeClock(T), agencies=lambda: ["a"])

    async def scenario() -> None:
        async with listening(job):
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert (job.rounds, store.inserts) == (0, [])


def test_a_stop_gives_the_round_in_progress_up_at_the_next_agency() -> None:
    # The round runs in a thread that the stack's stop cannot cancel: it must not go on querying (its session
    # closes with the store) nor insert half a round.
    store = FakeStore()
    job = _job(store, agencies=("a", "b", "c"))
    asked: list[str] = []
    query = store.query

    def stop_after_first(sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        assert parameters is not None
        asked.append(str(parameters["agency"]))
        job.stop()
        return query(sql, parameters, read_only=read_only)

    store.query = stop_after_first  # type: ignore[method-assign]
    stats = job.refresh()
    assert set(asked) == {"a"}
    assert stats.agencies == 0
    assert store.inserts == []
