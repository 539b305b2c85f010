"""Response-time quantiles from a mergeable log histogram, with a relative error bound.

Exact quantiles need every value, so they cannot come from daily rollups; counts per logarithmic bucket can
(add the counts of two days and you have the histogram of both). A value ``s > 0`` falls in bucket
``ceil(log(s) / log(GAMMA)) + OFFSET``; a bucket is reported as the point whose relative distance to both of
its edges is equal, so any value in it is within :data:`RELATIVE_ERROR` (just under 1 %) of what is reported.
0 s (a reply in the same millisecond) has bucket 0 and is reported as 0.

The quantile is the nearest-rank one ClickHouse's ``quantileExact`` returns: the value at 0-based rank
``floor(q * n)`` of the sorted values. So ``quantile(h, q)`` is within :data:`RELATIVE_ERROR` of
``quantileExact(q)`` of the same values.

The SQL twins are in :mod:`pipeline.storage.sql.fragments` (``hist_bucket_sql``, ``hist_quantile_sql``);
tests hold them to these functions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["GAMMA", "MAX_BUCKET", "OFFSET", "RELATIVE_ERROR", "bucket", "histogram", "quantile", "value"]

GAMMA = 1.02
OFFSET = 400
"""Buckets of values from ~0.4 ms (bucket 1) up to ~1.6e9 s (bucket ~1470) fit a UInt16."""
MAX_BUCKET = 65535
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
"""The largest relative error of a reported value: 0.0099 (under 1 %)."""
_LOG_GAMMA = math.log(GAMMA)
_SMALLEST = GAMMA ** (1 - OFFSET)  # values below fall in bucket 1 (a reply within ~0.4 ms)


def bucket(seconds: float) -> int:
    """The bucket of a response time in seconds (>= 0)."""
    if seconds <= 0:
        return 0
    return min(MAX_BUCKET, max(1, math.ceil(math.log(max(seconds, _SMALLEST)) / _LOG_GAMMA) + OFFSET))


def value(index: int) -> float:
    """What bucket ``index`` reports: ``2 * GAMMA**k / (GAMMA + 1)`` for ``k = index - OFFSET`` (0 for bucket 0)."""
    if index == 0:
        return 0.0
    return 2 * GAMMA ** (index - OFFSET) / (GAMMA + 1)


def histogram(values: Iterable[float]) -> Counter[int]:
    """Counts per bucket of ``values``."""
    return Counter(bucket(v) for v in values)


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank ``q``-quantile (0 <= q <= 1) of a histogram; None when it is empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = min(math.floor(q * total), total - 1)
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen > rank:
            return value(index)
    msg = "unreachable: the ranks add up to the total"
    raise AssertionError(msg)  # pragma: no cover
