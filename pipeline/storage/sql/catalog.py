"""The catalog of cross-agency views: every view the report, the web board and the dashboards read, once.

Each :class:`~pipeline.storage.sql.viewspec.View` is defined in the module of its audience
(:mod:`~pipeline.storage.sql.overview` for the central office, :mod:`~pipeline.storage.sql.drilldown` and
:mod:`~pipeline.storage.sql.listening` for an agency's team, :mod:`~pipeline.storage.sql.live` for operations) and
listed here. :func:`run_view` runs one with bound parameters; the dashboards render the same SQL with
:class:`~pipeline.storage.sql.binding.MacroBinding`.

Example::

    rows = run_view(store, "serambi", "leaderboard", ViewFilter.ending_now(since)).dicts()
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.storage.query import QueryEngine, QueryResult
from pipeline.storage.sql import drilldown, listening, live, overview
from pipeline.storage.sql.binding import ParamBinding, ViewFilter
from pipeline.storage.sql.viewspec import View

__all__ = ["CATALOG", "run_view", "view"]

CATALOG: dict[str, View] = {v.name: v for v in (*overview.VIEWS, *drilldown.VIEWS, *listening.VIEWS, *live.VIEWS)}
"""Every view by name, in the order the board and the dashboards show them."""


def view(name: str) -> View:
    """The view called ``name``; a :class:`KeyError` names the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        msg = f"no view {name!r}: one of {', '.join(CATALOG)}"
        raise KeyError(msg) from None


def run_view(engine: QueryEngine, database: str, name: str, wanted: ViewFilter) -> QueryResult:
    """Run view ``name`` over ``[wanted.since, wanted.until)`` with ``wanted``'s filters as bound parameters."""
    sql = view(name).sql(database, ParamBinding())
    # Bind only what this view's SQL names: the store refuses a value without a placeholder.
    parameters = {k: v for k, v in wanted.parameters().items() if re.search(r"\{" + k + r":", sql)}
    # The stack's own store runs our own SQL without the parser round trip (Store.read_view); other engines
    # (the running stack's API) check it as any read.
    read_view: Callable[[str, dict[str, Any]], QueryResult] | None = getattr(engine, "read_view", None)
    if read_view is not None:
        return read_view(sql, parameters)
    return engine.query(sql, parameters, read_only=True)
