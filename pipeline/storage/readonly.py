"""What an ad-hoc query may do: read, within limits, in a session of its own.

Queries that come from outside (the local API's ``POST /query``, reports through it) run on a second
ClickHouse session, never the ingest session: a query can then neither change the settings ingestion runs
with nor wait behind its inserts. ClickHouse itself enforces ``readonly = 1`` and the limits below on that
session. Before a query runs, ClickHouse's own parser (``EXPLAIN AST``) says what it is: only a SELECT,
SHOW or DESCRIBE passes, without table functions that reach files, URLs or other servers, and without
``INTO OUTFILE`` (which chDB, acting as its own client, would execute even in read-only mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Final

from pipeline.errors import StoreError

__all__ = ["ONE_READ_STATEMENT", "READ_LIMITS", "READ_STATEMENTS", "SAFE_TABLE_FUNCTIONS", "check_read_statement"]

READ_LIMITS: Final = {
    "readonly": 1,
    "max_execution_time": 60,
    "max_result_rows": 1_000_000,
    "result_overflow_mode": "throw",
    "max_memory_usage": 4 * 1024**3,
}
"""Settings of every ad-hoc query (bounded time, rows and memory; the engine refuses any change of them)."""

ONE_READ_STATEMENT: Final = "only one SELECT/WITH/SHOW/DESCRIBE statement is allowed here"
READ_STATEMENTS: Final = frozenset({"SelectWithUnionQuery", "ShowTables", "ShowCreateTableQuery", "DescribeQuery"})
SAFE_TABLE_FUNCTIONS: Final = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generateSeries"})
"""Table functions that only generate rows; every other one may read files, URLs or other servers."""


def check_read_statement(ast_lines: Sequence[str]) -> None:
    """Raise :class:`StoreError` unless ``EXPLAIN AST`` output describes a harmless read.

    ``ast_lines`` are the rows of ``EXPLAIN AST <query>``: one node a line, indented one space per level.
    """
    if not ast_lines:
        msg = f"{ONE_READ_STATEMENT}; the query could not be parsed"
        raise StoreError(msg)
    kind = ast_lines[0].split()[0]
    if kind not in READ_STATEMENTS:
        msg = f"{ONE_READ_STATEMENT}, not a {kind}"
        raise StoreError(msg)
    functions = _table_functions(ast_lines)
    if unsafe := sorted(functions - SAFE_TABLE_FUNCTIONS):
        msg = f"table functions that reach files, URLs or servers are refused here: {', '.join(unsafe)}"
        raise StoreError(msg)
    # INTO OUTFILE is a literal (the path) directly under the statement.
    if kind == "SelectWithUnionQuery" and any(
        _depth(line) == 1 and line.strip().startswith("Literal") for line in ast_lines
    ):
        msg = "INTO OUTFILE is refused here"
        raise StoreError(msg)


def _table_functions(ast_lines: Sequence[str]) -> set[str]:
    # A table function is a Function node that is the first child of a TableExpression.
    found = set()
    for line, following in pairwise(ast_lines):
        if line.strip().startswith("TableExpression") and following.strip().startswith("Function "):
            found.add(following.split()[1])
    return found


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
