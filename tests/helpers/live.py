"""A stack running in a background thread, for tests that feed it many datasets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from schemas.agency import Directory

T = TypeVar("T")


class LiveStack:
    """``open_stack`` on its own event loop thread; ``publish`` then ``drain`` from the test thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stack: RunningStack | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-stack", daemon=True)

    @property
    def stack(self) -> RunningStack:
        assert self._stack is not None
        return self._stack

    def start(self) -> LiveStack:
        self._thread.start()
        self._ready.wait(timeout=120)
        if self._error is not None:
            raise self._error
        assert self._stack is not None, "stack did not start"
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            async with open_stack(self.settings, Metrics(CollectorRegistry()), lambda _: None) as stack:
                self._stack = stack
                self._ready.set()
                await stack.stop_requested.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def publish(self, directory: Directory, events: list[Any]) -> None:
        with kafka_publisher(
            self.settings,
            self.stack.bootstrap_servers,
            directory,
            self.stack.metrics,
            "test",
            epoch=self.stack.spool_epoch,
        ) as publisher:
            for event in events:
                publisher.publish(event)

    def drain(self) -> None:
        state = self.call(self.stack.wait_drained(timeout_s=90))
        assert state.drained, state.lag

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self.stack.stop_requested.set)
        self._thread.join(timeout=120)
