"""Fixtures on real services: the embedded Tansu broker and chDB (no mocks of Kafka or ClickHouse)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.settings import Settings, load_settings
from pipeline.storage.store import Store
from tests.helpers.settings import SettingsFactory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration (a conftest's ``pytestmark`` would not reach them)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chDB data dir for the whole test process (chDB allows one engine per process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def settings_factory(tmp_path: Path, chdb_dir: Path) -> SettingsFactory:
    """Settings with a fresh data dir and a unique ClickHouse database per test."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "clickhouse_url": SecretStr(f"chdb://{chdb_dir}"),
            "clickhouse_database": f"t_{uuid.uuid4().hex[:10]}",
            "pseudonym_key": SecretStr("integration-test-key"),
            "partitions": 3,
            "sink_batch_seconds": 0.2,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def store(settings_factory: SettingsFactory) -> Iterator[Store]:
    store = Store(settings_factory())
    store.migrate()
    yield store
    store.close()
