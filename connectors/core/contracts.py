"""The contracts every connector is written against: where events go, and the three kinds of source.

- :class:`EventSink`: what a connector hands events to (the Kafka ``Publisher``; ``ListEventSink`` in tests).
- :class:`FileSource`: a file format for ``serambi import FORMAT FILE`` (registry: ``connectors.files.registry``).
- :class:`PollingSource`: pages of a platform API behind a cursor that is snapshot and resumed; a 429/5xx
  raises :class:`Retry` ``(after=seconds)``.
- :class:`StreamSource`: a long-lived stream (server-sent events, websocket, chunked JSON lines) resumed from a
  cursor after every reconnect.
- :class:`WebhookSource`: platform pushes: subscription handshake, signature check, pure parse.

Parsing yields :data:`Parsed` items, each an event or :class:`Rejected` input bound for the dead-letter topic,
so failures are routed, never swallowed; :func:`publish_all` hands both to a sink.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.errors import Retry
from schemas.agency import Account, Agency, Directory
from schemas.events import Event

__all__ = [
    "PROGRESS_EVERY",
    "AccountContext",
    "EventSink",
    "FileSource",
    "Page",
    "Parsed",
    "PollingSource",
    "Progress",
    "Rejected",
    "Retry",
    "StreamSource",
    "WebhookResponse",
    "WebhookSource",
    "publish_all",
]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1000
Progress = Callable[[int], None]
"""Called with the running count of published events."""
CursorT = TypeVar("CursorT")


@dataclass(frozen=True)
class Rejected:
    """Input that cannot become a canonical event: it goes to the dead-letter topic with ``reason``.

    Args:
        reason: what is wrong and where, e.g. ``"line 3: not JSON"``.
        raw: the input (a mapping is pseudonymised, text masked, before it leaves the process).
        error_type: a label from a small fixed set (default ``"invalid"``).

    >>> Rejected("row 7: tweet_id is missing", {"author_id": "700012"}, "invalid_row")  # doctest: +SKIP
    """

    reason: str
    raw: Any
    error_type: str = "invalid"


Parsed = Event | Rejected
"""What parsing one piece of input gives: a canonical event, or the input rejected with a reason."""


class EventSink(Protocol):
    """Where a connector hands its events: ``connectors.core.publisher.Publisher`` in production."""

    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Queue one event; return ``False`` when it was invalid (it was dead-lettered instead)."""

    def dead_letter(self, reason: str, raw: Any, *, error_type: str = "invalid") -> None:
        """Route input that cannot be used to the dead-letter topic."""

    def flush(self) -> None:
        """Deliver everything queued; raise ``PublishError`` when the broker did not acknowledge it."""


def publish_all(sink: EventSink, items: Iterable[Parsed], progress: Progress | None = None) -> int:
    """Publish the events, dead-letter the rejected input, flush; return how many events ``sink`` accepted.

    ``progress`` (default none) gets the running count every :data:`PROGRESS_EVERY` items and at the end.
    """
    published = 0
    for number, item in enumerate(items, start=1):
        if isinstance(item, Rejected):
            sink.dead_letter(item.reason, item.raw, error_type=item.error_type)
        else:
            published += sink.publish(item)
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(published)
    sink.flush()
    if progress is not None:
        progress(published)
    return published


class FileSource(ABC):
    """A file format that becomes canonical events: ``serambi import FORMAT FILE``.

    Subclasses set ``format`` (the CLI name and the publisher's source label) and ``description`` (one line
    for ``--help``) and implement :meth:`publish`; a file that brings agencies of its own overrides :meth:`prepare`.

    Args:
        path: the file.

    >>> source = FILE_SOURCES["twcs"](Path("twcs.csv"))  # doctest: +SKIP
    >>> directory = source.prepare(directory)  # register its new agencies before publishing  # doctest: +SKIP
    >>> say(source.summary); source.publish(publisher, progress=print)  # doctest: +SKIP
    """

    format: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self, directory: Directory) -> Directory:
        """Read what must be known before publishing; return ``directory`` plus the agencies the file brings.

        By default a file brings none.
        """
        return directory

    @property
    def summary(self) -> str:
        """One line for people about what will be imported (after :meth:`prepare` it may count things)."""
        return f"{self.path}: {self.description}"

    @abstractmethod
    def publish(self, sink: EventSink, progress: Progress | None = None) -> int:
        """Hand the file's events to ``sink`` and dead-letter its rejected input, flush; return the count published.

        ``progress`` (default none) gets the running count now and then and at the end.
        """


@dataclass(frozen=True)
class Page:
    """One answer of a polled API.

    Args:
        items: its events and rejected entries.
        more: another page is ready now (e.g. the API returned a next cursor): poll again without waiting.
    """

    items: Sequence[Parsed]
    more: bool = False
    newest: datetime | None = None
    """The platform time of the newest item seen so far (the lag behind the platform is now - newest)."""


@dataclass(frozen=True)
class AccountContext:
    """What a polling or streaming connector knows of the one agency account it reads.

    Args:
        agency: the agency owning the account (its id goes into every event).
        account: the account (platform and immutable id).
        directory: every agency, to tell other agencies' accounts from citizens (by id, never by name).
        pseudonym: platform user id -> keyed pseudonym, for event ids that name a person (pure).
        since: where a backfill starts when no cursor was stored (aware UTC).
    """

    agency: Agency
    account: Account
    directory: Directory
    pseudonym: Callable[[str], str]
    since: datetime


class PollingSource(ABC, Generic[CursorT]):
    """Pages of a platform API read through a cursor that can be snapshot and resumed (like Bytewax's).

    Implement :meth:`next_page` (return the next page and move the cursor; raise ``Retry(after=seconds)``
    on 429/5xx), :meth:`snapshot` and :meth:`resume`. :meth:`run` is the loop around them.

    Args:
        interval_seconds: wait after a page without ``more`` before polling again (default 60 s).

    >>> class Mentions(PollingSource[str]): ...  # doctest: +SKIP
    >>> Mentions(interval_seconds=30).run(publisher, stop, checkpoint=cursors.save)  # doctest: +SKIP
    """

    def __init__(self, *, interval_seconds: float = 60.0) -> None:
        self.interval_seconds = interval_seconds

    @abstractmethod
    def next_page(self) -> Page:
        """Fetch and parse the page after the cursor, then move the cursor past it."""

    @abstractmethod
    def snapshot(self) -> CursorT:
        """The cursor, as JSON-able state that :meth:`resume` accepts."""

    @abstractmethod
    def resume(self, state: CursorT) -> None:
        """Continue after a cursor :meth:`snapshot` returned (possibly in another process)."""

    def run(
        self,
        sink: EventSink,
        stop: threading.Event,
        *,
        clock: Clock = SYSTEM_CLOCK,
        checkpoint: Callable[[CursorT], None] | None = None,
    ) -> int:
        """Poll until ``stop`` is set; return how many events ``sink`` accepted.

        Each page is published and flushed *before* its cursor goes to ``checkpoint``, so a crash re-reads
        at most the pages after the last checkpoint (event ids make the redelivery harmless). ``Retry``
        waits its ``after`` seconds on ``clock``; a ``PublishError`` from the sink propagates.
        """
        published = 0
        while not stop.is_set():
            try:
                page = self.next_page()
            except Retry as exc:
                log.warning("%s: %s", type(self).__name__, exc)
                clock.sleep(exc.after_seconds, stop)
                continue
            published += publish_all(sink, page.items)
            if checkpoint is not None:
                checkpoint(self.snapshot())
            if not page.more:
                clock.sleep(self.interval_seconds, stop)
        return published


class StreamSource(ABC, Generic[CursorT]):
    """A long-lived platform stream read from a cursor, resumed after every reconnect without gaps.

    Implement :meth:`pages` (connect from the cursor, yield pages as items arrive, move the cursor past each
    page as it is yielded; end when the stream ends; raise :class:`Retry` when the platform says to wait and
    :class:`~connectors.core.errors.Unreachable` when the connection fails), :meth:`snapshot` and :meth:`resume`.
    The runner reconnects with back-off and resumes from :meth:`snapshot`: a platform that replays from a cursor
    (Jetstream's ``cursor=time_us``, Mastodon's ``since_id`` catch-up) never leaves a gap, and event ids make the
    overlap harmless.
    """

    @abstractmethod
    def pages(self) -> AsyncIterator[Page]:
        """Connect and yield pages until the stream ends (an async generator)."""

    @abstractmethod
    def snapshot(self) -> CursorT:
        """The cursor after the last page yielded, as JSON-able state that :meth:`resume` accepts."""

    @abstractmethod
    def resume(self, state: CursorT) -> None:
        """Continue after a cursor :meth:`snapshot` returned (possibly in another process)."""


@dataclass(frozen=True)
class WebhookResponse:
    """What the webhook ingress answers the platform, e.g. ``WebhookResponse(200, challenge)``.

    Args:
        status: HTTP status.
        body: response text (default empty).
        content_type: default ``text/plain``.
    """

    status: int
    body: str = ""
    content_type: str = "text/plain"


class WebhookSource(ABC):
    """Platform pushes: a subscription handshake, a signature check and a pure parse.

    The ingress answers :meth:`handshake` on GET; on POST it calls :meth:`verify` on the raw body, then
    :meth:`parse` on the decoded JSON, and hands the items to an :class:`EventSink` (:func:`publish_all`).
    ``source`` names the connector (the publisher's source label).

    >>> items = FacebookWebhook(secret).parse(orjson.loads(body))  # doctest: +SKIP
    """

    source: ClassVar[str]
    route: ClassVar[str] = ""
    """The ingress path, ``/webhooks/<name>``."""
    signature_header: ClassVar[str] = ""
    """The (lower-case) header carrying the signature, e.g. ``x-hub-signature-256``."""

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        """Whether the delivery carries a signature at all (missing: 401; present but wrong: 403)."""
        return bool(self.signature_header and headers.get(self.signature_header))

    def handshake(self, query: Mapping[str, str]) -> WebhookResponse | None:
        """Answer a subscription check (e.g. Meta's ``hub.challenge``); ``None``: not one (the default)."""
        return None

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the platform signed ``body`` (header names lower-case; compare digests in constant time)."""

    @abstractmethod
    def parse(self, payload: Any) -> list[Parsed]:
        """One verified delivery, JSON-decoded, as events and rejected entries; pure (no I/O, no clock)."""
