"""YouTube Data API v3 comments on an agency's channel, polled (YouTube has no push for comments).

Each *sweep* pages ``commentThreads.list?allThreadsRelatedToChannelId=<channel>&part=snippet,replies&order=time
&maxResults=100`` newest first (``pageToken`` = the last ``nextPageToken``) and parses it with
:mod:`connectors.polling.youtube_parse`. A thread whose ``totalReplyCount`` exceeds its inlined replies is queued
and its replies are paged with ``comments.list?parentId=<thread>`` before the next threads page (again only when
its reply count changed since it was last read). One call of :meth:`YouTubeCommentsPoller.next_page` is one request.

- The first sweep is the backfill: it pages back to ``context.since`` and emits everything published since.
- Later sweeps *follow*: they emit what was published or edited at or after the *watermark* (the newest time the
  previous sweeps saw) minus ``overlap_seconds`` (late-indexed comments; event ids make the overlap harmless),
  and page back only ``revisit_seconds`` before the watermark, to see new replies and edits on recent threads.
  A new reply on a thread older than that is not seen (YouTube does not reorder threads by their replies).

Quota, not rate limits: every call costs 1 unit (``commentThreads.list`` and ``comments.list`` alike, failed calls
too) of a daily budget (``daily_quota_units``, default 10,000: the project default) that resets at midnight
America/Los_Angeles. :attr:`YouTubeCommentsPoller.quota_remaining` is this poller's own count; when it reaches 0,
or YouTube answers 403 ``quotaExceeded``, :class:`Retry` waits until that midnight (from ``clock.now()``).
``rateLimitExceeded``, ``userRateLimitExceeded``, ``processingFailure``, 429, 5xx, network failures and unexpected
bodies: back-off. 400 ``keyInvalid`` (any other 400 but a stale page token, which restarts the sweep), 401, 403
(``forbidden`` and every reason but the ones above) and 404 on the channel listing -> :class:`AccountError`.
``commentsDisabled`` is not the account's fault: the thread (or, on the channel listing, the sweep) is skipped and
logged. Not seen: edits of replies that were not inlined (their thread's reply count does not change).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import Enum
from typing import Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, PollingSource
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.http import HttpClient, HttpResponse
from connectors.polling.youtube_parse import (
    SOURCE,
    Expansion,
    Scope,
    Window,
    google_error,
    parse_replies,
    parse_threads,
)
from schemas.events import Platform
from schemas.timeutil import require_aware

__all__ = ["DAILY_QUOTA_UNITS", "DEFAULT_BASE_URL", "QUOTA_ZONE", "YouTubeCommentsPoller", "seconds_until_quota_reset"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://www.googleapis.com/youtube/v3"
DAILY_QUOTA_UNITS: Final = 10_000
QUOTA_ZONE: Final = ZoneInfo("America/Los_Angeles")
"""YouTube's daily quota resets at midnight Pacific time."""
_STATE_VERSION: Final = 1
_MAX_REMEMBERED: Final = 5000  # reply counts of expanded threads kept in the cursor (oldest dropped first)
_QUOTA_REASONS: Final = frozenset({"quotaExceeded", "dailyLimitExceeded"})
_RATE_REASONS: Final = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "processingFailure"})


class _Outcome(Enum):
    SKIP = "skip"  # nothing to read there (comments disabled, thread gone): go on without it
    RESTART = "restart"  # a stale page token: page again from the first page


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds from ``now`` (aware) to the next midnight America/Los_Angeles, when YouTube's quota resets."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_ZONE)
    return (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds()  # in UTC: DST days are 23 or 25 h


@dataclass
class _Sweep:
    token: str | None
    stop_before: datetime  # paging stops after a page whose last thread's activity is older
    threshold: datetime
    newest: datetime | None = None


@dataclass
class _Pending:
    thread: Expansion
    threshold: datetime
    token: str | None = None


class YouTubeCommentsPoller(PollingSource[dict[str, Any]]):
    """Comments and replies on one agency channel's videos, backfilled from ``context.since``, then followed.

    Args:
        context: the channel (``account.account_id`` = its ``UC...`` id), its agency, the directory, ``since``.
        http: the HTTP client (``Urllib3Client`` in production).
        credentials: an API key (sent as ``key``), or an OAuth access token when ``auth="bearer"``.
        base_url: default ``https://www.googleapis.com/youtube/v3``.
        clock: turns the quota reset into a wait (default the system clock).
        auth: ``"key"`` (default) or ``"bearer"``.
        daily_quota_units: this poller's daily budget (default 10,000; share the project's among its pollers).
        revisit_seconds: how far before the watermark follow sweeps page back (default one day).
        overlap_seconds: how far before the watermark follow sweeps emit again (default 600 s).
        interval_seconds: wait between sweeps (default 60 s: 1,440 units a day for a quiet channel).
        backoff: waits without a platform-given time (default ``Backoff()``).

    >>> poller = YouTubeCommentsPoller(context, Urllib3Client(), credentials=SecretStr(key))  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.YOUTUBE

    def __init__(  # noqa: PLR0913 - a connector's whole context, keyword-only
        self,
        context: AccountContext,
        http: HttpClient,
        *,
        credentials: SecretStr | None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
        auth: Literal["key", "bearer"] = "key",
        daily_quota_units: int = DAILY_QUOTA_UNITS,
        revisit_seconds: float = 86_400.0,
        overlap_seconds: float = 600.0,
        interval_seconds: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        if credentials is None or not credentials.get_secret_value():
            msg = "YouTube needs an API key (SERAMBI_YOUTUBE_API_KEY) or an OAuth access token"
            raise ValueError(msg)
        self._secret = credentials
        self._http, self._base, self._clock, self._auth = http, base_url.rstrip("/"), clock, auth
        self.daily_quota_units = daily_quota_units
        self._revisit = timedelta(seconds=revisit_seconds)
        self._overlap = timedelta(seconds=overlap_seconds)
        self._backoff = backoff or Backoff()
        self._channel = context.account.account_id
        self._scope = Scope(context.agency.id, self._channel, context.directory)
        self._since = require_aware(context.since, "since")
        self._watermark: datetime | None = None
        self._newest: datetime | None = None
        self._sweep: _Sweep | None = None
        self._pending: list[_Pending] = []
        self._reply_counts: dict[str, int] = {}
        self._quota_day = ""
        self._quota_used = 0

    @property
    def quota_remaining(self) -> int:
        """Units left of this poller's daily budget today (Pacific), by its own count."""
        used = self._quota_used if self._quota_day == _pacific_day(self._clock.now()) else 0
        return max(0, self.daily_quota_units - used)

    def next_page(self) -> Page:
        """One request: the first queued thread's next replies page, else the sweep's next threads page."""
        items = self._replies() if self._pending else self._threads()
        return Page(items, more=bool(self._pending) or self._sweep is not None, newest=self._newest)

    def _threads(self) -> list[Parsed]:
        sweep = self._sweep = self._sweep or self._new_sweep()
        params = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": self._channel,
            "order": "time",
            "maxResults": "100",
            "textFormat": "plainText",
        }
        payload = self._call("/commentThreads", params | ({"pageToken": sweep.token} if sweep.token else {}), True)
        if payload is _Outcome.RESTART:
            sweep.token = None
            return []
        if payload is _Outcome.SKIP:
            self._sweep = None
            return []
        page = parse_threads(payload, self._scope, Window(self._since, sweep.threshold))
        if page is None:
            raise Retry(self._backoff.next(), "YouTube commentThreads.list: unexpected body (no items list)")
        self._backoff.reset()
        queued = {pending.thread.thread_id for pending in self._pending}
        for thread in page.expansions:
            if self._reply_counts.get(thread.thread_id) != thread.reply_count and thread.thread_id not in queued:
                self._pending.append(_Pending(thread, sweep.threshold))
        sweep.newest, self._newest = _later(sweep.newest, page.newest), _later(self._newest, page.newest)
        if page.next_token and not (page.last is not None and page.last < sweep.stop_before):
            sweep.token = page.next_token
        else:
            self._watermark, self._sweep = _later(self._watermark, sweep.newest), None
        return page.items

    def _replies(self) -> list[Parsed]:
        pending = self._pending[0]
        params = {"part": "snippet", "parentId": pending.thread.thread_id, "maxResults": "100"}
        params |= {"textFormat": "plainText"} | ({"pageToken": pending.token} if pending.token else {})
        payload = self._call("/comments", params, False)
        if isinstance(payload, _Outcome):
            if payload is _Outcome.SKIP:
                self._pending.pop(0)
            pending.token = None
            return []
        page = parse_replies(payload, self._scope, Window(self._since, pending.threshold), pending.thread)
        if page is None:
            raise Retry(self._backoff.next(), "YouTube comments.list: unexpected body (no items list)")
        self._backoff.reset()
        self._newest = _later(self._newest, page.newest)
        if page.next_token:
            pending.token = page.next_token
        else:
            self._pending.pop(0)
            self._reply_counts.pop(pending.thread.thread_id, None)  # re-insert: the newest is dropped last
            self._reply_counts[pending.thread.thread_id] = pending.thread.reply_count
            while len(self._reply_counts) > _MAX_REMEMBERED:
                del self._reply_counts[next(iter(self._reply_counts))]
        return page.items

    def _new_sweep(self) -> _Sweep:
        if self._watermark is None:
            return _Sweep(None, self._since, self._since)
        stop = max(self._since, self._watermark - self._revisit)
        return _Sweep(None, stop, max(self._since, self._watermark - self._overlap))

    def _call(self, path: str, params: dict[str, str], listing: bool) -> Any:
        """GET ``path``: the decoded JSON body or an :class:`_Outcome`; or raise ``Retry``/``AccountError``."""
        now = self._clock.now()
        if self._quota_day != _pacific_day(now):
            self._quota_day, self._quota_used = _pacific_day(now), 0
        if self._quota_used >= self.daily_quota_units:
            reason = f"YouTube: this poller's daily quota of {self.daily_quota_units} units is used up"
            raise Retry(seconds_until_quota_reset(now), reason)
        headers = {"Authorization": f"Bearer {self._secret.get_secret_value()}"} if self._auth == "bearer" else {}
        query = params if self._auth == "bearer" else params | {"key": self._secret.get_secret_value()}
        self._quota_used += 1  # YouTube charges failed calls too
        try:
            response = self._http.get(f"{self._base}{path}", params=query, headers=headers)
        except Unreachable as exc:
            self._quota_used -= 1  # the request never reached YouTube
            raise Retry(self._backoff.next(), f"YouTube unreachable: {exc}") from exc
        if response.status != 200:
            return self._failure(response, path, listing, now)
        try:
            return response.json()
        except ValueError:
            raise Retry(self._backoff.next(), f"YouTube {path}: body is not JSON") from None

    def _failure(self, response: HttpResponse, path: str, listing: bool, now: datetime) -> _Outcome:
        status = response.status
        reason, message = google_error(response.body)
        said = f"YouTube {path}: HTTP {status} {reason or 'no reason'}: {message}".rstrip(": ")
        if reason in _QUOTA_REASONS:
            self._quota_used = self.daily_quota_units
            raise Retry(seconds_until_quota_reset(now), said)
        if status == 429 or reason in _RATE_REASONS or status >= 500:
            raise Retry(self._backoff.next(), said)
        if reason == "commentsDisabled" or (status == 404 and not listing):
            log.warning("%s; skipped (channel %s)", said, self._channel)
            return _Outcome.SKIP
        if status == 400 and reason == "invalidPageToken":
            log.warning("%s; paging again from the first page", said)
            return _Outcome.RESTART
        if status in {400, 401, 403, 404}:
            raise AccountError(self._channel, said)
        raise Retry(self._backoff.next(), said)

    def snapshot(self) -> dict[str, Any]:
        """The cursor as JSON-able state (``version`` 1; times as ISO 8601 UTC)."""
        sweep = self._sweep
        return {
            "version": _STATE_VERSION,
            "watermark": _iso(self._watermark),
            "newest": _iso(self._newest),
            "sweep": None
            if sweep is None
            else {
                "page_token": sweep.token,
                "stop_before": _iso(sweep.stop_before),
                "threshold": _iso(sweep.threshold),
                "newest": _iso(sweep.newest),
            },
            "pending": [
                {
                    "thread": p.thread.thread_id,
                    "video": p.thread.video_id,
                    "author": p.thread.author_id,
                    "replies": p.thread.reply_count,
                    "threshold": _iso(p.threshold),
                    "page_token": p.token,
                }
                for p in self._pending
            ],
            "reply_counts": dict(self._reply_counts),
            "quota": {"day": self._quota_day, "used": self._quota_used},
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after ``state`` from :meth:`snapshot`; ``ValueError`` when it is not such a state."""
        try:
            if state["version"] != _STATE_VERSION:
                msg = f"YouTube cursor version {state['version']!r} is not {_STATE_VERSION}"
                raise ValueError(msg)
            sweep = state["sweep"]
            self._sweep = None
            if sweep is not None:
                stop, threshold = _time(sweep["stop_before"]), _time(sweep["threshold"])
                self._sweep = _Sweep(sweep["page_token"], stop, threshold, _opt_time(sweep["newest"]))
            self._pending = [
                _Pending(
                    Expansion(str(p["thread"]), str(p["video"]), p["author"], int(p["replies"])),
                    _time(p["threshold"]),
                    p["page_token"],
                )
                for p in state["pending"]
            ]
            self._watermark, self._newest = _opt_time(state["watermark"]), _opt_time(state["newest"])
            self._reply_counts = {str(k): int(v) for k, v in state["reply_counts"].items()}
            self._quota_day, self._quota_used = str(state["quota"]["day"]), int(state["quota"]["used"])
        except (KeyError, TypeError, AttributeError) as exc:
            msg = f"not a YouTube cursor: {type(exc).__name__} {exc}"
            raise ValueError(msg) from exc


def _pacific_day(now: datetime) -> str:
    return now.astimezone(QUOTA_ZONE).date().isoformat()


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _time(raw: Any) -> datetime:
    return require_aware(datetime.fromisoformat(raw), "cursor time")


def _opt_time(raw: Any) -> datetime | None:
    return None if raw is None else _time(raw)
