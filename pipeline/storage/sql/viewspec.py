"""What a catalog view is: its name, audience, columns with units, and its SQL for a binding.

A view is defined once (:mod:`pipeline.storage.sql.catalog` lists them all) and read by ``serambi report``,
the web board and the Grafana dashboards alike; only the *binding* differs (bound parameters or the Grafana
plugin's macros, :mod:`pipeline.storage.sql.binding`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pipeline.storage.sql.binding import Binding

__all__ = ["Audience", "Column", "Unit", "View"]


class Unit(StrEnum):
    """The unit of a column's values (dashboards and the board format by it)."""

    TEXT = "text"
    COUNT = "count"
    RATIO = "ratio"  # 0-1; shown as a percentage
    SECONDS = "seconds"
    TIME = "time"  # an instant (UTC)
    HOUR = "hour"  # hour of day, 0-23
    WEEKDAY = "weekday"  # ISO weekday, 1 = Monday
    URL = "url"


class Audience(StrEnum):
    """Who a view is for; Grafana folders follow it."""

    CENTRAL = "central"  # the central digital office: leaderboards, trends
    AGENCY = "agency"  # an agency's social team: its own accounts and messages
    OPS = "ops"  # on-call: backlogs now, surges, alerts


@dataclass(frozen=True)
class Column:
    """One output column of a view: its name in the result, its unit, and what it means."""

    name: str
    unit: Unit
    help: str


@dataclass(frozen=True)
class View:
    """One cross-agency view: ``sql(database, binding)`` returns rows with exactly :attr:`columns`, in order.

    ``time_column`` names the instant column of a time-series view (Grafana plots against it), else None.
    """

    name: str
    title: str
    audience: Audience
    columns: tuple[Column, ...]
    build: Callable[[str, Binding], str]
    time_column: str | None = None
    description: str = ""

    def sql(self, database: str, binding: Binding) -> str:
        """The view's query over ``database`` with ``binding``'s placeholders or macros."""
        return self.build(database, binding)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns' names, in result order."""
        return tuple(c.name for c in self.columns)
