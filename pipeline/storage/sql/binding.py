"""How a catalog view's SQL receives its inputs: bound parameters, or the Grafana ClickHouse plugin's macros.

Every view takes the same inputs: a time range ``[since, until)``, agencies, platforms and tiers (each
"all" when empty), the default SLA and a row limit. A :class:`Binding` turns each into SQL:

- :class:`ParamBinding` (``serambi report``, the web board, the benchmark): typed server-side placeholders
  (``{since:DateTime64(6, 'UTC')}``, ``{agencies:Array(String)}``); :meth:`ViewFilter.parameters` gives their
  values, so nothing a user typed or put in a URL is ever spliced into SQL.
- :class:`MacroBinding` (the Grafana dashboards): ``$__fromTime``/``$__toTime`` and
  ``$__conditionalAll(column IN (${agency:singlequote}), $agency)`` for the dashboard's template variables,
  which Grafana and the plugin expand (grafana-clickhouse-datasource v4.x).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.storage.query import DATETIME_PARAM

__all__ = ["GRAFANA_VARIABLES", "Binding", "FixedBinding", "MacroBinding", "ParamBinding", "ViewFilter"]

GRAFANA_VARIABLES = {"agencies": "agency", "platforms": "platform", "tiers": "tier"}
"""The dashboards' template variable of each filter (multi-value, with All)."""


class Binding(ABC):
    """SQL for a view's inputs. Every method returns SQL text, never a caller's value."""

    @property
    @abstractmethod
    def since(self) -> str:
        """The window's start (an instant; inclusive)."""

    @property
    @abstractmethod
    def until(self) -> str:
        """The window's end (an instant; excluded); statuses are judged here."""

    @property
    @abstractmethod
    def default_sla_hours(self) -> str:
        """The SLA of agencies without one of their own, in hours (Float64)."""

    @property
    @abstractmethod
    def limit(self) -> str:
        """The row limit of list views (UInt32)."""

    @abstractmethod
    def filter(self, kind: str, column: str) -> str:
        """A condition: ``column`` is one of the chosen ``kind`` (``agencies``, ``platforms``, ``tiers``), or true."""

    @abstractmethod
    def in_tiers(self, column: str, directory: str) -> str:
        """``column`` (an agency id) is in ``directory`` (``db.agencies``) with a chosen tier, or true when all are."""

    def agencies(self, column: str = "agency_id") -> str:
        """``column`` is a chosen agency (true when all are chosen)."""
        return self.filter("agencies", column)

    def platforms(self, column: str = "platform") -> str:
        """``column`` is a chosen platform (true when all are chosen)."""
        return self.filter("platforms", column)

    def tiers(self, column: str = "tier") -> str:
        """``column`` is a chosen tier (true when all are chosen)."""
        return self.filter("tiers", column)


class ParamBinding(Binding):
    """Typed placeholders; :meth:`ViewFilter.parameters` gives the values to bind."""

    since = f"{{since:{DATETIME_PARAM}}}"
    until = f"{{until:{DATETIME_PARAM}}}"
    default_sla_hours = "{default_sla_hours:Float64}"
    limit = "{limit:UInt32}"

    def filter(self, kind: str, column: str) -> str:
        if kind not in GRAFANA_VARIABLES:
            msg = f"no filter {kind!r}: one of {', '.join(GRAFANA_VARIABLES)}"
            raise ValueError(msg)
        chosen = f"{{{kind}:Array(String)}}"
        return f"(empty({chosen}) OR has({chosen}, {column}))"

    def in_tiers(self, column: str, directory: str) -> str:
        chosen = "{tiers:Array(String)}"
        return f"(empty({chosen}) OR {column} IN (SELECT agency_id FROM {directory} FINAL WHERE has({chosen}, tier)))"


@dataclass(frozen=True)
class MacroBinding(Binding):
    """The Grafana ClickHouse plugin's macros and the dashboards' template variables.

    ``default_sla`` and ``row_limit`` are fixed when the dashboard is generated (rendered as numbers).
    """

    default_sla: float = 24.0
    row_limit: int = 100

    @property
    def since(self) -> str:
        return "$__fromTime"

    @property
    def until(self) -> str:
        return "$__toTime"

    @property
    def default_sla_hours(self) -> str:
        return repr(float(self.default_sla))

    @property
    def limit(self) -> str:
        return str(int(self.row_limit))

    def filter(self, kind: str, column: str) -> str:
        variable = GRAFANA_VARIABLES[kind]
        # Grafana's `singlequote` format quotes each value and escapes its quotes (\'), so an id with a quote
        # stays one string literal whatever the plugin's default formatting of multi-value variables.
        return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"

    def in_tiers(self, column: str, directory: str) -> str:
        chosen = f"SELECT agency_id FROM {directory} FINAL WHERE tier IN (${{tier:singlequote}})"
        return f"$__conditionalAll({column} IN ({chosen}), $tier)"


@dataclass(frozen=True)
class FixedBinding(Binding):
    """SQL expressions fixed in advance, every filter "all": for ClickHouse views (which take no parameters).

    Example: ``FixedBinding("now64(3) - INTERVAL 86400 SECOND", "now64(3)", 24.0)``. ``since_sql`` and
    ``until_sql`` are SQL the caller writes (never a user's text); the SLA is rendered as a number.
    """

    since_sql: str
    until_sql: str
    default_sla: float = 24.0
    row_limit: int = 100

    @property
    def since(self) -> str:
        return self.since_sql

    @property
    def until(self) -> str:
        return self.until_sql

    @property
    def default_sla_hours(self) -> str:
        return repr(float(self.default_sla))

    @property
    def limit(self) -> str:
        return str(int(self.row_limit))

    def filter(self, kind: str, column: str) -> str:
        return "1"

    def in_tiers(self, column: str, directory: str) -> str:
        return "1"


@dataclass(frozen=True)
class ViewFilter:
    """The inputs of a view run with :class:`ParamBinding`: aware instants, chosen ids (empty = all).

    Example: ``ViewFilter(since, until, agencies=("jpj",))``.
    """

    since: datetime
    until: datetime
    agencies: Sequence[str] = ()
    platforms: Sequence[str] = ()
    tiers: Sequence[str] = ()
    default_sla_hours: float = 24.0
    limit: int = 100

    def __post_init__(self) -> None:
        for instant in (self.since, self.until):
            if instant.tzinfo is None:
                msg = f"a view's window needs aware instants, not {instant!r}"
                raise ValueError(msg)
        if self.since >= self.until:
            msg = f"a view's window must start before it ends: {self.since} >= {self.until}"
            raise ValueError(msg)

    def parameters(self) -> dict[str, Any]:
        """The values of :class:`ParamBinding`'s placeholders (a query binds those it names)."""
        return {
            "since": self.since.astimezone(UTC),
            "until": self.until.astimezone(UTC),
            "agencies": list(self.agencies),
            "platforms": list(self.platforms),
            "tiers": list(self.tiers),
            "default_sla_hours": float(self.default_sla_hours),
            "limit": int(self.limit),
        }

    @classmethod
    def ending_now(cls, since: datetime, **kwargs: Any) -> ViewFilter:
        """A window from ``since`` until now."""
        return cls(since, datetime.now(UTC), **kwargs)
