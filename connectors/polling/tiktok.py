"""TikTok comments on an agency's videos, polled (TikTok has no webhook for organic comments).

Business mode (default; the agency's own account through API for Business, ``Access-Token`` header): each *round*
lists the account's videos (``GET /open_api/v1.3/business/video/list/?business_id=...``, newest first, a
:class:`~schemas.events.Post` for each video not seen before), then reads each video's comments
(``GET /open_api/v1.3/business/comment/list/?business_id=&video_id=&include_replies=true&status=ALL
&sort_field=create_time&sort_order=desc&cursor=<int>&max_count=30``) newest first, until ``has_more`` is false or
the page reaches the video's *watermark* (the newest comment an earlier round saw) minus ``overlap_seconds``.
The first round reads videos back to ``context.since`` and comments since then; later rounds read the videos of the
last ``max_video_age_days`` (default 90). A new reply under a comment older than the watermark is not seen.

Research mode (``mode="research"``, approved researchers only; ``Authorization: Bearer`` client token): the
videos are ``video_ids`` (the Research API cannot list an account's videos here), read with
``POST /v2/research/video/comment/list/`` (cursor / ``has_more``, no documented order, so every page is read each
round; TikTok stops at 1,000 comments per video). Its ids are JSON numbers past 2**53: orjson decodes them exactly
and they stay decimal text. :class:`~connectors.core.http.HttpClient` has only ``get``, so POSTs go through a
:class:`JsonPoster` (default :class:`Urllib3JsonPoster`).

Errors: the Business API answers HTTP 200 with ``code != 0``: 40100 (too many requests, in TikTok's tables and the
captured body; treated as a token error only when its message names the token) and 40016 -> back-off
:class:`Retry`; codes of 50000 and over -> back-off; 40007 (no such object) while reading a video's comments ->
that video is skipped; any other code (40105 invalid token, 40001/40002 permission) -> :class:`AccountError`.
Research: 429 / ``rate_limit_exceeded`` -> ``Retry`` after ``Retry-After`` or a minute (TikTok's window); 401,
403 and other 4xx -> ``AccountError``; 404 -> the video is skipped. 5xx, network failures and bodies that are not
the expected JSON -> back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any, ClassVar, Final, Literal, Protocol
from urllib.parse import urlencode

import orjson
import urllib3
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, PollingSource
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.http import HttpClient, HttpResponse
from connectors.polling.tiktok_parse import (
    SOURCE,
    Scope,
    business_status,
    parse_business_comments,
    parse_business_videos,
    parse_research_comments,
    research_error,
)
from schemas.events import Platform
from schemas.timeutil import require_aware

__all__ = [
    "BUSINESS_BASE_URL",
    "RESEARCH_BASE_URL",
    "JsonPoster",
    "TikTokCommentsPoller",
    "Urllib3JsonPoster",
]

log = logging.getLogger(__name__)

BUSINESS_BASE_URL: Final = "https://business-api.tiktok.com"
RESEARCH_BASE_URL: Final = "https://open.tiktokapis.com"
VIDEO_LIST: Final = "/open_api/v1.3/business/video/list/"
COMMENT_LIST: Final = "/open_api/v1.3/business/comment/list/"
RESEARCH_COMMENTS: Final = "/v2/research/video/comment/list/"
_RESEARCH_FIELDS: Final = "id,video_id,text,like_count,reply_count,parent_comment_id,create_time"
_RATE_CODES: Final = frozenset({40100, 40016})
_NOT_FOUND: Final = 40007
_STATE_VERSION: Final = 1


class JsonPoster(Protocol):
    """A POST of a JSON body, for the Research API's comment list (the one TikTok read that is a POST)."""

    def post_json(
        self, url: str, *, params: Mapping[str, str], body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> HttpResponse:
        """POST ``body`` as JSON to ``url?params``; raise :class:`Unreachable` on a network failure."""


class Urllib3JsonPoster:
    """The production :class:`JsonPoster` on urllib3 (``orjson.dumps``: int64 ids are sent exactly).

    Args:
        timeout_seconds: connect and read timeout of one request (default 30 s).
    """

    def __init__(self, *, timeout_seconds: float = 30.0) -> None:
        timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self._pool = urllib3.PoolManager(timeout=timeout, retries=False)

    def post_json(
        self, url: str, *, params: Mapping[str, str], body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> HttpResponse:
        """POST ``body``; a network failure is :class:`Unreachable` naming the URL, never its query or token."""
        full = f"{url}?{urlencode(params)}" if params else url
        sent = {"User-Agent": "serambi-connector/1", "Content-Type": "application/json", **headers}
        try:
            response = self._pool.request("POST", full, body=orjson.dumps(dict(body)), headers=sent)
        except urllib3.exceptions.HTTPError as exc:
            msg = f"{url}: {type(exc).__name__}"
            raise Unreachable(msg) from exc
        return HttpResponse(response.status, response.data, {k.lower(): v for k, v in response.headers.items()})


class _Outcome(Enum):
    SKIP = "skip"  # the video is gone or closed: go on without it


@dataclass
class _Video:
    created: datetime | None
    watermark: datetime | None = None  # the newest comment time read so far
    read: bool = False  # its comments were paged to the end once


@dataclass
class _Round:
    listing: bool
    list_cursor: int = 0
    queue: list[str] = field(default_factory=list)
    cursor: int = 0
    newest: datetime | None = None


class TikTokCommentsPoller(PollingSource[dict[str, Any]]):
    """Comments and replies on one agency TikTok account's videos, backfilled from ``context.since``, then followed.

    Args:
        context: the account (``account.account_id`` = the Business API ``business_id``), agency, directory, since.
        http: the HTTP client for the Business API's GETs (``Urllib3Client`` in production).
        credentials: the Business access token (or, in research mode, the client access token).
        base_url: the API for Business (default ``https://business-api.tiktok.com``).
        research_base_url: the Research API (default ``https://open.tiktokapis.com``).
        clock: the current time, for the videos' age (default the system clock).
        mode: ``"business"`` (default) or ``"research"``.
        video_ids: the videos research mode reads (required there; unused in business mode).
        poster: research mode's POSTs (default :class:`Urllib3JsonPoster`).
        max_video_age_days: after the first round, read comments of videos this recent (default 90).
        overlap_seconds: how far before a video's watermark comments are emitted again (default 600 s).
        page_size: comments per request (default 30, the Business API's most; research allows 100).
        interval_seconds: wait between rounds (default 60 s).
        backoff: waits without a platform-given time (default ``Backoff()``).

    >>> TikTokCommentsPoller(context, Urllib3Client(), credentials=SecretStr(token))  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.TIKTOK

    def __init__(  # noqa: PLR0913 - a connector's whole context, keyword-only
        self,
        context: AccountContext,
        http: HttpClient,
        *,
        credentials: SecretStr | None,
        base_url: str = BUSINESS_BASE_URL,
        research_base_url: str = RESEARCH_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
        mode: Literal["business", "research"] = "business",
        video_ids: Sequence[str] = (),
        poster: JsonPoster | None = None,
        max_video_age_days: float = 90.0,
        overlap_seconds: float = 600.0,
        page_size: int = 30,
        interval_seconds: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        if credentials is None or not credentials.get_secret_value():
            msg = "TikTok needs an access token (SERAMBI_TIKTOK_ACCESS_TOKEN)"
            raise ValueError(msg)
        if mode == "research" and not video_ids:
            msg = "TikTok research mode needs video_ids: the Research API cannot list an account's videos here"
            raise ValueError(msg)
        self._token, self._http, self._clock, self.mode = credentials, http, clock, mode
        self._business, self._research_base = base_url.rstrip("/"), research_base_url.rstrip("/")
        self._poster = poster if poster is not None or mode == "business" else Urllib3JsonPoster()
        self._max_age = timedelta(days=max_video_age_days)
        self._overlap = timedelta(seconds=overlap_seconds)
        self._page_size = page_size
        self._backoff = backoff or Backoff()
        self._account = context.account.account_id
        self._scope = Scope(context.agency.id, self._account, context.directory)
        self._since = require_aware(context.since, "since")
        self._videos: dict[str, _Video] = {video: _Video(None) for video in video_ids}
        self._round: _Round | None = None
        self._backfilled = False
        self._newest: datetime | None = None

    def next_page(self) -> Page:
        """One request: the round's next videos page, else the first queued video's next comments page."""
        if self._round is None:
            listing = self.mode == "business"
            self._round = _Round(listing, queue=[] if listing else list(self._videos))
        items = self._list_videos(self._round) if self._round.listing else self._comments(self._round)
        return Page(items, more=self._round is not None, newest=self._newest)

    def _list_videos(self, round_: _Round) -> list[Parsed]:
        now = self._clock.now()
        floor = now - self._max_age if self._backfilled else min(self._since, now - self._max_age)
        params = {"business_id": self._account, "fields": '["item_id","create_time","caption"]', "max_count": "20"}
        payload = self._business_get(VIDEO_LIST, params | {"cursor": str(round_.list_cursor)}, listing=True)
        page = parse_business_videos(payload, self._scope, max(self._since, floor), self._videos)
        if page is None:
            raise Retry(self._backoff.next(), "TikTok video list: unexpected body (no data.videos list)")
        self._backoff.reset()
        recent = [video for video in page.videos if video.created_at >= floor]
        for video in recent:
            self._videos.setdefault(video.video_id, _Video(video.created_at))
            self._newest = _later(self._newest, video.created_at)
        if page.has_more and (page.cursor or 0) > round_.list_cursor and len(recent) == len(page.videos):
            round_.list_cursor = page.cursor or 0
            return page.items
        # Past the age limit a video is dropped, once its comments were read (the first round reads them all).
        self._videos = {
            video_id: video
            for video_id, video in self._videos.items()
            if not video.read or (video.created is not None and video.created >= now - self._max_age)
        }
        ordered = sorted(self._videos.items(), key=lambda item: item[1].created or self._since, reverse=True)
        round_.listing, round_.queue = False, [video_id for video_id, _ in ordered]
        if not round_.queue:
            self._round, self._backfilled = None, True
        return page.items

    def _comments(self, round_: _Round) -> list[Parsed]:
        video_id = round_.queue[0]
        video = self._videos.setdefault(video_id, _Video(None))
        threshold = self._since if video.watermark is None else max(self._since, video.watermark - self._overlap)
        business = self.mode == "business"
        payload = self._business_comments(video_id, round_.cursor) if business else self._research(video_id, round_)
        if payload is _Outcome.SKIP:
            log.warning("TikTok video %s of account %s is gone or closed; skipped", video_id, self._account)
            self._videos.pop(video_id, None)
            self._next_video(round_)
            return []
        parse = parse_business_comments if business else parse_research_comments
        page = parse(payload, self._scope, video_id, threshold)
        if page is None:
            raise Retry(self._backoff.next(), f"TikTok video {video_id} comments: unexpected body (no data object)")
        self._backoff.reset()
        round_.newest, self._newest = _later(round_.newest, page.newest), _later(self._newest, page.newest)
        # Business pages come newest first: past the threshold, the rest was read by an earlier round.
        reached = business and page.oldest is not None and page.oldest < threshold
        if page.has_more and (page.cursor or 0) > round_.cursor and not reached:
            round_.cursor = page.cursor or 0
        else:
            video.watermark, video.read = _later(video.watermark, round_.newest), True
            self._next_video(round_)
        return page.items

    def _next_video(self, round_: _Round) -> None:
        round_.queue.pop(0)
        round_.cursor, round_.newest = 0, None
        if not round_.queue:
            self._round, self._backfilled = None, True

    def _business_comments(self, video_id: str, cursor: int) -> Any:
        params = {"business_id": self._account, "video_id": video_id, "include_replies": "true", "status": "ALL"}
        params |= {"sort_field": "create_time", "sort_order": "desc", "cursor": str(cursor)}
        return self._business_get(COMMENT_LIST, params | {"max_count": str(self._page_size)}, listing=False)

    def _business_get(self, path: str, params: dict[str, str], *, listing: bool) -> Any:
        """GET a Business API path: the body when its ``code`` is 0, or ``_Outcome.SKIP``; else raise."""
        headers = {"Access-Token": self._token.get_secret_value()}
        response = self._send(partial(self._http.get, f"{self._business}{path}", params=params, headers=headers))
        if response.status in {401, 403}:
            raise AccountError(self._account, f"TikTok {path}: HTTP {response.status}")
        if response.status != 200:
            raise Retry(_retry_after(response) or self._backoff.next(), f"TikTok {path}: HTTP {response.status}")
        status = business_status(payload := self._json(response, path))
        if status is None:
            raise Retry(self._backoff.next(), f"TikTok {path}: unexpected body (no integer code)")
        code, message = status
        said = f"TikTok {path}: code {code}: {message}"
        if code == 0:
            return payload
        if (code in _RATE_CODES and "token" not in message.lower()) or code >= 50000:
            raise Retry(self._backoff.next(), said)
        if code == _NOT_FOUND and not listing:
            return _Outcome.SKIP
        raise AccountError(self._account, said)

    def _research(self, video_id: str, round_: _Round) -> Any:
        """POST the Research API's comment list: the body when it is ``ok``, or ``_Outcome.SKIP``; else raise."""
        assert self._poster is not None  # set whenever mode is research
        body = {"video_id": int(video_id) if video_id.isdigit() else video_id, "max_count": 100}
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        url, params = f"{self._research_base}{RESEARCH_COMMENTS}", {"fields": _RESEARCH_FIELDS}
        post = partial(self._poster.post_json, url, params=params, body=body | {"cursor": round_.cursor})
        response = self._send(partial(post, headers=headers))
        payload = self._json(response, RESEARCH_COMMENTS) if response.status == 200 else _lenient_json(response)
        code, message = research_error(payload)
        if response.status == 200 and code in {"ok", ""}:
            return payload
        said = f"TikTok {RESEARCH_COMMENTS}: HTTP {response.status} {code or 'no code'}: {message}".rstrip(": ")
        if response.status == 429 or code == "rate_limit_exceeded":
            raise Retry(_retry_after(response) or 60.0, said)  # TikTok counts requests in a 1-minute window
        if response.status == 404:
            return _Outcome.SKIP
        if response.status in {200, 408} or response.status >= 500:
            raise Retry(self._backoff.next(), said)
        raise AccountError(self._account, said)

    def _send(self, request: Callable[[], HttpResponse]) -> HttpResponse:
        try:
            return request()
        except Unreachable as exc:
            raise Retry(self._backoff.next(), f"TikTok unreachable: {exc}") from exc

    def _json(self, response: HttpResponse, path: str) -> Any:
        try:
            return response.json()  # orjson: int64 ids decode as exact ints, never as floats
        except ValueError:
            raise Retry(self._backoff.next(), f"TikTok {path}: body is not JSON") from None

    def snapshot(self) -> dict[str, Any]:
        """The cursor as JSON-able state (``version`` 1; times as ISO 8601 UTC)."""
        round_ = self._round
        return {
            "version": _STATE_VERSION,
            "mode": self.mode,
            "backfilled": self._backfilled,
            "newest": _iso(self._newest),
            "videos": {
                k: {"created": _iso(v.created), "watermark": _iso(v.watermark), "read": v.read}
                for k, v in self._videos.items()
            },
            "round": None
            if round_ is None
            else {
                "listing": round_.listing,
                "list_cursor": round_.list_cursor,
                "queue": list(round_.queue),
                "cursor": round_.cursor,
                "newest": _iso(round_.newest),
            },
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after ``state`` from :meth:`snapshot`; ``ValueError`` when it is not such a state."""
        try:
            if state["version"] != _STATE_VERSION or state["mode"] != self.mode:
                msg = f"TikTok cursor version {state['version']!r} / mode {state['mode']!r} is not {self.mode} v1"
                raise ValueError(msg)
            videos = {
                str(k): _Video(_time(v["created"]), _time(v["watermark"]), bool(v["read"]))
                for k, v in state["videos"].items()
            }
            raw = state["round"]
            self._round = None
            if raw is not None:
                queue = [str(video) for video in raw["queue"]]
                cursors = int(raw["list_cursor"]), int(raw["cursor"])
                self._round = _Round(bool(raw["listing"]), cursors[0], queue, cursors[1], _time(raw["newest"]))
            self._videos = {**{video: _Video(None) for video in self._videos}, **videos}
            self._backfilled, self._newest = bool(state["backfilled"]), _time(state["newest"])
        except (KeyError, TypeError, AttributeError) as exc:
            msg = f"not a TikTok cursor: {type(exc).__name__} {exc}"
            raise ValueError(msg) from exc


def _lenient_json(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: HttpResponse) -> float | None:
    value = response.header("retry-after")
    return float(value) if value and value.isdigit() else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _time(raw: Any) -> datetime | None:
    return None if raw is None else require_aware(datetime.fromisoformat(raw), "cursor time")
