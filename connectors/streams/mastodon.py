"""Mastodon's streaming API for one agency account: server-sent events or a websocket, with a REST catch-up.

Transports (``transport``, default ``"sse"``):

- ``"sse"``: ``GET {streaming_url}/api/v1/streaming/user`` (``text/event-stream``: ``:`` heartbeat comments,
  ``event: <name>`` + ``data: <payload>`` + a blank line; parsed by :class:`connectors.streams.sse.SseDecoder`);
- ``"websocket"``: ``wss://{streaming host}/api/v1/streaming?stream=user``, text frames
  ``{"stream": [...], "event": ..., "payload": "<JSON string>"}``
  (:func:`~connectors.polling.mastodon_parse.decode_frame`).

Both carry the token as ``Authorization: Bearer`` (every stream needs a user token since Mastodon 4.2). The
streaming server may live on another host (``GET /api/v1/instance`` -> ``configuration.urls.streaming``):
``streaming_url`` (default: the instance). Events are parsed as the poller's and the webhook's
(:mod:`connectors.polling.mastodon_parse`): ``update``, ``notification`` (mention, favourite, reblog),
``status.update`` (an edit) and ``delete`` (a removal of a status this process remembers: a bounded map local id
-> status key -> event; a delete of anything else is skipped, since it cannot be attributed).

Resume: Mastodon streams do not replay. The cursor holds the newest status id of the ``update`` events and the
newest notification id, and the first step after every (re)connect, once the stream is open (so nothing sent
meanwhile is lost), is a REST catch-up of the gap through the :class:`HttpClient` given:
``GET /api/v1/timelines/home?min_id=<status id>`` (the ``update`` events are the home timeline) and
``GET /api/v1/notifications?types[]=...&min_id=<notification id>``, page after page while pages are full.
Entries seen are remembered (bounded) and skipped when the stream delivers them again: no gap, no duplicate.
With no cursor yet (a first start) the catch-up only anchors: one ``limit=1`` request per feed gives the newest
ids (``"0"`` for an empty feed) and an empty page carries that cursor; reading the past is the poller's backfill.
Not caught up: edits and deletes during the gap (no REST list has them), and a late remote status whose id is
older than the cursor (Mastodon dates a remote status' id by its creation).

Cursor (``snapshot()``): ``{"version": 1, "status_id": id | None, "notification_id": id | None}``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, NoReturn

import aiohttp
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, Rejected, StreamSource
from connectors.core.errors import Unreachable
from connectors.core.http import HttpClient, HttpResponse
from connectors.polling.mastodon_api import (
    NOTIFICATIONS_PATH,
    MastodonApi,
    StatusMemory,
    instance_of,
    link_ids,
    newest_id,
)
from connectors.polling.mastodon_parse import (
    decode_frame,
    decode_sse,
    parse_notification,
    parse_statuses,
    parse_stream_event,
)
from connectors.streams.sse import SseDecoder
from schemas.events import Platform

__all__ = ["HOME_PATH", "SOURCE", "MastodonStream"]

SOURCE: Final = "stream:mastodon"
HOME_PATH: Final = "/api/v1/timelines/home"
_Decoded = tuple[str, Any] | Rejected
_FEEDS: Final = ("status_id", "notification_id")


class MastodonStream(StreamSource[dict[str, Any]]):
    """The user stream of one agency account (home timeline and notifications), resumed by a REST catch-up.

    Args:
        context: the account read (its ``account_id`` is the actor URI).
        http: the HTTP client of the REST catch-up.
        credentials: the account's user access token (scopes ``read:statuses read:notifications``).
        instance_url: the instance (default: the scheme and host of the actor URI).
        streaming_url: the streaming server (default: the instance).
        transport: ``"sse"`` (default) or ``"websocket"``.
        clock: dates ``delete`` removals and turns reset times into waits (default the system's).
        catch_up_limit: entries per catch-up page (default 40).
        max_known: the most statuses and entries remembered (default 10,000).
        backoff: the back-off of transient catch-up failures (default 1 s doubling to 300 s).
        read_timeout_seconds: a stream silent this long is dead (default 120 s; Mastodon beats every ~15 s).

    >>> stream = MastodonStream(ctx, Urllib3Client(), credentials=token, transport="websocket")  # doctest: +SKIP
    >>> async for page in stream.pages(): ...  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.MASTODON

    def __init__(  # noqa: PLR0913 - keyword-only options with defaults
        self, context: AccountContext, http: HttpClient, *, credentials: SecretStr | None,
        instance_url: str | None = None, streaming_url: str | None = None,
        transport: Literal["sse", "websocket"] = "sse", clock: Clock = SYSTEM_CLOCK, catch_up_limit: int = 40,
        max_known: int = 10_000, backoff: Backoff | None = None, read_timeout_seconds: float = 120.0,
    ) -> None:  # fmt: skip
        if transport not in {"sse", "websocket"}:
            msg = f"transport must be 'sse' or 'websocket', not {transport!r}"
            raise ValueError(msg)
        instance = (instance_url or instance_of(context.account.account_id)).rstrip("/")
        self._context, self._clock, self._transport = context, clock, transport
        self._streaming = (streaming_url or instance).rstrip("/")
        self._limit, self._max, self._read_timeout = catch_up_limit, max_known, read_timeout_seconds
        self._api = MastodonApi(
            http, instance, credentials=credentials, account=context.account.account_id, clock=clock,
            backoff=backoff or Backoff(),
        )  # fmt: skip
        self._memory = StatusMemory(max_known)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._newest: datetime | None = None
        self._cursor: dict[str, str | None] = dict.fromkeys(_FEEDS)

    @property
    def quota_remaining(self) -> int | None:
        """Requests left in the instance's rate-limit window, as the last catch-up answer said."""
        return self._api.quota_remaining

    def snapshot(self) -> dict[str, Any]:
        """The cursor: the newest status and notification ids."""
        return {"version": 1, **self._cursor}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after a :meth:`snapshot` (the next connection catches up from it)."""
        self._cursor = {feed: v if isinstance(v := state.get(feed), str) and v else None for feed in _FEEDS}

    async def pages(self) -> AsyncIterator[Page]:
        """Connect, catch up the gap over REST, then yield a page per streamed event that gives events."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30.0, sock_read=self._read_timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, self._connect(session) as events:
                async for page in self._catch_up():
                    yield page
                async for decoded in events:
                    before = self.snapshot()
                    items = self._handle(decoded)
                    if items or self.snapshot() != before:
                        yield Page(items, newest=self._newest)
        except (aiohttp.ClientError, TimeoutError) as exc:
            msg = f"mastodon stream {self._streaming}: {type(exc).__name__}"
            raise Unreachable(msg) from exc

    @asynccontextmanager
    async def _connect(self, session: aiohttp.ClientSession) -> AsyncIterator[AsyncIterator[_Decoded]]:
        headers = dict(self._api.headers)
        if self._transport == "websocket":
            url = self._streaming.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
            try:
                socket = await session.ws_connect(f"{url}/api/v1/streaming?stream=user", headers=headers, heartbeat=30)
            except aiohttp.WSServerHandshakeError as exc:
                names = {k.lower(): v for k, v in (exc.headers or {}).items()}
                self._refused(HttpResponse(exc.status, b"", names))
            try:
                yield _frames(socket)
            finally:
                await socket.close()
            return
        response = await session.get(f"{self._streaming}/api/v1/streaming/user", headers=headers)
        try:
            if response.status != 200:
                body = await response.read()
                self._refused(HttpResponse(response.status, body, {k.lower(): v for k, v in response.headers.items()}))
            yield _events(response)
        finally:
            response.release()

    def _refused(self, response: HttpResponse) -> NoReturn:
        """Raise what a refused connection means: ``Retry`` (429/5xx), ``AccountError`` (401/403), else Unreachable."""
        self._api.check(response)
        msg = f"mastodon stream {self._streaming}: HTTP {response.status}"
        raise Unreachable(msg)

    async def _catch_up(self) -> AsyncIterator[Page]:
        anchored = False
        for feed, path in (("status_id", HOME_PATH), ("notification_id", NOTIFICATIONS_PATH)):
            since = self._cursor[feed]
            if since is None:
                response = await asyncio.to_thread(self._api.get, path, {"limit": "1"})
                entries = self._api.body(response, f"catch-up {feed}", _is_list)
                self._cursor[feed] = newest_id(e.get("id") for e in entries if isinstance(e, dict)) or "0"
                anchored = True
                continue
            full = True
            while full:
                params = {"min_id": self._cursor[feed] or "0", "limit": str(self._limit)}
                response = await asyncio.to_thread(self._api.get, path, params)
                entries = self._api.body(response, f"catch-up {feed}", _is_list)
                full = len(entries) >= self._limit
                items = self._caught_up(feed, entries)
                top = link_ids(response.header("link")).get("prev", {}).get("min_id")
                ids = [e.get("id") for e in entries if isinstance(e, dict)]
                self._cursor[feed] = newest_id([self._cursor[feed], top, *ids]) or self._cursor[feed]
                if items or entries:
                    yield Page(items, more=full, newest=self._newest)
        if anchored:
            yield Page([], newest=self._newest)  # the anchor: its cursor goes with a page

    def _caught_up(self, feed: str, entries: list[Any]) -> list[Parsed]:
        """A catch-up page's entries (newest first) as events; every entry is remembered as seen."""
        learnt, ctx = self._memory.learnt, self._context
        if feed == "status_id":
            items = parse_statuses(entries, ctx, source=SOURCE, where="catch-up home", learnt=learnt)
            statuses = entries
        else:
            items = []
            for index in reversed(range(len(entries))):
                where = f"catch-up notifications item {index}"
                items.extend(parse_notification(entries[index], ctx, source=SOURCE, where=where, learnt=learnt))
            statuses = [e.get("status") for e in entries if isinstance(e, dict)]
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                self._mark(feed, entry["id"])
        return self._remember(statuses, items)

    def _handle(self, decoded: _Decoded) -> list[Parsed]:
        """One streamed event as items (``[]`` when skipped or already caught up); moves the cursor."""
        if isinstance(decoded, Rejected):
            return [decoded]
        name, payload = decoded
        feed = {"update": "status_id", "notification": "notification_id"}.get(name)
        entry_id = payload.get("id") if isinstance(payload, dict) else None
        if feed is not None and isinstance(entry_id, str) and entry_id:
            if f"{feed}:{entry_id}" in self._seen:
                return []  # the catch-up gave it already
            self._mark(feed, entry_id)
            self._cursor[feed] = newest_id([self._cursor[feed], entry_id])
            if name == "notification" and f"status_id:{_mention_of(payload)}" in self._seen:
                return []  # a mention of a status the home timeline gave already
        items = parse_stream_event(
            name, payload, self._context, source=SOURCE, at=self._clock.now(), learnt=self._memory.learnt
        )
        status = payload.get("status") if name == "notification" and isinstance(payload, dict) else payload
        return self._remember([status] if name != "delete" else [], items)

    def _remember(self, statuses: list[Any], items: list[Parsed]) -> list[Parsed]:
        out = self._memory.remember(statuses, items, self._context)
        for item in out:
            if not isinstance(item, Rejected) and (self._newest is None or item.created_at > self._newest):
                self._newest = item.created_at
        return out

    def _mark(self, feed: str, entry_id: str) -> None:
        self._seen[f"{feed}:{entry_id}"] = None
        self._seen.move_to_end(f"{feed}:{entry_id}")
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[_Decoded]:
    """The parsed events of a server-sent event stream, as its chunks arrive."""
    decoder = SseDecoder()
    async for chunk in response.content.iter_any():
        for event in decoder.feed(chunk):
            decoded = decode_sse(event)
            if decoded is not None:
                yield decoded


async def _frames(socket: aiohttp.ClientWebSocketResponse) -> AsyncIterator[_Decoded]:
    """The parsed events of a websocket's text frames; an error frame is a broken connection."""
    async for message in socket:
        if message.type in {aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY}:
            decoded = decode_frame(message.data)
            if decoded is not None:
                yield decoded
        elif message.type is aiohttp.WSMsgType.ERROR:
            msg = f"websocket error: {type(socket.exception()).__name__}"
            raise Unreachable(msg)


def _mention_of(notification: dict[str, Any]) -> str | None:
    """The local id of a mention notification's status (``None`` for other notifications)."""
    status = notification.get("status")
    mentioned = status.get("id") if notification.get("type") == "mention" and isinstance(status, dict) else None
    return mentioned if isinstance(mentioned, str) else None


def _is_list(value: Any) -> bool:
    return isinstance(value, list)
