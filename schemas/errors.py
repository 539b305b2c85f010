"""Errors of the schemas package; each says what the caller does next."""

from __future__ import annotations

__all__ = ["DirectoryError", "RecordError", "SchemaDriftError"]


class DirectoryError(ValueError):
    """The agency directory file is missing or invalid: fix the file (config error, do not retry)."""


class RecordError(ValueError):
    """A Kafka record cannot be decoded at all: send it to the dead-letter topic with this reason."""


class SchemaDriftError(RuntimeError):
    """Committed JSON Schema files differ from the models: run ``serambi schemas generate``."""
