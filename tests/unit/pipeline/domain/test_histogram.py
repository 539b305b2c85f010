"""Log-histogram quantiles: within the stated relative error of the exact nearest-rank quantile, and mergeable."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain import histogram as h

seconds = st.floats(min_value=0.001, max_value=3.0e7, allow_nan=False)


@given(st.lists(seconds, min_size=1, max_size=300), st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_a_quantile_is_within_the_relative_error_of_the_nearest_rank_one(values: list[float], q: float) -> None:
    exact = sorted(values)[min(math.floor(q * len(values)), len(values) - 1)]
    reported = h.quantile(h.histogram(values), q)
    assert reported is not None
    assert abs(reported - exact) <= h.RELATIVE_ERROR * exact * (1 + 1e-9)


@given(st.lists(seconds, max_size=100), st.lists(seconds, max_size=100))
def test_histograms_merge_by_adding_counts(first: list[float], second: list[float]) -> None:
    merged = h.histogram(first) + h.histogram(second)
    assert merged == h.histogram(first + second)
    assert h.quantile(merged, 0.5) == h.quantile(h.histogram(first + second), 0.5)


def test_edges() -> None:
    assert h.quantile({}, 0.5) is None
    assert h.bucket(0) == 0
    assert h.value(0) == 0.0
    assert h.quantile(h.histogram([0, 0, 5]), 0.5) == 0.0
    assert h.RELATIVE_ERROR < 0.01
    assert 0 < h.bucket(1e-9) < h.bucket(0.001) < h.bucket(3.0e7) <= h.MAX_BUCKET
