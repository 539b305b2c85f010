"""Ad-hoc queries run in a read-only session of their own: they can neither write, reach out, nor change ingestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import StoreError
from pipeline.storage.store import Store
from schemas.tables import COLUMNS, DEAD_LETTERS


def _writes_still_work(store: Store) -> None:
    row = ("id1", "test", "worker", "schema", "reason", "{}", "2026-11-02 00:00:00")
    store.insert(DEAD_LETTERS, COLUMNS[DEAD_LETTERS], [row])
    assert store.query(f"SELECT count() FROM {store.database}.{DEAD_LETTERS}").rows == [(1,)]


def test_an_insert_disguised_as_a_read_is_refused_and_ingestion_goes_on(store: Store) -> None:
    # Before the fix this passed the prefix check and left the shared session read-only for good.
    with pytest.raises(StoreError, match="only one SELECT"):
        store.query(f"WITH 1 AS x INSERT INTO {store.database}.{DEAD_LETTERS} (id) SELECT 'x'", read_only=True)
    _writes_still_work(store)
    assert store.query("SELECT getSetting('readonly')").rows == [(0,)]
    assert store.query("SELECT 1 AS one", read_only=True).rows == [(1,)]


@pytest.mark.parametrize(
    "source",
    [
        "file('/etc/hostname', 'LineAsString')",
        "fileCluster('default', '/etc/hostname', 'LineAsString')",
        "url('http://127.0.0.1:9/x', 'LineAsString')",
        "urlCluster('default', 'http://127.0.0.1:9/x', 'LineAsString')",
        "s3Cluster('default', 'http://127.0.0.1:9/b/x.csv', 'CSV')",
    ],
)
def test_table_functions_that_reach_out_are_refused(store: Store, source: str) -> None:
    with pytest.raises(StoreError, match="refused"):
        store.query(f"SELECT * FROM (SELECT 1) AS a JOIN {source} AS b ON 1", read_only=True)


def test_into_outfile_writes_nothing(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    with pytest.raises(StoreError, match="OUTFILE"):
        store.query(f"SELECT 1 INTO OUTFILE '{target}'", read_only=True)
    assert not target.exists()


def test_reads_are_bounded_and_cannot_lift_their_bounds(store: Store) -> None:
    limits = store.query("SELECT getSetting('max_execution_time'), getSetting('max_result_rows')", read_only=True)
    assert limits.rows == [(60, 1_000_000)]
    with pytest.raises(StoreError, match=r"(?i)limit for result exceeded|max rows"):
        store.query("SELECT number FROM numbers(2000000)", read_only=True)
    with pytest.raises(StoreError, match=r"(?i)readonly"):
        store.query("SELECT 1 SETTINGS max_result_rows = 0", read_only=True)
