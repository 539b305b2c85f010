"""Deterministic citizen traffic for the surge detector's tests: the alert benchmark's traffic model, re-exported.

The model lives in :mod:`pipeline.bench.alert_traffic` (the benchmark may not import tests); this module keeps
the tests' import path.
"""

from __future__ import annotations

from pipeline.bench.alert_traffic import (
    LOCAL,
    MINUTE,
    MONDAY,
    Message,
    Rate,
    answer_between,
    count_records,
    diurnal,
    flat,
    hourly_history,
    messages,
    poisson,
    weekly,
    with_surge,
)

__all__ = [
    "LOCAL",
    "MINUTE",
    "MONDAY",
    "Message",
    "Rate",
    "answer_between",
    "count_records",
    "diurnal",
    "flat",
    "hourly_history",
    "messages",
    "poisson",
    "weekly",
    "with_surge",
]
