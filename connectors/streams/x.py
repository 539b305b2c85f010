"""X API v2 filtered stream: Posts matching the app's rules, as they are made, for one agency account.

``GET /2/tweets/search/stream`` (rules are managed apart, ``POST /2/tweets/search/stream/rules``; a rule set for
an agency is e.g. ``@MOHfictional OR from:1498765432109876543 OR to:MOHfictional``) answers one long chunked body:
each Post is one JSON object ``{"data": {...}, "includes": {...}, "matching_rules": [...]}`` ended by ``\\r\\n``.

- Blank ``\\r\\n`` lines are keep-alives (X sends one every 20 s): skipped. Nothing at all for
  ``read_timeout_seconds`` (default 30 s: the 20 s keep-alive plus a margin, so a late keep-alive does not cost a
  reconnect) is a stalled connection: :class:`Unreachable`, and the runner reconnects with back-off.
- A ``{"errors": [...]}`` line (``operational-disconnect`` and the like) ends the connection: :meth:`pages`
  returns and the runner reconnects with back-off. A line that is not JSON is rejected, the stream goes on.
- Tweets become events with the shared v2 parser (:mod:`connectors.polling.x_v2`: same event ids ``x:<tweet id>``
  as the webhook and the poller, so any overlap upserts). The stream is per app, not per account: a tweet is this
  account's when the account wrote it, is mentioned in or replied to by it, wrote a tweet it references, or its
  conversation was seen here before; any other tweet (another agency's rule) is skipped silently (``skipped``).
- Event ids seen lately (``max_remembered``) are not emitted again, so a reconnect that repeats tweets (X's
  redundant connections, ``backfill_minutes``) adds no duplicate; a partial line cut by a dropped connection is
  never parsed (a line counts only once its ``\\r\\n`` arrived).

Resume: the filtered stream does not replay for ordinary access (``backfill_minutes``, up to 5, only where the
access level allows it; default off). The cursor's ``newest_id`` is the newest tweet id seen; a gap left by a
disconnect is closed by the mentions poller (:class:`connectors.polling.x.XMentionsPoller`), whose *follow* poll
reads everything after its own ``since_id`` and the conversations' replies: run it beside the stream (at a slower
interval), and event ids make the overlap harmless.

Cursor (:meth:`XFilteredStream.snapshot`, JSON): ``{"version": 1, "newest_id", "newest_at", "conversations": [...]}``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final

import aiohttp
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, Rejected, StreamSource
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.polling.x_limits import FailureKind, describe_error, failure_of
from connectors.polling.x_v2 import EXPANSIONS, TWEET_FIELDS, newest_of, parse_v2_page
from schemas.events import Platform

__all__ = ["DEFAULT_BASE_URL", "SOURCE", "StreamLine", "XFilteredStream", "parse_stream_line", "split_lines"]

log = logging.getLogger(__name__)

SOURCE: Final = "stream:x"
DEFAULT_BASE_URL: Final = "https://api.x.com"
_PATH: Final = "/2/tweets/search/stream"
_MAX_CONVERSATIONS: Final = 1000  # roots remembered (in the cursor) to keep a thread's follow-ups
_RAW_CHARS: Final = 4096  # how much of a line that is not JSON goes to the dead-letter topic
_Id = Annotated[str, Field(pattern=r"^[0-9]{1,32}$")]


def split_lines(pending: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of ``pending + chunk`` (without ``\\r\\n``/``\\n``) and the unfinished rest; pure.

    JSON never holds a raw line break, so every ``\\n`` ends a line, and a ``\\r`` before it belongs to it.

    >>> split_lines(b'{"a"', b':1}\\r\\n\\r\\n{"b')
    ([b'{"a":1}', b''], b'{"b')
    """
    *lines, rest = (pending + chunk).split(b"\n")
    return [line.removesuffix(b"\r") for line in lines], rest


@dataclass(frozen=True)
class StreamLine:
    """One stream line parsed: its items, the newest tweet id among them, and a disconnect notice (if one)."""

    items: list[Parsed] = field(default_factory=list)
    newest_id: str | None = None
    conversations: Mapping[str, datetime] = field(default_factory=dict)
    disconnect: str | None = None
    skipped: bool = False


def parse_stream_line(line: bytes, context: AccountContext, roots: Collection[str] = ()) -> StreamLine:
    """One stream line (without its ``\\r\\n``) as this account's events; pure, never raises.

    Args:
        line: the line; blank is a keep-alive (no items).
        context: the account read.
        roots: conversation roots already known to be this account's (default none).
    """
    if not line.strip():
        return StreamLine()
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError:
        raw = line[:_RAW_CHARS].decode("utf-8", "replace")
        return StreamLine([Rejected(f"x stream: line is not JSON ({len(line)} bytes)", raw)])
    if isinstance(payload, dict) and "data" not in payload and isinstance(payload.get("errors"), list):
        notice = "; ".join(describe_error(error) for error in payload["errors"][:3]) or "errors without details"
        return StreamLine(disconnect=notice)
    if not _concerns(payload, context.account.account_id, roots):
        return StreamLine(skipped=True)
    page = parse_v2_page(payload, context, SOURCE, where="x stream")
    if page.malformed is not None:
        return StreamLine([Rejected(page.malformed, payload)])
    return StreamLine(page.items, page.newest_id, page.conversations)


def _concerns(payload: Any, account: str, roots: Collection[str]) -> bool:
    """Whether a stream object is about ``account`` (by ids only); unreadable ones are kept, to be rejected."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return True
    entities = data.get("entities")
    mentions = entities.get("mentions") if isinstance(entities, dict) else None
    includes = payload.get("includes")
    tweets = includes.get("tweets") if isinstance(includes, dict) else None
    people = [data.get("author_id"), data.get("in_reply_to_user_id")]
    people += [m.get("id") for m in (mentions if isinstance(mentions, list) else ()) if isinstance(m, dict)]
    people += [t.get("author_id") for t in (tweets if isinstance(tweets, list) else ()) if isinstance(t, dict)]
    root = data.get("conversation_id")
    return account in people or (isinstance(root, str) and root in roots)


class _Cursor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    newest_id: _Id | None = None
    newest_at: AwareDatetime | None = None
    conversations: list[_Id] = Field(default_factory=list)


class XFilteredStream(StreamSource[dict[str, Any]]):
    """One agency account's tweets from the app's v2 filtered stream.

    Args:
        context: the account read (its ``account_id`` is the X user id).
        credentials: the app's bearer token; ``None`` fails with AccountError.
        base_url: the API root (default ``https://api.x.com``).
        clock: turns ``x-rate-limit-reset`` into waits (default the system clock).
        read_timeout_seconds: silence after which the connection counts as stalled (default 30 s).
        connect_timeout_seconds: default 10 s.
        backfill_minutes: minutes X replays after a reconnect (default 0: only where the access level allows it).
        max_line_bytes: the longest line accepted before the connection is dropped (default 4 MiB).
        max_remembered: event ids remembered to drop repeats (default 10,000).

    >>> stream = XFilteredStream(context, credentials=SecretStr(token))  # doctest: +SKIP
    >>> async for page in stream.pages(): publish_all(publisher, page.items)  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.X

    def __init__(  # noqa: PLR0913 - the connector conventions: context, then keyword options
        self,
        context: AccountContext,
        *,
        credentials: SecretStr | None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
        read_timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 10.0,
        backfill_minutes: int = 0,
        max_line_bytes: int = 4 * 1024 * 1024,
        max_remembered: int = 10_000,
    ) -> None:
        self._context = context
        self._token = credentials
        self._url = base_url.rstrip("/") + _PATH
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_seconds, sock_read=read_timeout_seconds
        )
        self._backfill_minutes = backfill_minutes
        self._max_line = max_line_bytes
        self._max_remembered = max_remembered
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._cursor = _Cursor()
        self.skipped = 0
        """Tweets of the stream that were not this account's (another agency's rules)."""

    @property
    def since_id(self) -> str | None:
        """The newest tweet id seen: the mentions poller's follow closes any gap after a disconnect."""
        return self._cursor.newest_id

    async def pages(self) -> AsyncIterator[Page]:
        """Connect and yield a page per chunk holding events; return on a disconnect notice or the body's end."""
        account = self._context.account.account_id
        if self._token is None:
            raise AccountError(account, "x: no bearer token configured")
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        params = {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS}
        if self._backfill_minutes > 0:
            params["backfill_minutes"] = str(self._backfill_minutes)
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(self._url, params=params, headers=headers) as response,
            ):
                if response.status != 200:
                    self._refuse(response.status, response.headers, await response.content.read(65_536))
                pending = b""
                async for chunk in response.content.iter_any():
                    lines, pending = split_lines(pending, chunk)
                    if len(pending) > self._max_line:
                        msg = f"x stream: a line passed {self._max_line} bytes without ending"
                        raise Unreachable(msg)
                    items, notice = self._take(lines)
                    if items:
                        yield Page(items=items, newest=self._cursor.newest_at)
                    if notice is not None:
                        log.warning("x stream: account %s: disconnected by X: %s", account, notice)
                        return
        except (aiohttp.ClientError, TimeoutError) as exc:  # ServerTimeoutError: nothing for read_timeout_seconds
            msg = f"x stream: {type(exc).__name__}: {str(exc)[:200]}"
            raise Unreachable(msg) from exc

    def _refuse(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        names = {name.lower(): value for name, value in headers.items()}
        try:
            problem: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            problem = None
        failure = failure_of(status, names, problem, self._clock.now())
        reason = f"x stream: {failure.reason if failure else f'{status} is not a stream'}"
        account = self._context.account.account_id
        if failure is None or failure.kind is FailureKind.TRANSIENT:
            raise Unreachable(reason)
        if failure.kind is FailureKind.RATE_LIMITED:  # also too many connections: X asks for a minute at least
            raise Retry(after=failure.wait_seconds or 60.0, reason=reason)
        if failure.kind is FailureKind.USAGE_CAPPED:
            raise Retry(after=failure.wait_seconds or 3600.0, reason=reason)
        raise AccountError(account, reason)  # a token, a permission, or a request X refuses (e.g. no rules)

    def _take(self, lines: list[bytes]) -> tuple[list[Parsed], str | None]:
        """The new items of complete lines (the cursor moved past them), and a disconnect notice if one came."""
        items: list[Parsed] = []
        cursor = self._cursor
        for line in lines:
            parsed = parse_stream_line(line, self._context, cursor.conversations)
            if parsed.disconnect is not None:
                return items, parsed.disconnect
            self.skipped += parsed.skipped
            items.extend(item for item in parsed.items if self._first_time(item))
            cursor.newest_id = newest_of(cursor.newest_id, parsed.newest_id)
            for root, active_at in parsed.conversations.items():
                if root not in cursor.conversations:
                    cursor.conversations.append(root)
                if cursor.newest_at is None or active_at > cursor.newest_at:
                    cursor.newest_at = active_at
            del cursor.conversations[:-_MAX_CONVERSATIONS]
        return items, None

    def _first_time(self, item: Parsed) -> bool:
        if isinstance(item, Rejected):
            return True
        key = item.event_id
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._max_remembered:
            self._seen.popitem(last=False)
        return True

    def snapshot(self) -> dict[str, Any]:
        """The cursor as JSON-able state: ``newest_id`` (the poller closes gaps after it) and known roots."""
        return self._cursor.model_dump(mode="json")

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after a :meth:`snapshot`; ``ValueError`` when ``state`` is not one."""
        try:
            self._cursor = _Cursor.model_validate(state)
        except ValidationError as exc:
            msg = f"x stream: not a cursor of XFilteredStream: {exc.error_count()} errors"
            raise ValueError(msg) from None
