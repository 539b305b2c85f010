from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pipeline.errors import StoreError
from pipeline.storage.rows import event_json
from pipeline.storage.store import Store
from schemas.tables import COLUMNS
from tests.helpers.events import EventFactory
from tests.helpers.settings import SettingsFactory


def test_migrations_apply_once(store: Store) -> None:
    assert store.migrate() == []
    versions = store.query(f"SELECT version, name FROM {store.database}.schema_migrations FINAL ORDER BY version").rows
    assert versions == [
        (1, "0001_raw_tables.sql"),
        (2, "0002_response_facts.sql"),
        (3, "0003_agency_audit.sql"),
        (4, "0004_conversation_index.sql"),
        (5, "0005_alerts.sql"),
        (6, "0006_rollups.sql"),
        (7, "0007_time_projections.sql"),
        (8, "0008_changes.sql"),
        (9, "0009_source_cursors.sql"),
        (10, "0010_kafka_partition.sql"),
        (11, "0011_needs_reply.sql"),
        (12, "0012_alert_terms.sql"),
        (13, "0013_citizen_topics.sql"),
    ]
    tables = {row[0] for row in store.query(f"SHOW TABLES FROM {store.database}").rows}
    assert {"posts", "interactions", "reactions", "dead_letters"} <= tables


def test_repeated_event_ids_count_once(store: Store, event_factory: EventFactory) -> None:
    comment = event_factory("comment")
    for _ in range(3):
        store.insert_encoded("interactions", COLUMNS["interactions"], event_json(comment))
    rows = store.query(f"SELECT event_id, author_role, created_at FROM {store.database}.interactions FINAL").rows
    assert len(rows) == 1
    assert rows[0][0] == comment.event_id
    assert rows[0][2].replace(tzinfo=UTC) == comment.created_at


def test_ttl_is_applied_when_configured(settings_factory: SettingsFactory) -> None:
    store = Store(settings_factory(raw_ttl_days=30))
    try:
        store.migrate()
        engine = store.query(
            f"SELECT engine_full FROM system.tables WHERE database = '{store.database}' AND name = 'posts'"
        ).rows
        assert "TTL" in engine[0][0]
    finally:
        store.close()


def test_read_only_queries_refuse_writes(store: Store) -> None:
    with pytest.raises(StoreError, match="only one SELECT"):
        store.query(f"DROP TABLE {store.database}.posts", read_only=True)
    with pytest.raises(StoreError, match="only one SELECT"):
        store.query(f"SELECT 1; DROP TABLE {store.database}.posts", read_only=True)
    assert store.query("SELECT 1", read_only=True).rows == [(1,)]


def test_clickhouse_errors_carry_the_reason(store: Store) -> None:
    with pytest.raises(StoreError, match=r"UNKNOWN_TABLE|doesn.t exist|does not exist"):
        store.query(f"SELECT * FROM {store.database}.nope")


def test_second_process_on_same_data_dir_is_told_who_owns_it(store: Store, chdb_dir: object) -> None:
    code = (
        "from pydantic import SecretStr\n"
        "from pipeline.settings import load_settings\n"
        "from pipeline.storage.store import Store\n"
        f"Store(load_settings(clickhouse_url=SecretStr('chdb://{chdb_dir}')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "another process owns the ClickHouse data" in result.stderr


def test_insert_accepts_aware_datetimes(store: Store) -> None:
    now = datetime(2026, 11, 2, 3, 4, 5, 678000, tzinfo=UTC)
    store.insert("dead_letters", COLUMNS["dead_letters"], [("id1", "s", "worker", "t", "r", "raw", now)])
    [(received,)] = store.query(f"SELECT received_at FROM {store.database}.dead_letters").rows
    assert received.replace(tzinfo=UTC) == now


def test_http_url_uses_the_server_client_and_says_when_unreachable(settings_factory: SettingsFactory) -> None:
    from pydantic import SecretStr

    from pipeline.kafka.broker import free_port

    settings = settings_factory(clickhouse_url=SecretStr(f"http://serambi:s3cret@127.0.0.1:{free_port()}/serambi"))
    with pytest.raises(
        StoreError, match=r"cannot reach ClickHouse at http://127.0.0.1:.*SERAMBI_CLICKHOUSE_URL"
    ) as caught:
        Store(settings)
    assert "s3cret" not in str(caught.value)


def test_read_only_is_enforced_by_the_engine_too(store: Store) -> None:
    for sql in (
        "SELECT * FROM `file`('/etc/hostname', LineAsString)",
        "SELECT 1 INTO/**/OUTFILE '/tmp/serambi-x'",
        "SELECT * FROM fileCluster('default', '/etc/hostname', LineAsString)",
    ):
        with pytest.raises(StoreError):
            store.query(sql, read_only=True)
    assert not os.path.exists("/tmp/serambi-x")


def test_values_are_bound_by_the_server_not_spliced(store: Store) -> None:
    hostile = "x'); DROP TABLE posts; -- \\ {v:String}"
    moment = datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=UTC)
    [(text, instant)] = store.query(
        "SELECT {v:String}, {t:DateTime64(6, 'UTC')}", {"v": hostile, "t": moment}, read_only=True
    ).rows
    assert text == hostile
    assert instant.replace(tzinfo=UTC) == moment  # microseconds survive the binding
    # Without a placeholder clickhouse-connect would format the value into the SQL text: refused.
    with pytest.raises(StoreError, match="placeholder"):
        store.query("SELECT %(v)s", {"v": hostile})
    with pytest.raises(StoreError, match="placeholder"):
        store.command(f"ALTER TABLE {store.database}.posts DELETE WHERE agency_id = %(v)s", {"v": hostile})


def test_a_read_session_of_its_own_reads_and_refuses_writes(store: Store) -> None:
    """A background job's session (Store.open_session) reads the same engine, bound values only, and never writes."""
    session = store.open_session()
    try:
        assert session.query("SELECT {n:UInt8} + 1 AS two", {"n": 1}, read_only=True).rows == [(2,)]
        assert session.query(f"SELECT count() FROM {store.database}.interactions").rows == [(0,)]
        with pytest.raises(StoreError, match="only reads"):
            session.command(f"TRUNCATE TABLE {store.database}.agencies")
        with pytest.raises(StoreError):  # readonly=1: the engine refuses a write in this session
            session.query(f"INSERT INTO {store.database}.agencies (agency_id) VALUES ('x')")
    finally:
        session.close()


def test_a_writable_session_writes_beside_the_writer(store: Store) -> None:
    """A background job's writable session (rollups) inserts into the same engine, and its reads can stay read-only."""
    session = store.open_session(writable=True)
    try:
        session.command(
            f"INSERT INTO {store.database}.agencies (agency_id, name) VALUES ({{id:String}}, 'x')", {"id": "w"}
        )
        assert store.query(f"SELECT count() FROM {store.database}.agencies WHERE agency_id = 'w'").rows == [(1,)]
        with pytest.raises(StoreError):
            session.query(f"INSERT INTO {store.database}.agencies (agency_id) VALUES ('y')", read_only=True)
    finally:
        session.close()
