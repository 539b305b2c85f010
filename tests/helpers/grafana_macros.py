"""Expand a ClickHouse panel's ``rawSql`` the way Grafana and grafana-clickhouse-datasource (v4.x) do.

Order (``../shared/grafana/README.md``): the plugin's ``$__conditionalAll``, then Grafana's template variables,
then ad-hoc filters (the dashboards have none), then the plugin's ``$__`` macros. The rules copied here:

- ``$__conditionalAll(cond, $var)`` becomes ``1=1`` when ``$var``'s value, as text, is empty or ``$__all``,
  else ``cond``. Arguments split on commas at bracket depth 1, like the plugin (string literals are not
  special to it either); occurrences are replaced from the last one backwards, with JavaScript's
  ``String.replace`` rules (``$'`` in a condition is a replacement pattern there).
- ``$var``, ``${var}``, ``${var:format}``, ``[[var]]``: formats ``singlequote`` (each value quoted, ``'``
  escaped as ``\\'``, joined by commas), ``doublequote``, ``sqlstring`` (``'`` doubled), ``csv``, ``raw``, and
  Grafana's default ``glob`` (``{a,b}`` for several values). All (``$__all``) outside ``$__conditionalAll``
  means every option of the variable, so the caller must give them. Unknown variables stay as written.
- ``$__timeFilter(c)``, ``$__timeFilter_ms(c)``, ``$__fromTime``, ``$__toTime``, ``$__fromTime_ms``,
  ``$__toTime_ms``, ``$__timeInterval(c)``, ``$__timeInterval_ms(c)``, ``$__interval_s``, ``$__dateFilter(c)``.
  Any other ``$__`` macro left in the SQL raises, so a panel cannot use one these tests do not expand.

Example::

    expand(sql, since, until, {"agency": ALL, "platform": ALL, "tier": ALL})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

__all__ = ["ALL", "MacroError", "conditional_all", "expand", "macros", "template_variables"]

ALL: Final = ("$__all",)
"""The value Grafana gives a multi-value variable set to All."""

_CONDITIONAL = "$__conditionalAll("
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_VARIABLE_IN_ARG = re.compile(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+")


class MacroError(ValueError):
    """The SQL uses a macro, format or variable value this expander cannot render like Grafana does."""


def macro_args(sql: str, open_paren: int) -> list[str]:
    """The arguments of the macro whose ``(`` is at ``open_paren``, split like the plugin's ``getMacroArgs``."""
    args, depth, start = [], 0, open_paren + 1
    for match in re.finditer(r"[(),]", sql[open_paren:]):
        char, at = match.group(), open_paren + match.start()
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 1:
            args.append(sql[start:at])
            start = at + 1
        if depth == 0:
            args.append(sql[start:at])
            return args
    msg = f"unbalanced parentheses after {sql[max(0, open_paren - 30) : open_paren + 1]!r}"
    raise MacroError(msg)


def conditional_all(sql: str, values: Mapping[str, Sequence[str]]) -> str:
    """Replace every ``$__conditionalAll(cond, $var)``: ``1=1`` when ``$var`` is All or empty, else ``cond``."""
    at = sql.rfind(_CONDITIONAL)
    while at != -1:
        args = macro_args(sql, at + len(_CONDITIONAL) - 1)
        if len(args) != 2:
            msg = f"$__conditionalAll takes 2 arguments, got {len(args)}: {args}"
            raise MacroError(msg)
        condition, variable = args
        phrase = condition
        name = _VARIABLE_IN_ARG.search(variable.strip())
        if name and name.group() in values:
            # The plugin compares the variable's value rendered as text: a list is joined by commas.
            text = ",".join(values[name.group()])
            if text in {"", "$__all"}:
                phrase = "1=1"
        sql = _js_replace(sql, f"{_CONDITIONAL}{condition},{variable})", phrase)
        at = sql.rfind(_CONDITIONAL)
    return sql


def _js_replace(text: str, pattern: str, replacement: str) -> str:
    # JavaScript's String.prototype.replace(string, string), which the plugin uses: the first occurrence only,
    # and `$$`, `$&`, dollar-backtick and `$'` in the replacement are patterns (a condition holding a regular expression
    # that ends with `$'` would be garbled by the plugin, and is here too).
    at = text.find(pattern)
    if at == -1:
        return text
    before, after = text[:at], text[at + len(pattern) :]
    patterns = {"$$": "$", "$&": pattern, "$`": before, "$'": after}
    rendered = re.sub(r"\$[$&`']", lambda m: patterns[m.group()], replacement)
    return before + rendered + after


def _format(values: Sequence[str], fmt: str | None) -> str:
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw":
        return ",".join(values)
    if fmt in {None, "glob"}:
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    msg = f"variable format {fmt!r} is not expanded here"
    raise MacroError(msg)


def template_variables(
    sql: str, values: Mapping[str, Sequence[str]], options: Mapping[str, Sequence[str]] | None = None
) -> str:
    """Interpolate Grafana's template variables; All means every option in ``options`` (no allValue is set)."""

    def render(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name not in values:
            return match.group(0)
        chosen = list(values[name])
        if chosen == list(ALL):
            if options is None or name not in options:
                msg = f"${name} is All outside $__conditionalAll: pass its options to expand it"
                raise MacroError(msg)
            chosen = list(options[name])
        return _format(chosen, fmt)

    return _VARIABLE.sub(render, sql)


def macros(sql: str, since: datetime, until: datetime, interval_s: int) -> str:
    """Expand the plugin's ``$__`` macros for ``[since, until]`` and an interval of ``interval_s`` seconds."""
    start_s, end_s = int(since.timestamp()), int(until.timestamp())
    start_ms, end_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    interval_s = max(1, interval_s)
    with_column: dict[str, Callable[[str], str]] = {
        "timeFilter": lambda c: f"{c} >= toDateTime({start_s}) AND {c} <= toDateTime({end_s})",
        "timeFilter_ms": lambda c: (
            f"{c} >= fromUnixTimestamp64Milli({start_ms}) AND {c} <= fromUnixTimestamp64Milli({end_ms})"
        ),
        "dateFilter": lambda c: f"{c} >= toDate('{since:%Y-%m-%d}') AND {c} <= toDate('{until:%Y-%m-%d}')",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {interval_s} second)",
        "timeInterval_ms": lambda c: (
            f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval_s * 1000} millisecond)"
        ),
    }
    plain = {
        "fromTime": f"toDateTime({start_s})",
        "toTime": f"toDateTime({end_s})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({start_ms})",
        "toTime_ms": f"fromUnixTimestamp64Milli({end_ms})",
        "interval_s": str(interval_s),
    }
    for name, render in with_column.items():
        for match in reversed(list(re.finditer(r"\$__" + name + r"\(", sql))):
            args = macro_args(sql, match.end() - 1)
            end = match.end() + sum(len(a) for a in args) + len(args)
            sql = sql[: match.start()] + render(",".join(args).strip()) + sql[end:]
    for name, text in plain.items():
        sql = re.sub(r"\$__" + name + r"(?![A-Za-z0-9_])", text, sql)
    if left := re.search(r"\$__\w+", sql):
        msg = f"macro {left.group()} is not expanded here"
        raise MacroError(msg)
    return sql


def expand(
    sql: str,
    since: datetime,
    until: datetime,
    values: Mapping[str, Sequence[str]],
    *,
    options: Mapping[str, Sequence[str]] | None = None,
    interval_s: int | None = None,
) -> str:
    """``sql`` as ClickHouse receives it from Grafana for ``[since, until]`` and the variables' ``values``.

    ``values`` maps each variable to its chosen values (:data:`ALL` for All, ``[]`` for none); ``interval_s``
    defaults to the range over 1000 points, as a panel about 1000 pixels wide would get it.
    """
    if interval_s is None:
        interval_s = round((until - since).total_seconds() / 1000)
    sql = conditional_all(sql, values)
    sql = template_variables(sql, values, options)
    return macros(sql, since, until, interval_s)
