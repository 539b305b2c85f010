"""A background task for the length of a block, stopped within a bounded time (threads cannot be cancelled)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

__all__ = ["in_background"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None], name: str, stop_timeout_s: float) -> AsyncIterator[None]:
    """Run ``work`` while the block runs; cancel it after, waiting at most ``stop_timeout_s``.

    A round running in a thread (a ClickHouse query) cannot be cancelled: a stop that waits longer than the
    timeout is logged and the task left behind, so shutdown never hangs on it.
    """
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=stop_timeout_s)
        if not done:
            log.error("%s did not stop within %.0f s; left behind", name, stop_timeout_s)
