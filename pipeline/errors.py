"""Errors of the pipeline package; each says what the caller does next."""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "MonitoringError",
    "PipelineError",
    "StackBusyError",
    "StoreError",
]


class PipelineError(RuntimeError):
    """Base of pipeline errors."""


class ConfigError(PipelineError):
    """A setting is wrong or missing: fix the configuration (do not retry)."""


class BrokerError(PipelineError):
    """The embedded broker did not start or Kafka is unreachable: check the log named, then retry."""


class StoreError(PipelineError):
    """ClickHouse refused a statement: the message carries the server's reason; fix and retry."""


class StackBusyError(PipelineError):
    """Another Serambi process owns this data dir: use it (it is running) or pick another data dir."""


class MonitoringError(PipelineError):
    """Prometheus or Alertmanager did not start or answer: check the log named, then retry."""


class SchemaBehindError(PipelineError):
    """ClickHouse lacks migrations this serambi needs: run `serambi db migrate`, then start again."""


class SchemaAheadError(PipelineError):
    """ClickHouse holds migrations this serambi does not know: upgrade the image (migrations never go down)."""


class MigrationLockError(PipelineError):
    """Another migrator holds the migration lock: wait for it and retry, or remove the lock of one that died."""


__all__ += ["MigrationLockError", "SchemaAheadError", "SchemaBehindError"]
