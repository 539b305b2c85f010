"""One frozen settings object for a Serambi process: env vars ``SERAMBI_*`` and an optional TOML file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Serambi's configuration; every field is ``SERAMBI_<FIELD>`` in the environment.

    A TOML file named by ``SERAMBI_CONFIG_FILE`` supplies defaults; the environment wins over it.
    Example: ``SERAMBI_KAFKA_BOOTSTRAP_SERVERS=kafka1:9092 serambi run``.
    """

    model_config = SettingsConfigDict(env_prefix="SERAMBI_", frozen=True, extra="forbid")

    data_dir: Path = Field(Path("serambi-data"), description="chDB data, cursors, logs, state file")
    kafka_bootstrap_servers: str = Field("", description="empty = start the embedded broker")
    clickhouse_url: SecretStr = Field(
        SecretStr(""), description="empty = chdb:///<data_dir>/chdb; or http(s)://user:pass@host:8123/db"
    )
    clickhouse_database: str = Field("serambi", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    raw_ttl_days: Annotated[int, Field(ge=0)] = Field(0, description="0 = keep raw events forever")
    partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    sla_hours: Annotated[float, Field(gt=0)] = Field(24.0, description="SLA of agencies the directory lacks")
    lateness_hours: Annotated[float, Field(gt=0)] = Field(168.0, description="how late a reply may arrive")
    pseudonym_key: SecretStr = Field(SecretStr(""), description="HMAC key for citizen pseudonyms")
    agencies_file: Path | None = Field(None, description="agency directory YAML; empty = the packaged sample")
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = Field(0, description="0 = any free port")
    worker_web_port: Annotated[int, Field(ge=0, le=65535)] = Field(0, description="Faust web; 0 = free")
    sink_batch_records: Annotated[int, Field(ge=1)] = Field(
        400, description="max Kafka records (each a batch of events) per worker batch"
    )
    sink_batch_seconds: Annotated[float, Field(gt=0)] = Field(0.2, description="max wait to fill a batch")
    worker_fetch_wait_ms: Annotated[int, Field(ge=1, le=5000)] = Field(
        100, description="max broker wait per fetch (Faust hard-codes 1500)"
    )
    log_level: str = "WARNING"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init args, then environment, then the TOML file of ``SERAMBI_CONFIG_FILE``."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("SERAMBI_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @property
    def embedded_broker(self) -> bool:
        """True when no Kafka is configured and Serambi starts its own broker."""
        return not self.kafka_bootstrap_servers.strip()

    @property
    def clickhouse_dsn(self) -> str:
        """The ClickHouse DSN in use (contains the password: never log it)."""
        url = self.clickhouse_url.get_secret_value()
        return url or f"chdb://{(self.data_dir / 'chdb').resolve()}"

    @property
    def uses_chdb(self) -> bool:
        """True when ClickHouse runs in-process (chDB) and this data dir has one owner."""
        return self.clickhouse_dsn.startswith("chdb:")

    @property
    def state_file(self) -> Path:
        """Where a running stack records its endpoints."""
        return self.data_dir / "stack.json"


def load_settings(**overrides: object) -> Settings:
    """Settings from env/TOML; a missing pseudonym key is created once per data dir (0600 file)."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.pseudonym_key.get_secret_value():
        return settings
    return settings.model_copy(update={"pseudonym_key": SecretStr(_local_key(settings.data_dir))})


def _local_key(data_dir: Path) -> str:
    # Only for the embedded default: production sets SERAMBI_PSEUDONYM_KEY (README says so).
    path = data_dir / "pseudonym.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key
