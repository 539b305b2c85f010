"""``serambi report``: the cross-agency table in the terminal, or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from pipeline.runtime.client import StackClient
from pipeline.runtime.statefile import read_state
from pipeline.settings import Settings
from pipeline.storage.sql.report import ReportWindow, build_report
from pipeline.storage.store import Store

__all__ = ["show_report"]

_COLOURS = {"dinner_party": "green", "mixed": "yellow", "soapbox": "red", "insufficient_data": "bright_black"}
_COLUMNS = (
    ("agency_id", "agency", 18),
    ("class", "class", 18),
    ("citizen_messages", "msgs", 7),
    ("answered", "answered", 9),
    ("pending", "pending", 8),
    ("overdue", "overdue", 8),
    ("reply_rate", "reply%", 7),
    ("sla_compliance", "sla%", 6),
    ("median_response_seconds", "median", 9),
    ("p90_response_seconds", "p90", 9),
    ("two_way_ratio", "2-way", 6),
    ("pull_share", "pull%", 6),
    ("backlog", "backlog", 8),
    ("oldest_unanswered_seconds", "oldest", 9),
)


def show_report(settings: Settings, window: ReportWindow, fmt: str, sort: str, say: Callable[[str], None]) -> None:
    """Print the report, from the running stack if one is up, else from the local store."""
    state = read_state(settings.state_file)
    if state is not None:
        _print(build_report(StackClient(state.api_url), settings.clickhouse_database, window), fmt, sort, say)
        return
    store = Store(settings)
    try:
        store.migrate()
        _print(build_report(store, settings.clickhouse_database, window), fmt, sort, say)
    finally:
        store.close()


def _print(rows: list[dict[str, Any]], fmt: str, sort: str, say: Callable[[str], None]) -> None:
    if fmt == "json":
        say(orjson.dumps({"agencies": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    descending = sort not in ("agency_id", "class")
    known = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=descending)
    rows = known + [r for r in rows if r[sort] is None]  # agencies without the figure go last
    say("".join(f"{title:>{width}}" if i else f"{title:<{width}}" for i, (_, title, width) in enumerate(_COLUMNS)))
    for row in rows:
        cells = [_cell(key, row[key], width, i) for i, (key, _, width) in enumerate(_COLUMNS)]
        say("".join(cells))
    if not rows:
        say("no agencies yet")


def _cell(key: str, value: Any, width: int, index: int) -> str:
    if key == "class":
        return click.style(f"{value:>{width}}", fg=_COLOURS.get(str(value)))
    if value is None:
        text = "-"
    elif key.endswith(("_rate", "_compliance", "_share", "_ratio")):
        text = f"{100 * value:.0f}"
    elif key.endswith("_seconds"):
        text = _duration(float(value))
    else:
        text = str(value)
    return f"{text:<{width}}" if index == 0 else f"{text:>{width}}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
