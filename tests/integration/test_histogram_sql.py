"""The SQL twins of pipeline.domain.histogram give the same buckets and quantiles in ClickHouse."""

from __future__ import annotations

import random

from pipeline.domain import histogram as h
from pipeline.storage.sql.fragments import float_sql, hist_bucket_sql, hist_quantile_sql
from pipeline.storage.store import Store
from tests.helpers.settings import SettingsFactory


def test_buckets_and_quantiles_match_the_python_twins(settings_factory: SettingsFactory) -> None:
    rng = random.Random(7)
    values = [0.0, 0.001, 0.5, 1.0, 59.999, 60.0, 3600.0, 86400.0, 3.0e7]
    values += [rng.expovariate(1 / 3600) for _ in range(500)] + [rng.uniform(0, 10) for _ in range(100)]
    store = Store(settings_factory())
    try:
        array = "[" + ", ".join(float_sql(v) for v in values) + "]"
        [(buckets,)] = store.query(f"SELECT arrayMap(x -> {hist_bucket_sql('x')}, {array})").rows
        assert list(buckets) == [h.bucket(v) for v in values]
        counts = h.histogram(values)
        literal = "map(" + ", ".join(f"toUInt16({k}), toUInt64({c})" for k, c in sorted(counts.items())) + ")"
        for q in (0.0, 0.5, 0.9, 1.0):
            [(got,)] = store.query(f"SELECT {hist_quantile_sql(literal, q)}").rows
            assert got == h.quantile(counts, q), q
        nothing = "CAST(map(), 'Map(UInt16, UInt64)')"
        [(empty,)] = store.query(f"SELECT {hist_quantile_sql(nothing, 0.5)}").rows
        assert empty is None
    finally:
        store.close()
