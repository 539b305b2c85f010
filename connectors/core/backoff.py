"""Exponential back-off with full jitter, for transient failures without a platform-given wait.

A platform that says how long to wait (``Retry-After``, ``x-rate-limit-reset``, Meta's
``estimated_time_to_regain_access``) is obeyed as it says; otherwise a connector waits ``Backoff.next()``:
a random time up to ``base * 2**attempt`` capped at ``cap`` (AWS's "full jitter": many clients retrying at once
spread out instead of hitting the platform together). A success calls :meth:`Backoff.reset`.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Back-off state of one connection or account.

    Args:
        base_seconds: the first ceiling (default 1 s).
        cap_seconds: the largest wait (default 300 s).
        rng: the randomness (inject a seeded ``random.Random`` in tests).

    >>> backoff = Backoff(base_seconds=1, cap_seconds=60, rng=random.Random(1))
    >>> 0 <= backoff.next() <= 1 and 0 <= backoff.next() <= 2
    True
    """

    def __init__(
        self, *, base_seconds: float = 1.0, cap_seconds: float = 300.0, rng: random.Random | None = None
    ) -> None:
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self._rng = rng or random.Random()  # noqa: S311 - spreading retries, not cryptography
        self.attempt = 0

    def next(self) -> float:
        """The wait before the next attempt (and count this failure)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 62)  # 2**62: the ceiling is capped long before
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        """A success: the next failure starts over from ``base_seconds``."""
        self.attempt = 0
