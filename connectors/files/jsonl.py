"""Canonical events from a JSON Lines file (one event object a line), e.g. a replay or another tool's export.

>>> JsonlSource(Path("events.jsonl")).publish(publisher)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

import orjson
from pydantic import ValidationError

from connectors.core.contracts import EventSink, FileSource, Parsed, Progress, Rejected, publish_all
from connectors.files import FILE_FORMATS
from schemas.events import EVENT_ADAPTER
from schemas.records import POISON, poison_reason, validation_reason

__all__ = ["JsonlSource", "parse_jsonl"]


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[Parsed]:
    """Each non-blank line as an event, or :class:`Rejected` with a reason starting ``"line N: "``.

    Line numbers start at 1 and count the blank lines, which are skipped.
    """
    for line_no, raw in enumerate(lines, start=1):
        if raw.strip():
            yield _parse_line(line_no, raw)


class JsonlSource(FileSource):
    """Publishes the events of a JSON Lines file in file order; invalid lines go to the dead-letter topic.

    Args:
        path: the file, UTF-8, one canonical event (``type`` post, interaction or reaction) a line.

    >>> JsonlSource(Path("events.jsonl")).publish(publisher, progress=print)  # doctest: +SKIP
    """

    format: ClassVar[str] = "jsonl"
    description: ClassVar[str] = FILE_FORMATS["jsonl"]

    def publish(self, sink: EventSink, progress: Progress | None = None) -> int:
        """Publish every valid line, dead-letter the others, flush; return how many were published."""
        with self.path.open("rb") as handle:
            return publish_all(sink, parse_jsonl(handle), progress)


def _parse_line(line_no: int, raw: bytes) -> Parsed:
    text = raw.rstrip(b"\r\n")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(f"line {line_no}: not JSON: {exc}", text, "not_json")
    # An object goes to the dead letter as JSON, so its author ids get pseudonymised; other text gets masked.
    dead = payload if isinstance(payload, dict) else text
    try:
        return EVENT_ADAPTER.validate_python(payload)
    except ValidationError as exc:
        return Rejected(f"line {line_no}: {validation_reason(exc)}", dead, "schema")
    except Exception as exc:  # validation missed a case: one line must not abort the whole import
        return Rejected(f"line {line_no}: {poison_reason(exc)}", dead, POISON)
