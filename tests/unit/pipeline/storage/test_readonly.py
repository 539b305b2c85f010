"""The read-only check on ClickHouse's own parse tree (EXPLAIN AST output), without ClickHouse."""

from __future__ import annotations

import pytest

from pipeline.errors import StoreError
from pipeline.storage.readonly import check_read_statement

SELECT = ["SelectWithUnionQuery (children 1)", " ExpressionList (children 1)", "  SelectQuery (children 2)"]


def _from(function: str) -> list[str]:
    return [*SELECT, "   TablesInSelectQuery (children 1)", "    TablesInSelectQueryElement (children 1)",
            "     TableExpression (children 1)", f"      Function {function} (children 1)"]  # fmt: skip


def test_a_plain_select_passes() -> None:
    check_read_statement(SELECT)
    check_read_statement(_from("numbers"))


@pytest.mark.parametrize("kind", ["InsertQuery (children 3)", "DropQuery  t", "AlterQuery  t (children 2)"])
def test_statements_that_write_are_refused(kind: str) -> None:
    with pytest.raises(StoreError, match="only one SELECT"):
        check_read_statement([kind])


@pytest.mark.parametrize("function", ["file", "fileCluster", "url", "urlCluster", "s3Cluster", "remoteSecure"])
def test_table_functions_that_reach_out_are_refused(function: str) -> None:
    with pytest.raises(StoreError, match=function):
        check_read_statement(_from(function))


def test_into_outfile_is_refused() -> None:
    with pytest.raises(StoreError, match="OUTFILE"):
        check_read_statement([*SELECT, " Literal '/tmp/x'", " Identifier Native"])


def test_nothing_parsed_is_refused() -> None:
    with pytest.raises(StoreError, match="could not be parsed"):
        check_read_statement([])
