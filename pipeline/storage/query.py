"""What a read query is, wherever it runs: the result, the engine Protocol and its bound parameters.

Values reach SQL only as clickhouse-connect server-side parameters: the SQL names a typed placeholder
(``{agency:String}``, ``{t_since:DateTime64(6, 'UTC')}``) and ClickHouse parses the value as that type,
so no value is ever quoted, escaped or spliced into SQL text. :func:`bind_values` gives every value one
wire form, the same for the local store and for the running stack's API (whose JSON has no datetimes).

Example::

    engine.query("SELECT count() FROM db.posts WHERE agency_id = {agency:String}", {"agency": "jpj"}, read_only=True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

__all__ = ["DATETIME_PARAM", "Parameters", "QueryEngine", "QueryResult", "bind_values"]

Parameters = Mapping[str, Any]
# The placeholder type of every instant: microseconds survive (tables hold milliseconds; a window may not).
DATETIME_PARAM = "DateTime64(6, 'UTC')"


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class QueryEngine(Protocol):
    """Runs read-only queries: :class:`pipeline.storage.store.Store` or :class:`pipeline.runtime.client.StackClient`.

    ``read_only`` must be passed and is always ``True``: the running stack's API runs nothing else, so a
    caller cannot write through one engine and silently fail to through the other.
    """

    def query(self, sql: str, parameters: Parameters | None = None, *, read_only: Literal[True]) -> QueryResult:
        """Run one read-only query; values travel in ``parameters`` for the ``{name:Type}`` placeholders."""
        ...


def bind_values(parameters: Parameters | None) -> dict[str, Any] | None:
    """``parameters`` in their wire form: aware datetimes as UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text.

    clickhouse-connect's HTTP client would render a datetime to whole seconds and JSON would add an
    offset ClickHouse does not parse; this text is what a ``DateTime64`` placeholder reads, exactly.
    Naive datetimes are refused (their instant is unknown). Other values pass unchanged.
    """
    if parameters is None:
        return None
    return {str(name): _wire(value) for name, value in parameters.items()}


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"a naive datetime cannot be bound (its instant is unknown): {value!r}"
            raise ValueError(msg)
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, list | tuple):
        return type(value)(_wire(item) for item in value)
    return value
