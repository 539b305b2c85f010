"""File formats for ``serambi import FORMAT FILE``.

:data:`FILE_FORMATS` names them for the CLI without importing a parser; the sources themselves are in
:data:`connectors.files.registry.FILE_SOURCES`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FILE_FORMATS"]

FILE_FORMATS: Final[dict[str, str]] = {
    "jsonl": "canonical events, one JSON object a line (a replay, or another tool's export)",
    "twcs": "Kaggle Customer Support on Twitter CSV (companies become agencies on X)",
}
"""Format name -> one-line description; each :class:`connectors.core.contracts.FileSource` takes its own from here."""
