"""Retry until it works, with exponential back-off: how the worker holds a batch through an outage.

The worker never drops a batch: a ClickHouse insert or a dead letter that fails is retried until it
succeeds, while the batch's offsets stay unhandled (so nothing is committed past it). The schedule is
pure (:func:`backoff_delays`); :func:`retry_forever` waits through an injected ``sleep``, so tests run
it without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar, TypeVarTuple

from schemas.privacy import Pseudonymizer

__all__ = ["Failing", "backoff_delays", "retry_forever"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Failing:
    """What is being retried right now, since when and why: the stack's health reports it.

    A worker that holds a batch through a ClickHouse outage is alive but stores nothing; ``/health`` says so
    instead of "ok". Thread-safe enough for its use: written on the event loop, read by the API's threads
    (one dict assignment or deletion at a time).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._now: dict[str, tuple[float, str]] = {}

    def failed(self, what: str, reason: str) -> None:
        """``what`` failed (again); keep when it started failing."""
        since = self._now.get(what, (self._clock(), ""))[0]
        self._now[what] = (since, reason)

    def recovered(self, what: str) -> None:
        """``what`` worked."""
        self._now.pop(what, None)

    def snapshot(self) -> dict[str, dict[str, object]]:
        """``{what: {"since": epoch seconds, "reason": masked reason}}`` of everything failing now."""
        return {what: {"since": since, "reason": reason} for what, (since, reason) in dict(self._now).items()}


def backoff_delays(first_s: float = 0.5, factor: float = 2.0, max_s: float = 30.0) -> Iterator[float]:
    """Endless delays in seconds: ``first_s``, then multiplied by ``factor`` each time, capped at ``max_s``.

    >>> from itertools import islice
    >>> list(islice(backoff_delays(), 8))
    [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    """
    delay = min(first_s, max_s)
    while True:
        yield delay
        delay = min(delay * factor, max_s)


async def retry_forever(
    func: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
    what: str,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    failing: Failing | None = None,
) -> T:
    """Await ``func(*args)`` until it returns; after each failure, log that ``what`` failed and back off.

    Args:
        func: an async function, called afresh for every try; for blocking work pass
            ``asyncio.to_thread`` and the blocking function as the first argument.
        args: its arguments, bound now (a closure could see a loop variable change between tries).
        what: what is tried, for the log, e.g. ``"ClickHouse insert of dead letters"``.
        sleep: how to wait (default :func:`asyncio.sleep`); tests record the delays instead.
        failing: where to say that ``what`` is failing, and that it recovered (default: nowhere).

    The waits follow :func:`backoff_delays` (0.5 s doubling to 30 s). Only :class:`Exception` is
    retried: cancellation (a stopping worker) ends the loop at once.

    Example: ``await retry_forever(asyncio.to_thread, store.insert, table, columns, rows, what="insert")``.
    """
    waits = backoff_delays()
    while True:
        try:
            result = await func(*args)
        except Exception as exc:
            delay = next(waits)
            # A ClickHouse error may quote the rows it refused (citizen text): log the reason masked, no traceback.
            reason = Pseudonymizer.mask_text(str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "")
            log.error("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, reason, delay)
            if failing is not None:
                failing.failed(what, f"{type(exc).__name__}: {reason}")
            await sleep(delay)
        else:
            if failing is not None:
                failing.recovered(what)
            return result
