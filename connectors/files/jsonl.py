"""Canonical events from a JSON Lines file (one event object a line), e.g. a replay or another tool's export.

>>> JsonlConnector(Path("events.jsonl")).publish(publisher)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from connectors.core.publisher import Publisher
from schemas.events import EVENT_ADAPTER, Event
from schemas.records import validation_reason

__all__ = ["JsonlConnector", "parse_jsonl"]

_PROGRESS_EVERY = 1000


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[tuple[int, Event | None, str | None, bytes]]:
    """Yield ``(line_no, event, None, raw)`` for each valid line and ``(line_no, None, reason, raw)`` otherwise.

    Line numbers start at 1 and count blank lines, which are skipped.
    """
    for line_no, event, _error_type, reason, raw, _payload in _parse(lines):
        yield line_no, event, reason, raw


class JsonlConnector:
    """Publishes the events of a JSON Lines file; invalid lines go to the dead-letter topic.

    ``path``: the file, UTF-8, one canonical event (``type`` post, interaction or reaction) a line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, publisher: Publisher, progress: Callable[[int], None] | None = None) -> int:
        """Publish every valid line in file order, dead-letter the others, flush; return how many were published.

        ``progress`` (default none) is called with the running count every 1,000 lines and at the end.
        """
        published = 0
        with self.path.open("rb") as handle:
            for line_no, event, error_type, reason, raw, payload in _parse(handle):
                if event is not None:
                    published += publisher.publish(event)
                else:
                    # A parsed object goes as JSON so its author ids are pseudonymised, text lines get masked.
                    dead = payload if isinstance(payload, dict) else raw.rstrip(b"\r\n")
                    publisher.dead_letter(reason or "invalid", dead, error_type=error_type or "invalid")
                if progress is not None and line_no % _PROGRESS_EVERY == 0:
                    progress(published)
        publisher.flush()
        if progress is not None:
            progress(published)
        return published


def _parse(
    lines: Iterable[bytes],
) -> Iterator[tuple[int, Event | None, str | None, str | None, bytes, Any]]:
    """``(line_no, event, error_type, reason, raw, parsed JSON or None)`` for each non-blank line."""
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield line_no, None, "not_json", f"line {line_no}: not JSON: {exc}", raw, None
            continue
        try:
            event = EVENT_ADAPTER.validate_python(payload)
        except ValidationError as exc:
            yield line_no, None, "schema", f"line {line_no}: {validation_reason(exc)}", raw, payload
            continue
        yield line_no, event, None, None, raw, payload
