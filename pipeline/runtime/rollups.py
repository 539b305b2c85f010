"""Run the daily rollups' refresher in the background while the stack runs.

Every ``SERAMBI_ROLLUP_REFRESH_SECONDS`` (30 s) the days that new data touched, once quiet, are re-derived
(:func:`pipeline.storage.rollup.refresh_rollups`). Nothing depends on it for correctness: until a day is
derived the views read it from raw data, exactly, only slower. A failed round is logged and retried next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.runtime.periodic import in_background
from pipeline.storage.rollup import RefreshStats, RollupStore, refresh_rollups

__all__ = ["RollupRefresher", "deriving"]

log = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 30.0  # a derivation in its thread cannot be cancelled; one chunk of days is seconds at 50 M


@dataclass
class RollupRefresher:
    """Derives stale days of ``store``'s rollups (see :mod:`pipeline.storage.rollup`)."""

    store: RollupStore
    default_sla_hours: float
    quiet: timedelta
    leader: Callable[[], bool] | None = None
    """With several workers, only the leader derives (``None``: always); derivations are idempotent, so two
    leaders for a moment during a rebalance only cost work."""
    rounds: int = field(default=0, init=False)
    """Completed refreshes, for tests and health."""
    last: RefreshStats | None = field(default=None, init=False)

    def refresh(self) -> RefreshStats:
        """One blocking refresh."""
        stats = refresh_rollups(self.store, default_sla_hours=self.default_sla_hours, quiet=self.quiet)
        if stats.days:
            log.info("rollups: derived %d days in %.1f s", len(stats.days), stats.seconds)
        self.rounds += 1
        self.last = stats
        return stats

    async def run(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` until cancelled."""
        while True:
            try:
                if self.leader is None or self.leader():
                    await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("deriving the daily rollups failed; the views read raw data meanwhile")
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def deriving(refresher: RollupRefresher, interval_s: float) -> AsyncIterator[RollupRefresher]:
    """Run ``refresher`` while the block runs (``interval_s`` 0: never); the stop is bounded."""
    if interval_s <= 0:
        yield refresher
        return
    async with in_background(refresher.run(interval_s), "the rollup refresher", _STOP_TIMEOUT_S):
        yield refresher
