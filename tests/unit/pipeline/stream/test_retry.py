"""The worker's back-off: a pure schedule, and retry_forever with an injected sleep (no real waiting)."""

from __future__ import annotations

import asyncio
import logging
from itertools import islice

import pytest

from pipeline.stream.retry import backoff_delays, retry_forever


class Flaky:
    """Fails ``failures`` times, then returns what it was called with."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[object, ...]] = []

    async def __call__(self, *args: object) -> tuple[object, ...]:
        self.calls.append(args)
        if len(self.calls) <= self.failures:
            msg = "ClickHouse is down"
            raise ConnectionError(msg)
        return args


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_delays_double_from_half_a_second_up_to_thirty() -> None:
    assert list(islice(backoff_delays(), 8)) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert list(islice(backoff_delays(first_s=1.0, factor=3.0, max_s=5.0), 4)) == [1.0, 3.0, 5.0, 5.0]


def test_retries_until_it_works_with_the_same_arguments(caplog: pytest.LogCaptureFixture) -> None:
    flaky, sleeps = Flaky(failures=3), Sleeps()
    with caplog.at_level(logging.ERROR, logger="pipeline.stream.retry"):
        result = asyncio.run(retry_forever(flaky, "interactions", 42, what="ClickHouse insert", sleep=sleeps))
    assert result == ("interactions", 42)
    assert flaky.calls == [("interactions", 42)] * 4
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert [r.getMessage() for r in caplog.records] == [
        "ClickHouse insert failed (ConnectionError: ClickHouse is down); retrying in 0.5 s",
        "ClickHouse insert failed (ConnectionError: ClickHouse is down); retrying in 1.0 s",
        "ClickHouse insert failed (ConnectionError: ClickHouse is down); retrying in 2.0 s",
    ]


def test_a_refused_row_quoted_in_the_error_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    # ClickHouse errors may quote the rows they refused: a citizen's text or id must not reach the log.
    calls: list[int] = []

    async def refuses_then_works() -> str:
        calls.append(1)
        if len(calls) == 1:
            msg = 'Cannot parse input: {"author_id":"7012345678901234","text":"tolong @aisyah_r"}'
            raise ValueError(msg)
        return "stored"

    with caplog.at_level(logging.DEBUG, logger="pipeline.stream.retry"):
        assert asyncio.run(retry_forever(refuses_then_works, what="insert", sleep=Sleeps())) == "stored"
    logged = caplog.text
    assert "insert failed (ValueError" in logged
    assert "7012345678901234" not in logged
    assert "aisyah_r" not in logged


def test_success_at_once_never_sleeps() -> None:
    sleeps = Sleeps()
    assert asyncio.run(retry_forever(Flaky(failures=0), "x", what="anything", sleep=sleeps)) == ("x",)
    assert sleeps.delays == []


def test_blocking_work_runs_in_a_thread() -> None:
    def blocking(a: int, b: int) -> int:
        return a + b

    assert asyncio.run(retry_forever(asyncio.to_thread, blocking, 2, 3, what="sum", sleep=Sleeps())) == 5


def test_cancellation_is_not_retried() -> None:
    sleeps = Sleeps()

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(retry_forever(cancelled, what="stopping", sleep=sleeps))
    assert sleeps.delays == []


def test_failing_says_what_is_retried_since_when_and_forgets_it_once_it_works() -> None:
    from pipeline.stream.retry import Failing

    clock = iter([100.0, 101.0, 102.0])
    failing = Failing(clock=lambda: next(clock))
    seen: list[dict[str, dict[str, object]]] = []

    class Watching(Sleeps):
        async def __call__(self, seconds: float) -> None:
            seen.append(failing.snapshot())
            await super().__call__(seconds)

    result = asyncio.run(retry_forever(Flaky(failures=2), "x", what="insert", sleep=Watching(), failing=failing))
    assert result == ("x",)
    assert seen == [
        {"insert": {"since": 100.0, "reason": "ConnectionError: ClickHouse is down"}},
        {"insert": {"since": 100.0, "reason": "ConnectionError: ClickHouse is down"}},
    ]
    assert failing.snapshot() == {}
