"""Bluesky through Jetstream: one websocket for every agency's Bluesky conversations, resumed by ``time_us``.

Jetstream (``wss://jetstream2.us-east.bsky.network/subscribe``) turns the AT Protocol firehose into JSON frames
(no auth, no signatures). It filters only by collection and by *author* DID (``wantedDids``): filtering by the
agencies' DIDs would lose every citizen's reply, which is written by the citizen. So this connector subscribes
to the whole network's posts, likes and reposts (``wantedCollections=app.bsky.feed.post|like|repost``) and keeps
what involves a directory DID client-side (:mod:`connectors.streams.bluesky_parse` says what is kept and how it
maps). Bandwidth: that is every post, like and repost on Bluesky, around 480 bytes a frame uncompressed (the
Jetstream author's 2024 measurement), likes several times as many as posts: expect a steady few hundred to a
thousand frames a second and gigabytes a day, nearly all dropped; plan the office's link and CPU for it (zstd
with Jetstream's dictionary would cut it by half but needs a zstandard dependency; not done).

Deviation from the other connectors: the stream serves *all* agencies at once, so :class:`BlueskyJetstream`
takes the :class:`~schemas.agency.Directory` (Bluesky ``account_id`` = the account's DID) and a per-platform
``pseudonym`` (DID -> pseudonym, the publisher's for Bluesky) instead of one ``AccountContext``; every event's
``agency_id``/``account_id`` is that of the directory account whose conversation it is.

Cursor: ``{"time_us": <time_us of the newest frame processed>}``. Each connection asks for ``cursor=<time_us -
rewind_seconds>``: Jetstream replays from there, so a reconnect or a restart leaves no gap, and the few seconds
replayed (safety against frames in flight) come again under the same event ids. A first start uses ``since``;
Jetstream keeps a limited history (hours to days), so an older ``since`` starts at its oldest frame (a longer
backfill needs the AppView, not this stream). Frames are read in pages: one :class:`Page` per ``max_frames``
frames (500) or ``max_wait_seconds`` (1 s), whichever comes first, also when every frame was dropped (the cursor
moves on); ``newest`` is the last frame's ``time_us``. An idle second gives an empty page, so a runner sees its
stop signal.

Errors: a refused handshake answers ``Retry(after=Retry-After)`` on 429 with the header, else
:class:`~connectors.core.errors.Unreachable` (the runner backs off), as does any network failure; a connection
that drops (no close frame, or a close code other than 1000/1001) yields the frames received, then raises
``Unreachable``; a normal close ends :meth:`BlueskyJetstream.pages`. Bad frames never stop the stream: they
become rejections.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

import aiohttp

from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import Page, Parsed, StreamSource
from connectors.core.errors import Retry, Unreachable
from connectors.streams.bluesky_parse import SOURCE, WANTED_COLLECTIONS, Frame, Ref, read_frame
from schemas.agency import Directory
from schemas.events import Platform
from schemas.timeutil import require_aware

__all__ = ["DEFAULT_BASE_URL", "BlueskyJetstream", "JetstreamReader", "subscribe_url"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "wss://jetstream2.us-east.bsky.network/subscribe"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NORMAL_CLOSE = frozenset({1000, 1001})  # normal closure, going away (a server restart)
_DATA = frozenset({aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY})


def subscribe_url(base_url: str, collections: Sequence[str], cursor_us: int) -> str:
    """The subscription URL: ``<base>?wantedCollections=...&cursor=<cursor_us>``.

    >>> subscribe_url("wss://j/subscribe", ["app.bsky.feed.post"], 5)
    'wss://j/subscribe?wantedCollections=app.bsky.feed.post&cursor=5'
    """
    query = urlencode([*(("wantedCollections", name) for name in collections), ("cursor", str(cursor_us))])
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


class JetstreamReader:
    """Reads frames in order, remembering (bounded, in the process) the conversation of every record it emitted.

    Args:
        directory: the agencies (Bluesky accounts are DIDs).
        pseudonym: keyed pseudonym of a DID.
        max_known: the most records remembered for later deletes and likes (oldest dropped first; default 100,000).

    >>> reader = JetstreamReader(directory, pseudonym); frame = reader.read(message)  # doctest: +SKIP
    """

    def __init__(self, directory: Directory, pseudonym: Callable[[str], str], *, max_known: int = 100_000) -> None:
        if max_known < 1:
            msg = f"max_known must be at least 1, got {max_known}"
            raise ValueError(msg)
        self._directory, self._pseudonym, self._max = directory, pseudonym, max_known
        self._known: OrderedDict[str, Ref] = OrderedDict()
        self._view: Mapping[str, Ref] = MappingProxyType(self._known)
        self.dropped: Counter[str] = Counter()
        """Frames that gave nothing, by reason (``unrelated``, ``identity``, ``account``, ...)."""

    def read(self, text: str | bytes) -> Frame:
        """One websocket message as a :class:`Frame`; learn the records it emitted."""
        frame = read_frame(text, self._directory, self._pseudonym, self._view)
        for key, ref in frame.learnt.items():
            self._known[key] = ref
            self._known.move_to_end(key)
            if len(self._known) > self._max:
                self._known.popitem(last=False)
        if frame.dropped:
            self.dropped[frame.dropped] += 1
        return frame


@dataclass
class _Batch:
    """The frames read since the last page."""

    items: list[Parsed] = field(default_factory=list)
    frames: int = 0
    last_us: int | None = None
    started: datetime | None = None


class BlueskyJetstream(StreamSource[dict[str, int]]):
    """Every agency's Bluesky posts, replies, mentions, likes, reposts, edits and deletes from Jetstream.

    Args:
        directory: the agencies; their Bluesky ``account_id`` is the account's DID (``did:plc:...``).
        pseudonym: DID -> keyed pseudonym (the publisher's for Bluesky), for citizens' record keys (pure).
        since: where the stream starts when no cursor was resumed (aware).
        base_url: the Jetstream ``/subscribe`` URL (default :data:`DEFAULT_BASE_URL`; tests pass a fake).
        clock: times the pages (default the system clock) and reads ``Retry-After`` dates.
        rewind_seconds: how far before the cursor a connection starts (default 5 s).
        collections: the collections subscribed to (default posts, likes, reposts).
        max_frames: the most frames in one page (default 500); max_wait_seconds: the longest a page collects (1 s).
        max_known: records remembered for later deletes and likes (default 100,000).
        connect_timeout_seconds: for the connection and the handshake (default 30 s); heartbeat_seconds: the
            interval of websocket pings that detect a silent dead connection (default 30 s).

    >>> stream = BlueskyJetstream(directory, partial(pseudonymizer.pseudonym, "bluesky"), since=start)  # doctest: +SKIP
    >>> await follow_stream(stream, publisher, stop, account="bluesky:jetstream")  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.BLUESKY

    def __init__(  # noqa: PLR0913 - a stream's whole configuration, keyword-only
        self,
        directory: Directory,
        pseudonym: Callable[[str], str],
        *,
        since: datetime,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
        rewind_seconds: float = 5.0,
        collections: Sequence[str] = WANTED_COLLECTIONS,
        max_frames: int = 500,
        max_wait_seconds: float = 1.0,
        max_known: int = 100_000,
        connect_timeout_seconds: float = 30.0,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        if max_frames < 1 or max_wait_seconds <= 0 or rewind_seconds < 0:
            msg = "max_frames must be at least 1, max_wait_seconds above 0 and rewind_seconds not negative"
            raise ValueError(msg)
        self._base_url = base_url
        self._clock = clock
        self._rewind_us = round(rewind_seconds * 1_000_000)
        self._collections = tuple(collections)
        self._max_frames = max_frames
        self._max_wait = timedelta(seconds=max_wait_seconds)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_seconds)
        self._heartbeat = heartbeat_seconds
        self._reader = JetstreamReader(directory, pseudonym, max_known=max_known)
        self._time_us = (require_aware(since, "since") - _EPOCH) // timedelta(microseconds=1)
        for agency in directory.agencies:
            for account in agency.accounts:
                if account.platform is Platform.BLUESKY and not account.account_id.startswith("did:"):
                    log.warning("bluesky account %s of %s is not a DID: it will match nothing", account, agency.id)

    @property
    def dropped(self) -> Mapping[str, int]:
        """Frames that gave nothing, by reason (``unrelated``, ``identity``, ``account``, ...), since start."""
        return MappingProxyType(self._reader.dropped)

    def url(self) -> str:
        """The URL the next connection opens: the collections, and the cursor rewound by ``rewind_seconds``."""
        return subscribe_url(self._base_url, self._collections, max(self._time_us - self._rewind_us, 0))

    def snapshot(self) -> dict[str, int]:
        """``{"time_us": <time_us of the newest frame of the pages yielded>}``."""
        return {"time_us": self._time_us}

    def resume(self, state: dict[str, int]) -> None:
        """Continue after a cursor :meth:`snapshot` returned; ``ValueError`` when it is not one."""
        value: Any = state.get("time_us") if isinstance(state, Mapping) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            msg = f"not a Jetstream cursor: {state!r}; expected {{'time_us': <unix microseconds>}}"
            raise ValueError(msg)
        self._time_us = value

    async def pages(self) -> AsyncIterator[Page]:
        """Connect from the cursor and yield pages until the stream ends (see the module doc for errors)."""
        url = self.url()
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.ws_connect(url, heartbeat=self._heartbeat) as socket,
            ):
                async for page in self._read(socket):
                    yield page
        except aiohttp.WSServerHandshakeError as exc:
            raise self._refused(exc) from exc
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            msg = f"bluesky jetstream {self._base_url}: {type(exc).__name__}: {exc}"
            raise Unreachable(msg) from exc

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Page]:
        batch = _Batch()
        while True:
            try:
                message = await socket.receive(timeout=self._remaining(batch))
            except TimeoutError:
                yield self._page(batch)
                batch = _Batch()
                continue
            if message.type not in _DATA:
                break
            now = self._clock.now()
            self._add(batch, self._reader.read(message.data), now)
            if batch.frames >= self._max_frames or now - (batch.started or now) >= self._max_wait:
                yield self._page(batch)
                batch = _Batch()
        if batch.frames:
            yield self._page(batch)
        if message.type is not aiohttp.WSMsgType.CLOSE or socket.close_code not in _NORMAL_CLOSE:
            msg = f"bluesky jetstream: the connection dropped ({message.type.name}, close code {socket.close_code})"
            raise Unreachable(msg)

    def _remaining(self, batch: _Batch) -> float:
        if batch.started is None:
            return self._max_wait.total_seconds()
        left = self._max_wait - (self._clock.now() - batch.started)
        return max(left.total_seconds(), 0.01)

    @staticmethod
    def _add(batch: _Batch, frame: Frame, now: datetime) -> None:
        batch.items.extend(frame.items)
        batch.frames += 1
        batch.started = batch.started or now
        if frame.time_us is not None:
            batch.last_us = frame.time_us

    def _page(self, batch: _Batch) -> Page:
        """The page of ``batch``; the cursor moves past it."""
        if batch.last_us is None:
            return Page(tuple(batch.items))
        self._time_us = max(self._time_us, batch.last_us)
        return Page(tuple(batch.items), newest=_EPOCH + timedelta(microseconds=batch.last_us))

    def _refused(self, exc: aiohttp.WSServerHandshakeError) -> Retry | Unreachable:
        reason = f"bluesky jetstream refused the connection: HTTP {exc.status} {exc.message}"
        wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None, self._clock.now())
        if exc.status == 429 and wait is not None:
            return Retry(after=wait, reason=reason)
        return Unreachable(reason)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None
