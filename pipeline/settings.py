"""One frozen settings object for a Serambi process: env vars ``SERAMBI_*`` and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas.timeutil import EARLIEST_EVENT, EventBounds

__all__ = ["Settings", "SettingsError", "describe_errors", "ensure_private_dir", "load_settings", "read_settings"]

# The schemes clickhouse-connect serves (``chdb`` is its in-process engine); empty = chDB in the data dir.
_CLICKHOUSE_SCHEMES = ("chdb://", "http://", "https://")
# Values never echoed in an error line.
_SECRET_FIELDS = frozenset(
    {
        "clickhouse_url",
        "pseudonym_key",
        "api_token",
        "grafana_token",
        "grafana_clickhouse_password",
        "meta_app_secret",
        "meta_verify_token",
        "x_consumer_secret",
        "mastodon_webhook_secret",
        "meta_access_token",
        "x_bearer_token",
        "youtube_api_key",
        "mastodon_access_token",
        "tiktok_access_token",
    }
)


class SettingsError(ValueError):
    """A setting is invalid: the message is one line naming its ``SERAMBI_*`` variable; fix it (do not retry)."""


class Settings(BaseSettings):
    """Serambi's configuration; every field is ``SERAMBI_<FIELD>`` in the environment.

    A TOML file named by ``SERAMBI_CONFIG_FILE`` supplies defaults; the environment wins over it.
    Example: ``SERAMBI_KAFKA_BOOTSTRAP_SERVERS=kafka1:9092 serambi run``.
    """

    model_config = SettingsConfigDict(env_prefix="SERAMBI_", frozen=True, extra="forbid")

    data_dir: Path = Field(Path("serambi-data"), description="chDB data, cursors, logs, state file")
    kafka_bootstrap_servers: str = Field("", description="empty = start the embedded broker")
    kafka_replication_factor: Annotated[int, Field(ge=0, le=7)] = Field(
        0, description="copies of topics Serambi or Faust create (0 = 3, or the broker count when fewer)"
    )
    clickhouse_url: SecretStr = Field(
        SecretStr(""), description="empty = chdb:///<data_dir>/chdb; or http(s)://user:pass@host:8123/db"
    )
    clickhouse_database: str = Field("serambi", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clickhouse_cluster: str = Field(
        "",
        pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
        description="ClickHouse cluster name: migrations render ON CLUSTER with Replicated tables (empty = one server)",
    )
    raw_ttl_days: Annotated[int, Field(ge=0)] = Field(0, description="0 = keep raw events forever")
    partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    sla_hours: Annotated[float, Field(gt=0)] = Field(24.0, description="SLA of agencies the directory lacks")
    matcher_max_conversations: Annotated[int, Field(ge=0)] = Field(
        1_000_000,
        description="open conversations a worker keeps in memory at most (0 = no cap); the oldest idle go first",
    )
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
    # Faust starts this wait after the previous batch is stored, so records that arrived meanwhile wait it too:
    # 0.05 instead of 0.2 took ~0.2 s off freshness p50 and p99 at 5,000 events/s (README "Benchmark"), at the
    # cost of more, smaller inserts when events trickle (raise it for many workers on one server: deploy/CAPACITY.md).
    sink_batch_seconds: Annotated[float, Field(gt=0)] = Field(0.05, description="max wait to fill a batch")
    worker_fetch_wait_ms: Annotated[int, Field(ge=1, le=5000)] = Field(
        100, description="max broker wait per fetch (Faust hard-codes 1500)"
    )
    broker_memory_mb: Annotated[int, Field(ge=0)] = Field(
        512,
        description="embedded broker: above this RSS, drop the records already stored (0 = never)",
    )
    log_level: str = "WARNING"
    earliest_event: date = Field(
        EARLIEST_EVENT.date(), description="events before this date (UTC) are dead-lettered; not before 2006-01-01"
    )
    max_future_hours: Annotated[float, Field(ge=0)] = Field(
        24.0, description="events further ahead of the ingest clock are dead-lettered"
    )
    metrics_refresh_seconds: Annotated[float, Field(ge=0)] = Field(
        15.0, description="how often the per-agency gauges of /metrics are recomputed (0 = never)"
    )
    surge_detection: bool = Field(True, description="run the unanswered-surge detector in the worker")
    surge_min_excess: Annotated[int, Field(ge=1)] = Field(
        12, description="messages above normal a window needs before it may alert (small agencies never page)"
    )
    surge_min_samples: Annotated[int, Field(ge=1)] = Field(
        3, description="previous days of the same kind an hour needs before it is judged"
    )
    surge_resolve_minutes: Annotated[int, Field(ge=1)] = Field(
        15, description="event-time minutes a surge's backlog must stay drained before it resolves"
    )
    surge_lateness_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        120.0, description="how late (event time) a partition's counts may be before a minute is judged"
    )
    surge_per_platform: bool = Field(
        False, description="also judge each agency x platform (alerts with that platform; pages stay per agency)"
    )
    surge_idle_source_seconds: Annotated[float, Field(gt=0)] = Field(
        30.0, description="a partition silent this long (wall clock) no longer holds the detector's event time"
    )

    board_host: str = Field("127.0.0.1", description="web board address; not loopback only with SERAMBI_API_TOKEN")
    board_port: Annotated[int, Field(ge=0, le=65535)] = Field(8780, description="web board port; 0 = any free port")
    board_refresh_seconds: Annotated[float, Field(ge=1)] = Field(
        15.0, description="how often the open board reloads its figures (no full page reload)"
    )
    rollup_quiet_seconds: Annotated[float, Field(ge=0)] = Field(
        60.0, description="a day is derived into the rollups once no data touched it for this long"
    )
    rollup_refresh_seconds: Annotated[float, Field(ge=0)] = Field(
        30.0, description="how often the stack re-derives the days new data touched (0 = never)"
    )
    listening_interval_seconds: Annotated[float, Field(ge=0)] = Field(
        900.0, description="how often the stack recomputes each agency's topic lists for the board (0 = never)"
    )
    grafana_url: str = Field("", description="Grafana for `serambi dashboards publish` (or --grafana-url)")
    grafana_token: SecretStr = Field(
        SecretStr(""), description="Grafana service-account token for publishing (never logged)"
    )
    grafana_clickhouse_url: str = Field(
        "", description="the ClickHouse HTTP URL Grafana's data source reads (the read-only user's server)"
    )
    grafana_prometheus_url: str = Field("", description="the Prometheus URL Grafana's data source reads")
    grafana_clickhouse_password: SecretStr = Field(
        SecretStr(""),
        description="password of the read-only ClickHouse user serambi_grafana (created on a server; never logged)",
    )

    meta_app_secret: SecretStr = Field(
        SecretStr(""), description="Meta app secret: verifies X-Hub-Signature-256 of Facebook/Instagram webhooks"
    )
    meta_verify_token: SecretStr = Field(
        SecretStr(""), description="the verify token you typed in Meta's webhook setup (subscription check)"
    )
    x_consumer_secret: SecretStr = Field(
        SecretStr(""), description="X app consumer secret: CRC answers and x-twitter-webhooks-signature"
    )
    mastodon_webhook_secret: SecretStr = Field(
        SecretStr(""), description="secret of the Mastodon admin webhook (X-Hub-Signature)"
    )
    ingest_host: str = Field("127.0.0.1", description="webhook ingress address (a reverse proxy terminates TLS)")
    ingest_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8790, description="webhook ingress port; 0 = any free port"
    )
    ingest_max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1024 * 1024, description="largest webhook delivery accepted (413 above)"
    )
    ingest_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="a delivery not acknowledged by Kafka within this gets a 503 + Retry-After"
    )
    ingest_max_in_flight: Annotated[int, Field(ge=1)] = Field(
        256, description="deliveries waiting for Kafka at once per route; more get a 503 + Retry-After"
    )

    meta_access_token: SecretStr = Field(
        SecretStr(""), description="Graph API token (Page or system-user) for `serambi connect facebook|instagram`"
    )
    meta_graph_url: str = Field("https://graph.facebook.com/v19.0", description="Graph API base URL (versioned)")
    x_bearer_token: SecretStr = Field(
        SecretStr(""), description="X API v2 bearer token for `serambi connect x|x-stream`"
    )
    x_api_url: str = Field("https://api.x.com", description="X API base URL")
    youtube_api_key: SecretStr = Field(
        SecretStr(""), description="YouTube Data API v3 key for `serambi connect youtube`"
    )
    youtube_api_url: str = Field("https://www.googleapis.com/youtube/v3", description="YouTube Data API base URL")
    youtube_daily_quota: Annotated[int, Field(ge=1)] = Field(
        10_000, description="the project's daily YouTube quota in units (remaining units are a metric)"
    )
    mastodon_access_token: SecretStr = Field(
        SecretStr(""), description="Mastodon user token (read scopes) for `serambi connect mastodon|mastodon-stream`"
    )
    mastodon_instance_url: str = Field("", description="the agency's Mastodon instance, e.g. https://social.example")
    bluesky_jetstream_url: str = Field(
        "wss://jetstream2.us-east.bsky.network/subscribe",
        description="Jetstream endpoint for `serambi connect bluesky`",
    )
    tiktok_access_token: SecretStr = Field(
        SecretStr(""), description="TikTok Business API access token for `serambi connect tiktok`"
    )
    tiktok_api_url: str = Field("https://business-api.tiktok.com", description="TikTok Business API base URL")
    connect_metrics_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        0, description="`serambi connect`: /metrics, /health, /ready on SERAMBI_METRICS_HOST at this port (0 = free)"
    )
    connect_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0, description="`serambi connect --follow`: wait between two polls of an account that is caught up"
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="address of /metrics, /health, /ready of `serambi worker` and `serambi connect` (0.0.0.0 in a pod)",
    )
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8791, description="`serambi worker` serves /metrics, /health and /ready at this port (0 = any free port)"
    )

    @property
    def webhooks_configured(self) -> bool:
        """True when any webhook secret is set: ``serambi run`` and ``demo`` then start the ingress."""
        return any(
            secret.get_secret_value()
            for secret in (self.meta_app_secret, self.x_consumer_secret, self.mastodon_webhook_secret)
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init args, environment, secret files of ``SERAMBI_SECRETS_DIR``, then ``SERAMBI_CONFIG_FILE``'s TOML.

        A secret file is named like its variable (``SERAMBI_META_APP_SECRET``) and holds the value alone, as
        Docker and Kubernetes secrets are mounted.
        """
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        secrets_dir = os.environ.get("SERAMBI_SECRETS_DIR")
        if secrets_dir:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=Path(secrets_dir)))
        toml_file = os.environ.get("SERAMBI_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.lower().startswith(_CLICKHOUSE_SCHEMES):
            scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
            msg = f"must start with chdb://, http:// or https:// (got {scheme}); empty = chDB in the data dir"
            raise ValueError(msg)
        return SecretStr(url)

    @field_validator("earliest_event")
    @classmethod
    def _not_before_the_schema(cls, value: date) -> date:
        if value < EARLIEST_EVENT.date():
            msg = f"must be on or after {EARLIEST_EVENT.date()} (no event time before it is valid)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _exposed_api_needs_a_token(self) -> Settings:
        # Anyone who reaches the API can read every stored message: off this machine only with a token.
        if not _loopback(self.api_host) and not self.api_token.get_secret_value():
            msg = (
                f"SERAMBI_API_HOST={self.api_host!r} exposes the API beyond this machine: set SERAMBI_API_TOKEN "
                "(clients then send it as a bearer token) or keep the default 127.0.0.1"
            )
            raise ValueError(msg)
        if not _loopback(self.board_host) and not self.api_token.get_secret_value():
            msg = (
                f"SERAMBI_BOARD_HOST={self.board_host!r} exposes the web board beyond this machine: set "
                "SERAMBI_API_TOKEN (browsers then open the board once with ?token=...) or keep the default 127.0.0.1"
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
    def chdb_path(self) -> Path | None:
        """The chDB data directory, or ``None`` when ClickHouse is a server."""
        return Path(self.clickhouse_dsn.removeprefix("chdb://")) if self.uses_chdb else None

    @property
    def event_bounds(self) -> EventBounds:
        """The event times ingest accepts (``SERAMBI_EARLIEST_EVENT``, ``SERAMBI_MAX_FUTURE_HOURS``)."""
        earliest = datetime.combine(self.earliest_event, datetime.min.time(), tzinfo=UTC)
        return EventBounds(earliest, timedelta(hours=self.max_future_hours))

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
    """Settings from env/TOML; a missing pseudonym key is created once per data dir (0600 file).

    For commands that write. Raises :class:`SettingsError` (one line naming the variable) when a setting is invalid.
    """
    settings = _validated(overrides)
    if settings.data_dir.is_dir():
        ensure_private_dir(settings.data_dir)
    if settings.pseudonym_key.get_secret_value():
        return settings
    return settings.model_copy(update={"pseudonym_key": SecretStr(_local_key(settings.data_dir))})


def read_settings(**overrides: object) -> Settings:
    """Settings for commands that only read: nothing is created or changed on disk (no data dir, no key).

    The pseudonym key is the data dir's if it has one, else empty (reading needs none). Raises
    :class:`SettingsError` when a setting is invalid.
    """
    settings = _validated(overrides)
    key_file = settings.data_dir / "pseudonym.key"
    if settings.pseudonym_key.get_secret_value() or not key_file.is_file():
        return settings
    return settings.model_copy(update={"pseudonym_key": SecretStr(key_file.read_text(encoding="utf-8").strip())})


def _validated(overrides: dict[str, object]) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """One line for people from pydantic's errors: ``SERAMBI_PARTITIONS: must be >= 1 (got 0)``, joined by ``; ``."""
    return "; ".join(_describe(error) for error in exc.errors(include_url=False))


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "must be").replace("String should", "must")
    for words, sign in (
        ("greater than or equal to", ">="),
        ("less than or equal to", "<="),
        ("greater than", ">"),
        ("less than", "<"),
    ):
        message = message.replace(words, sign)
    if not error["loc"]:  # a check of several settings: its message names them
        return message
    field = str(error["loc"][0])
    if error["type"] == "extra_forbidden":
        return f"{field!r} is not a setting (in the file of SERAMBI_CONFIG_FILE?): remove it or fix its name"
    got = "" if field in _SECRET_FIELDS or isinstance(error.get("input"), dict) else f" (got {error.get('input')})"
    return f"SERAMBI_{field.upper()}: {message}{got}"


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
