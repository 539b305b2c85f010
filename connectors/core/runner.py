"""Running polling and streaming connectors: pages, waits, cursors and metrics, one account at a time.

:func:`poll` drives one :class:`PollingSource` and :func:`follow_stream` one :class:`StreamSource`. Each page
goes to :meth:`Publisher.publish_page` with the cursor after it, so the worker stores the cursor with the page's
events (exactly-once resumption: see :mod:`pipeline.storage.sql.cursors`). The platform's waits (``Retry``) are
obeyed; a network failure or a dropped stream is retried with back-off; a broker that does not acknowledge a page
rewinds the connector to before it (the page is fetched and published again, which upserts); an
:class:`AccountError` ends that account's run only. Waits use the injected clock and end at once on ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import Page, Parsed, PollingSource, StreamSource
from connectors.core.errors import AccountError, PublishError, Retry, Unreachable
from connectors.core.metrics import ConnectorMetrics
from connectors.core.publisher import PageMark

__all__ = ["LockedPublisher", "PagePublisher", "follow_stream", "poll"]

log = logging.getLogger(__name__)


class PagePublisher(Protocol):
    """Where pages go: :class:`connectors.core.publisher.Publisher` (behind a :class:`LockedPublisher`)."""

    def publish_page(self, items: Sequence[Parsed], mark: PageMark) -> int:
        """Publish a page and its cursor, wait for Kafka; return the events accepted (``PublishError`` if not)."""


class LockedPublisher:
    """One publisher shared by several account threads: a page at a time (a Publisher is not thread-safe)."""

    def __init__(self, publisher: PagePublisher) -> None:
        self._publisher = publisher
        self._lock = threading.Lock()

    def publish_page(self, items: Sequence[Parsed], mark: PageMark) -> int:
        """Publish ``items`` with ``mark`` while holding the lock."""
        with self._lock:
            return self._publisher.publish_page(items, mark)


def poll(  # noqa: PLR0913 - one account's whole run, keyword-only
    source: PollingSource[Any],
    sink: PagePublisher,
    stop: threading.Event,
    *,
    account: str,
    follow: bool,
    clock: Clock = SYSTEM_CLOCK,
    metrics: ConnectorMetrics | None = None,
    backoff: Backoff | None = None,
) -> int:
    """Poll ``source`` for ``account`` until caught up (``follow``: until ``stop``); return the events published.

    Raises :class:`AccountError` when the account cannot be read.
    """
    metrics = metrics or ConnectorMetrics()
    backoff = backoff or Backoff()
    name = str(getattr(source, "source", type(source).__name__))
    last_state: Any = object()
    published = 0
    while not stop.is_set():
        before = source.snapshot()
        try:
            page = source.next_page()
        except Retry as exc:
            _wait(metrics, name, "rate_limited", exc, clock, stop)
            continue
        except AccountError:
            metrics.requests.labels(name, "account_error").inc()
            raise
        metrics.requests.labels(name, "page").inc()
        state = source.snapshot()
        if page.items or state != last_state:  # an empty page that moved nothing needs no cursor
            try:
                published += sink.publish_page(page.items, PageMark(name, account, state, clock.now()))
            except PublishError as exc:
                source.resume(before)  # fetched again once Kafka is back
                _wait(metrics, name, "retry", Retry(backoff.next(), f"Kafka: {exc}"), clock, stop)
                continue
            last_state = state
            metrics.cursor_timestamp.labels(name, account).set(clock.now().timestamp())
        backoff.reset()
        _observe(metrics, name, account, page, source, clock)
        if not page.more:
            if not follow:
                break
            clock.sleep(source.interval_seconds, stop)
    return published


async def follow_stream(  # noqa: PLR0913 - one stream's whole run, keyword-only
    source: StreamSource[Any],
    sink: PagePublisher,
    stop: threading.Event,
    *,
    account: str,
    clock: Clock = SYSTEM_CLOCK,
    metrics: ConnectorMetrics | None = None,
    backoff: Backoff | None = None,
) -> int:
    """Read ``source`` until ``stop``, reconnecting with back-off and resuming from its cursor; return events published.

    Raises :class:`AccountError` when the stream's credentials are refused.
    """
    metrics = metrics or ConnectorMetrics()
    backoff = backoff or Backoff()
    name = str(getattr(source, "source", type(source).__name__))
    published = 0
    acked = source.snapshot()
    while not stop.is_set():
        try:
            pages = source.pages()
            try:
                async for page in pages:
                    metrics.requests.labels(name, "page").inc()
                    mark = PageMark(name, account, source.snapshot(), clock.now())
                    published += await asyncio.to_thread(sink.publish_page, page.items, mark)
                    acked = mark.state
                    metrics.cursor_timestamp.labels(name, account).set(clock.now().timestamp())
                    backoff.reset()
                    _observe(metrics, name, account, page, source, clock)
                    if stop.is_set():
                        break
            finally:  # close the connection now, not when the generator is collected
                close = getattr(pages, "aclose", None)
                if close is not None:
                    await close()
            wait = Retry(backoff.next(), "the stream ended; reconnecting")
        except AccountError:
            metrics.requests.labels(name, "account_error").inc()
            raise
        except Retry as exc:
            wait = exc
        except (Unreachable, PublishError, OSError, TimeoutError) as exc:
            wait = Retry(backoff.next(), f"{type(exc).__name__}: {exc}")
        # Reconnect from the last page Kafka acknowledged: a page the sink refused is read again.
        source.resume(acked)
        if not stop.is_set():
            await asyncio.to_thread(_wait, metrics, name, "retry", wait, clock, stop)
    return published


def _wait(  # noqa: PLR0913 - the wait's whole context
    metrics: ConnectorMetrics, name: str, outcome: str, retry: Retry, clock: Clock, stop: threading.Event
) -> None:
    metrics.requests.labels(name, outcome).inc()
    metrics.rate_limit_wait_seconds.labels(name).inc(max(retry.after_seconds, 0.0))
    log.warning("%s: %s", name, retry)
    clock.sleep(retry.after_seconds, stop)


def _observe(  # noqa: PLR0913 - what one page says about its account
    metrics: ConnectorMetrics, name: str, account: str, page: Page, source: object, clock: Clock
) -> None:
    if page.newest is not None:
        metrics.lag_seconds.labels(name, account).set(max((clock.now() - page.newest).total_seconds(), 0.0))
    quota = getattr(source, "quota_remaining", None)
    if isinstance(quota, int | float):
        metrics.quota_remaining.labels(name, account).set(quota)
