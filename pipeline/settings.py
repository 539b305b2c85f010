"""One frozen settings object for a Serambi process: env vars ``SERAMBI_*`` and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "ensure_private_dir", "load_settings"]


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
    lateness_hours: Annotated[float, Field(gt=0)] = Field(
        168.0, description="how long idle conversations stay in memory (replies match at any lateness)"
    )
    pseudonym_key: SecretStr = Field(SecretStr(""), description="HMAC key for citizen pseudonyms")
    agencies_file: Path | None = Field(None, description="agency directory YAML; empty = the packaged sample")
    api_host: str = Field("127.0.0.1", description="API address; not loopback only with SERAMBI_API_TOKEN")
    api_token: SecretStr = Field(
        SecretStr(""), description="bearer token every API route but /health requires; empty = loopback only"
    )
    api_port: Annotated[int, Field(ge=0, le=65535)] = Field(0, description="0 = any free port")
    worker_web_port: Annotated[int, Field(ge=0, le=65535)] = Field(0, description="Faust web; 0 = free")
    sink_batch_records: Annotated[int, Field(ge=1)] = Field(
        400, description="max Kafka records (each a batch of events) per worker batch"
    )
    sink_batch_seconds: Annotated[float, Field(gt=0)] = Field(0.2, description="max wait to fill a batch")
    worker_fetch_wait_ms: Annotated[int, Field(ge=1, le=5000)] = Field(
        100, description="max broker wait per fetch (Faust hard-codes 1500)"
    )
    broker_memory_mb: Annotated[int, Field(ge=0)] = Field(
        512,
        description="embedded broker: above this RSS, drop the records already stored (0 = never)",
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

    @model_validator(mode="after")
    def _exposed_api_needs_a_token(self) -> Settings:
        # Anyone who reaches the API can read every stored message: off this machine only with a token.
        if not _loopback(self.api_host) and not self.api_token.get_secret_value():
            msg = (
                f"SERAMBI_API_HOST={self.api_host!r} exposes the API beyond this machine: set SERAMBI_API_TOKEN "
                "(clients then send it as a bearer token) or keep the default 127.0.0.1"
            )
            raise ValueError(msg)
        return self

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

    @property
    def admin_token_file(self) -> Path:
        """The running stack's admin token (0600): processes of this user on this machine may change it."""
        return self.data_dir / "admin.token"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` readable by its owner only (0700), or make an existing one of ours so.

    The data dir holds citizens' messages (chDB files), keys and the admin token: other users of the
    machine must not enter it, whatever the umask. A directory of another user is left alone.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o777 != 0o700:
        path.chmod(0o700)


def load_settings(**overrides: object) -> Settings:
    """Settings from env/TOML; a missing pseudonym key is created once per data dir (0600 file)."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.data_dir.is_dir():
        ensure_private_dir(settings.data_dir)
    if settings.pseudonym_key.get_secret_value():
        return settings
    return settings.model_copy(update={"pseudonym_key": SecretStr(_local_key(settings.data_dir))})


def _local_key(data_dir: Path) -> str:
    # Only for the embedded default: production sets SERAMBI_PSEUDONYM_KEY (README says so).
    path = data_dir / "pseudonym.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    ensure_private_dir(data_dir)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere
