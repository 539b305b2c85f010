"""Retry until it works, with exponential back-off: how the worker holds a batch through an outage.

The worker never drops a batch: a ClickHouse insert or a dead letter that fails is retried until it
succeeds, while the batch's offsets stay unhandled (so nothing is committed past it). The schedule is
pure (:func:`backoff_delays`); :func:`retry_forever` waits through an injected ``sleep``, so tests run
it without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar, TypeVarTuple

from schemas.privacy import Pseudonymizer

__all__ = ["backoff_delays", "retry_forever"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


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
) -> T:
    """Await ``func(*args)`` until it returns; after each failure, log that ``what`` failed and back off.

    Args:
        func: an async function, called afresh for every try; for blocking work pass
            ``asyncio.to_thread`` and the blocking function as the first argument.
        args: its arguments, bound now (a closure could see a loop variable change between tries).
        what: what is tried, for the log, e.g. ``"ClickHouse insert of dead letters"``.
        sleep: how to wait (default :func:`asyncio.sleep`); tests record the delays instead.

    The waits follow :func:`backoff_delays` (0.5 s doubling to 30 s). Only :class:`Exception` is
    retried: cancellation (a stopping worker) ends the loop at once.

    Example: ``await retry_forever(asyncio.to_thread, store.insert, table, columns, rows, what="insert")``.
    """
    waits = backoff_delays()
    while True:
        try:
            return await func(*args)
        except Exception as exc:
            delay = next(waits)
            # A ClickHouse error may quote the rows it refused (citizen text): log the reason masked, no traceback.
            reason = Pseudonymizer.mask_text(str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "")
            log.error("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, reason, delay)
            await sleep(delay)
