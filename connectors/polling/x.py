"""X API v2 polled: an agency account's mentions, then the replies of every conversation it takes part in.

A *round* is one ``GET /2/users/:id/mentions`` pass (``pagination_token`` = the last ``meta.next_token``), then one
``GET /2/tweets/search/recent?query=conversation_id:<root>`` pass (``next_token``) per active conversation. The
search is what finds the **agency's own replies** (they never mention the agency, so the mentions timeline misses
them) and citizens' follow-ups: without it there is no response fact. One :meth:`XMentionsPoller.next_page` call is
one request; ``more`` is true while the round has requests left, so the runner waits ``interval_seconds`` between
rounds only.

- Backfill: while no mention was seen the timeline is read from ``start_time = context.since``; afterwards every
  round *follows* with ``since_id`` = the newest mention id. A pass's newest id becomes its ``since_id`` only when
  its last page was read, so a crash mid-pass resumes at the same page (tokens do not expire) and leaves no gap.
- Conversations: every root of a mention (a reply's ``conversation_id``, or a top-level mention itself) becomes
  active; at most ``max_conversations`` stay (least recently active dropped first) and one idle for
  ``conversation_ttl`` (default 6 days: recent search reaches back 7) is dropped. Each keeps its own ``since_id``;
  one older than recent search allows is left out (the default 7-day window; event ids make the overlap harmless).
- Limits (X, per endpoint, 15-minute windows; read from the headers, never hard-coded): a 429 waits until
  ``x-rate-limit-reset``; a success with ``x-rate-limit-remaining: 0`` makes the next call of that endpoint wait
  until its reset; the monthly ``UsageCapExceeded`` waits until the reset or an hour. 5xx, network failures and
  malformed bodies back off. 401/403 and a refused mentions request -> :class:`AccountError`; a refused
  conversation search (e.g. a root X no longer serves) drops that conversation.

Known limits: the mentions timeline serves only the 800 newest mentions, and recent search the last 7 days, so a
backfill further back misses older replies; removals are not visible to polling (webhooks carry them).

Cursor (:meth:`XMentionsPoller.snapshot`, JSON): ``{"version": 1, "mentions": {"since_id", "next_token",
"pending_newest"}, "conversations": {root: {"since_id", "next_token", "pending_newest", "active_at"}},
"queue": [root, ...], "newest_at"}`` (ids as strings, times ISO 8601).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, PollingSource
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.http import HttpClient, HttpResponse
from connectors.polling.x_limits import FailureKind, failure_of, rate_limit_remaining, rate_limit_wait
from connectors.polling.x_v2 import EXPANSIONS, TWEET_FIELDS, V2Page, newest_of, parse_v2_page, snowflake_time
from schemas.events import Platform

__all__ = ["DEFAULT_BASE_URL", "SOURCE", "XMentionsPoller"]

log = logging.getLogger(__name__)

SOURCE: Final = "poll:x"
DEFAULT_BASE_URL: Final = "https://api.x.com"
_CAP_WAIT_SECONDS: Final = 3600.0  # a usage cap without a reset header: look again in an hour
_SEARCH_REACH: Final = timedelta(days=7) - timedelta(hours=1)  # recent search refuses a since_id older than 7 days
_Id = Annotated[str, Field(pattern=r"^[0-9]{1,32}$")]
_MENTIONS: Final = "mentions"
_SEARCH: Final = "search"


class _Pass(BaseModel):
    """Where one id-ordered listing stands: follow from ``since_id``; mid-pass: ``next_token``."""

    model_config = ConfigDict(extra="forbid")

    since_id: _Id | None = None
    next_token: str | None = None
    pending_newest: _Id | None = None  # the newest id of the pass being paged; since_id once it is done

    def advance(self, page: V2Page) -> None:
        self.pending_newest = newest_of(self.pending_newest, page.newest_id)
        self.next_token = page.next_token
        if page.next_token is None:
            self.since_id = newest_of(self.since_id, self.pending_newest)
            self.pending_newest = None


class _Conversation(_Pass):
    active_at: AwareDatetime


class _Cursor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    mentions: _Pass = Field(default_factory=_Pass)
    conversations: dict[_Id, _Conversation] = Field(default_factory=dict)
    queue: list[_Id] = Field(default_factory=list)
    newest_at: AwareDatetime | None = None


class XMentionsPoller(PollingSource[dict[str, Any]]):
    """An agency X account's mentions and the replies in its conversations (incl. its own), via API v2.

    Args:
        context: the account read (its ``account_id`` is the X user id).
        http: the HTTP client (``Urllib3Client`` in production).
        credentials: the app's bearer token (``Authorization: Bearer``); ``None`` fails with AccountError.
        base_url: the API root (default ``https://api.x.com``).
        clock: turns ``x-rate-limit-reset`` into waits (default the system clock).
        backoff: waits X does not give (5xx, network, malformed bodies); default 1 s doubling up to 300 s.
        max_conversations: active conversations searched each round (default 50; each is a request per round).
        conversation_ttl: how long a conversation without new activity stays active (default 6 days).
        interval_seconds: wait between rounds (default 60 s).

    >>> poller = XMentionsPoller(context, Urllib3Client(), credentials=SecretStr(token))  # doctest: +SKIP
    >>> poller.run(publisher, stop, checkpoint=cursors.save)  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.X

    def __init__(  # noqa: PLR0913 - the connector conventions: context, client, keyword options
        self,
        context: AccountContext,
        http: HttpClient,
        *,
        credentials: SecretStr | None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff | None = None,
        max_conversations: int = 50,
        conversation_ttl: timedelta = timedelta(days=6),
        interval_seconds: float = 60.0,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        if max_conversations < 1:
            msg = f"max_conversations must be at least 1, got {max_conversations}"
            raise ValueError(msg)
        self._context = context
        self._http = http
        self._token = credentials
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._max_conversations = max_conversations
        self._ttl = conversation_ttl
        self._cursor = _Cursor()
        self._blocked_until: dict[str, datetime] = {}
        self.quota_remaining: int | None = None
        """``x-rate-limit-remaining`` of the last answer (``None`` before the first)."""
        self.partial_errors = 0
        """How many partial errors (``errors`` in a 200: a deleted parent, a hidden include) answers carried."""

    @property
    def account_id(self) -> str:
        """The X user id read."""
        return self._context.account.account_id

    def next_page(self) -> Page:
        """One request: the next mentions page, else the next conversation's search page (a new round first)."""
        cursor = self._cursor
        if cursor.mentions.next_token is not None or not cursor.queue:
            page = self._mentions_page()
        else:
            page = self._conversation_page(cursor.queue[0])
        more = cursor.mentions.next_token is not None or bool(cursor.queue)
        return Page(items=page.items, more=more, newest=cursor.newest_at)

    def _mentions_page(self) -> V2Page:
        mentions = self._cursor.mentions
        params = self._params(max_results="100")
        if mentions.since_id is not None:
            params["since_id"] = mentions.since_id
        else:
            params["start_time"] = self._context.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if mentions.next_token is not None:
            params["pagination_token"] = mentions.next_token
        answer = self._get(_MENTIONS, f"/2/users/{self.account_id}/mentions", params)
        if isinstance(answer, str):
            raise AccountError(self.account_id, f"x: the mentions timeline was refused: {answer}")
        mentions.advance(answer)
        self._remember(answer)
        if mentions.next_token is None:  # the pass is done: search every active conversation, most recent first
            self._expire()
            ordered = sorted(self._cursor.conversations.items(), key=lambda c: c[1].active_at, reverse=True)
            self._cursor.queue = [root for root, _ in ordered]
        return answer

    def _conversation_page(self, root: str) -> V2Page:
        conversation = self._cursor.conversations.get(root)
        if conversation is None:  # dropped (evicted or expired) since it was queued
            self._cursor.queue.pop(0)
            return V2Page([])
        params = self._params(query=f"conversation_id:{root}", max_results="100")
        since = conversation.since_id
        if since is not None and snowflake_time(since) > self._clock.now() - _SEARCH_REACH:
            params["since_id"] = since
        if conversation.next_token is not None:
            params["next_token"] = conversation.next_token
        answer = self._get(_SEARCH, "/2/tweets/search/recent", params)
        if isinstance(answer, str):
            log.warning("x: account %s: conversation %s dropped: %s", self.account_id, root, answer)
            del self._cursor.conversations[root]
            self._cursor.queue.pop(0)
            return V2Page([])
        conversation.advance(answer)
        self._remember(answer)
        if conversation.next_token is None:
            self._cursor.queue.pop(0)
        return answer

    def _params(self, **extra: str) -> dict[str, str]:
        return {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, **extra}

    def _get(self, endpoint: str, path: str, params: dict[str, str]) -> V2Page | str:
        """A parsed page, or what X said when it refused the request itself; raises Retry/AccountError."""
        now = self._clock.now()
        blocked = self._blocked_until.get(endpoint)
        if blocked is not None and blocked > now:
            wait = (blocked - now).total_seconds()
            raise Retry(after=wait, reason=f"x: {endpoint} rate limit used up until its reset")
        if self._token is None:
            raise AccountError(self.account_id, "x: no bearer token configured")
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        try:
            response = self._http.get(f"{self._base}{path}", params=params, headers=headers)
        except Unreachable as exc:
            raise Retry(after=self._backoff.next(), reason=f"x: {exc}") from exc
        self.quota_remaining = rate_limit_remaining(response.headers)
        return self._read(endpoint, response, now)

    def _read(self, endpoint: str, response: HttpResponse, now: datetime) -> V2Page | str:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        failure = failure_of(response.status, response.headers, body, now)
        if failure is not None:
            reason = f"x: {endpoint}: {failure.reason}"
            if failure.kind is FailureKind.RATE_LIMITED:
                raise Retry(after=failure.wait_seconds or self._backoff.next(), reason=reason)
            if failure.kind is FailureKind.USAGE_CAPPED:
                raise Retry(after=failure.wait_seconds or _CAP_WAIT_SECONDS, reason=reason)
            if failure.kind is FailureKind.ACCOUNT:
                raise AccountError(self.account_id, reason)
            if failure.kind is FailureKind.REQUEST:
                return failure.reason
            raise Retry(after=self._backoff.next(), reason=reason)
        page = parse_v2_page(body, self._context, SOURCE, where=f"x {endpoint}")
        if page.malformed is not None:
            raise Retry(after=self._backoff.next(), reason=f"{page.malformed} (status {response.status})")
        self._backoff.reset()
        if rate_limit_remaining(response.headers) == 0:  # the window is used up: the next call waits for the reset
            wait = rate_limit_wait(response.headers, now)
            self._blocked_until[endpoint] = now + timedelta(seconds=wait if wait is not None else 60.0)
        if page.errors:
            self.partial_errors += len(page.errors)
            log.info("x: %s: %d partial errors kept out: %s", endpoint, len(page.errors), page.errors[0])
        return page

    def _remember(self, page: V2Page) -> None:
        """Make each conversation of the page active (or more recently so), keeping the most recent ones."""
        conversations = self._cursor.conversations
        for root, active_at in page.conversations.items():
            known = conversations.get(root)
            if known is None:
                conversations[root] = _Conversation(active_at=active_at)
            elif active_at > known.active_at:
                known.active_at = active_at
        newest = page.newest_at
        if newest is not None and (self._cursor.newest_at is None or newest > self._cursor.newest_at):
            self._cursor.newest_at = newest
        while len(conversations) > self._max_conversations:
            oldest = min(conversations, key=lambda root: conversations[root].active_at)
            del conversations[oldest]

    def _expire(self) -> None:
        horizon = self._clock.now() - self._ttl
        for root in [r for r, c in self._cursor.conversations.items() if c.active_at < horizon]:
            del self._cursor.conversations[root]

    def snapshot(self) -> dict[str, Any]:
        """The cursor as JSON-able state (see the module docstring for its shape)."""
        return self._cursor.model_dump(mode="json")

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after a :meth:`snapshot`; ``ValueError`` when ``state`` is not one."""
        try:
            self._cursor = _Cursor.model_validate(state)
        except ValidationError as exc:
            msg = f"x: not a cursor of XMentionsPoller: {exc.error_count()} errors, first: {exc.errors()[0]['msg']}"
            raise ValueError(msg) from None
