"""The file sources by format name: ``serambi import`` dispatches here.

>>> source = file_source("twcs", Path("twcs.csv"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from connectors.core.contracts import FileSource
from connectors.core.errors import ConnectorError
from connectors.files.jsonl import JsonlSource
from connectors.files.twcs import TwcsSource

__all__ = ["FILE_SOURCES", "file_source"]

FILE_SOURCES: Final[dict[str, type[FileSource]]] = {source.format: source for source in (JsonlSource, TwcsSource)}


def file_source(fmt: str, path: Path) -> FileSource:
    """The source reading ``path`` as format ``fmt``; :class:`ConnectorError` naming the known formats otherwise."""
    try:
        source = FILE_SOURCES[fmt]
    except KeyError:
        msg = f"unknown file format {fmt!r}; known: {', '.join(sorted(FILE_SOURCES))}"
        raise ConnectorError(msg) from None
    return source(path)
