"""Server-sent events (``text/event-stream``) as :class:`SseEvent` s: a pure, incremental parser.

The grammar is the WHATWG HTML standard's ("Server-sent events", *interpreting an event stream*):

- a line starting with ``:`` is a comment (Mastodon's ``:thump`` heartbeat, ``:)`` on connect): ignored;
- ``field: value`` sets a field (one space after the colon is dropped; a line without a colon is a field with an
  empty value); ``data`` lines are joined with ``\\n``, ``event`` names the event (default ``message``), ``id``
  is remembered across events (one holding NUL is ignored), other fields (``retry``) are ignored;
- a blank line dispatches the event, unless it has no ``data`` line (then it is dropped, as browsers do);
- lines end in ``\\n``, ``\\r\\n`` or ``\\r``; a byte-order mark at the very start is dropped.

:class:`SseDecoder` takes raw byte chunks as a socket delivers them (a line may be split anywhere, even inside a
UTF-8 character); :func:`parse_sse` parses a whole text. Neither does I/O, and neither raises on any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_LINE_BYTES", "SseDecoder", "SseEvent", "parse_sse"]

MAX_LINE_BYTES: Final = 4 * 1024 * 1024
"""The longest line kept (4 MiB): a longer one is dropped, so a broken server cannot exhaust memory."""
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its name, its data (lines joined with ``\\n``) and the last event id seen."""

    event: str
    data: str
    id: str | None = None


class SseDecoder:
    """Incremental SSE parser: :meth:`feed` byte chunks, get the events they complete.

    Args:
        max_line_bytes: the longest line kept (default :data:`MAX_LINE_BYTES`); a longer one is dropped whole.

    >>> decoder = SseDecoder()
    >>> decoder.feed(b":thump\\nevent: delete\\nda")
    []
    >>> decoder.feed(b"ta: 1123\\n\\n")
    [SseEvent(event='delete', data='1123', id=None)]
    """

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buffer = b""
        self._started = False
        self._skipping = False  # inside a line that grew past the limit: drop it up to its end
        self._event = ""
        self._data: list[str] = []
        self.last_id: str | None = None
        """The last ``id`` field seen (SSE's reconnection id; Mastodon sends none)."""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events that ``chunk`` completes, in order."""
        buffer = self._buffer + chunk
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []  # maybe the start of a byte-order mark: wait for more
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        events: list[SseEvent] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # a "\r" at the end of a chunk may be the first half of "\r\n": wait for the next chunk
            line, start = buffer[start : match.start()], match.end()
            if self._skipping:
                self._skipping = False
                continue
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        if len(self._buffer) > self._max:
            self._buffer, self._skipping = b"", True
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> SseEvent | None:
        name, data = self._event or "message", self._data
        self._event, self._data = "", []
        return SseEvent(name, "\n".join(data), self.last_id) if data else None


def parse_sse(text: str | bytes) -> list[SseEvent]:
    """Every complete event of a whole ``text/event-stream`` body (an unfinished last event is left out).

    >>> parse_sse(":)\\nevent: update\\ndata: {}\\n\\n")
    [SseEvent(event='update', data='{}', id=None)]
    """
    raw = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    decoder = SseDecoder()
    return decoder.feed(raw) + decoder.feed(b"\n" if raw.endswith(b"\r") else b"")
