"""Pure parsers of TikTok comment and video pages, for :mod:`connectors.polling.tiktok`.

- :func:`parse_business_comments`: API for Business ``business/comment/list/`` (the agency's own videos):
  ``{"code": 0, "data": {"comments": [...], "cursor": int, "has_more": bool}}``. A comment whose
  ``parent_comment_id`` is absent or the video id -> ``Interaction(kind=comment)`` on the video; any other parent
  -> ``kind=reply``. Replies nested in a comment's ``reply_list`` are read too. The author is ``user_id`` (the
  account's immutable open id; ``unique_identifier``, a handle, only when it is absent); ``owner: true`` means the
  business account itself wrote it -> role agency, author the account id; another directory account -> other
  agency; else citizen. ``status: HIDDEN`` comments are kept (hidden by the agency, still said).
- :func:`parse_research_comments`: Research API ``/v2/research/video/comment/list/``: ids are JSON numbers (int64,
  past 2**53): decoded exactly by orjson and kept as their decimal text (a float id is refused). Research comments
  are anonymous: every author is :data:`RESEARCH_AUTHOR`, a citizen (agency replies cannot be told apart).
- :func:`parse_business_videos`: ``business/video/list/`` -> a :class:`Post` per video not seen before
  (``item_id``, ``caption``), and the videos to read comments of.
- :func:`business_status`, :func:`research_error`: the error envelopes (Business: HTTP 200 with ``code != 0``).

A comment created before ``threshold`` gives nothing (an earlier round emitted it). Rejected (``invalid``, reason
naming the video and item): an item that is not an object, without its id, without an author (Business API), with
a ``create_time`` that is not unix seconds, or a text that is not text. Event ids: ``tiktok:<comment id>``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import event_fields, guard, native_id, role_of
from connectors.core.text import links_in
from connectors.webhooks.graph import required_id, text_of, unix_time
from schemas.agency import Directory
from schemas.events import AuthorRole, Event, Interaction, InteractionKind, Platform, Post

__all__ = [
    "RESEARCH_AUTHOR",
    "SOURCE",
    "CommentsPage",
    "Scope",
    "Video",
    "VideosPage",
    "business_status",
    "parse_business_comments",
    "parse_business_videos",
    "parse_research_comments",
    "research_error",
]

SOURCE: Final = "poll:tiktok"
RESEARCH_AUTHOR: Final = "tiktok-research-anonymous"
"""The author of every Research API comment: that API names none."""
_TT: Final = Platform.TIKTOK


@dataclass(frozen=True)
class Scope:
    """The account being read: its agency, its id (the Business API ``business_id``) and the directory."""

    agency_id: str
    account_id: str
    directory: Directory

    def fields(self, native: str, created_at: datetime) -> dict[str, Any]:
        """The fields every event of this account shares, for the event ``tiktok:<native>``."""
        return event_fields(_TT, self.agency_id, self.account_id, native, created_at, SOURCE)


@dataclass(frozen=True)
class CommentsPage:
    """A parsed comments page: ``cursor`` to send next, and the newest and oldest ``create_time`` on it."""

    items: list[Parsed]
    cursor: int | None
    has_more: bool
    newest: datetime | None = None
    oldest: datetime | None = None


@dataclass(frozen=True)
class Video:
    """A video of the account to read comments of."""

    video_id: str
    created_at: datetime


@dataclass(frozen=True)
class VideosPage:
    """A parsed ``business/video/list/`` page: posts of videos not seen before, and every valid video."""

    items: list[Parsed]
    videos: list[Video] = field(default_factory=list)
    cursor: int | None = None
    has_more: bool = False


def business_status(payload: Any) -> tuple[int, str] | None:
    """``(code, message)`` of a Business API answer (``code`` 0 is success); ``None`` when it is no envelope."""
    if not isinstance(payload, dict):
        return None
    code, message = payload.get("code"), payload.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return code, (message if isinstance(message, str) else "")[:300]


def research_error(payload: Any) -> tuple[str, str]:
    """``(error.code, error.message)`` of a Research API answer (``"ok"`` on success); empty when absent."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else ""), (message if isinstance(message, str) else "")[:300]


def parse_business_comments(payload: Any, scope: Scope, video_id: str, threshold: datetime) -> CommentsPage | None:
    """One ``business/comment/list/`` answer (``code`` 0) for ``video_id``; ``None`` when it is not that shape."""
    return _comments_page(payload, "comments", partial(_business_comment, scope, video_id, threshold), video_id)


def parse_research_comments(payload: Any, scope: Scope, video_id: str, threshold: datetime) -> CommentsPage | None:
    """One Research API comment list answer for ``video_id``; ``None`` when it is not that shape."""
    return _comments_page(payload, "comments", partial(_research_comment, scope, video_id, threshold), video_id)


def parse_business_videos(payload: Any, scope: Scope, since: datetime, known: Container[str]) -> VideosPage | None:
    """One ``business/video/list/`` answer: a Post per video created since ``since`` and not in ``known``."""
    page = _data(payload, "videos")
    if page is None:
        return None
    raw_videos, cursor, has_more = page
    out: list[Parsed] = []
    videos: list[Video] = []
    for index, raw in enumerate(raw_videos):
        where = f"tiktok video list item {index}"
        try:
            video, post = _video(scope, raw, since, known)
        except InvalidInput as exc:
            out.append(Rejected(f"{where}: {exc.reason}", raw, exc.error_type))
            continue
        videos.append(video)
        if post is not None and (item := guard(where, raw, post)) is not None:
            out.append(item)
    return VideosPage(out, videos, cursor, has_more)


_Parse = Callable[[Any, Mapping[str, str]], Event | None]


def _comments_page(payload: Any, key: str, parse: _Parse, video_id: str) -> CommentsPage | None:
    page = _data(payload, key)
    if page is None:
        return None
    raw_comments, cursor, has_more = page
    flat = list(_flatten(raw_comments))
    authors = {cid: author for raw in flat if (cid := _comment_id(raw)) and (author := _author(raw))}
    out: list[Parsed] = []
    newest: datetime | None = None
    oldest: datetime | None = None
    for index, raw in enumerate(flat):
        try:
            created = unix_time(raw.get("create_time"), "create_time") if isinstance(raw, dict) else None
        except InvalidInput:
            created = None
        if created is not None:
            newest = created if newest is None else max(newest, created)
            oldest = created if oldest is None else min(oldest, created)
        where = f"tiktok video {video_id} comment {index}"
        if (item := guard(where, raw, partial(parse, raw, authors))) is not None:
            out.append(item)
    return CommentsPage(out, cursor, has_more, newest, oldest)


def _data(payload: Any, key: str) -> tuple[list[Any], int | None, bool] | None:
    """``data[key]``, ``data.cursor``, ``data.has_more`` of a page; ``None`` when the page is not that shape."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    items, cursor, has_more = data.get(key, []), data.get("cursor"), data.get("has_more", False)
    if not isinstance(items, list) or not isinstance(has_more, bool):
        return None
    if cursor is not None and (not isinstance(cursor, int) or isinstance(cursor, bool)):
        return None
    return items, cursor, has_more


def _flatten(comments: list[Any]) -> Iterator[Any]:
    for comment in comments:
        yield comment
        replies = comment.get("reply_list") if isinstance(comment, dict) else None
        if isinstance(replies, list):
            yield from replies


def _comment_id(raw: Any) -> str | None:
    return native_id(raw.get("comment_id") if "comment_id" in raw else raw.get("id")) if isinstance(raw, dict) else None


def _author(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    handle = raw.get("unique_identifier")
    return native_id(raw.get("user_id")) or (handle if isinstance(handle, str) and handle else None)


def _object(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        msg = f"{what} is a {type(raw).__name__}, not an object"
        raise InvalidInput(msg)
    return raw


def _business_comment(
    scope: Scope, video_id: str, threshold: datetime, raw: Any, authors: Mapping[str, str]
) -> Event | None:
    comment = _object(raw, "comment")
    comment_id = required_id(comment, "comment_id", "comment")
    created = unix_time(comment.get("create_time"), "create_time")
    if created < threshold:
        return None
    owner = comment.get("owner") is True
    author = scope.account_id if owner else _author(comment)
    if author is None:
        msg = f"comment {comment_id} without user_id or unique_identifier: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    role = AuthorRole.AGENCY if owner else role_of(_TT, author, scope.account_id, scope.directory)
    return _interaction(scope, comment, comment_id, created, video_id, author, role, authors)


def _research_comment(
    scope: Scope, video_id: str, threshold: datetime, raw: Any, authors: Mapping[str, str]
) -> Event | None:
    comment = _object(raw, "comment")
    comment_id = required_id(comment, "id", "comment")
    created = unix_time(comment.get("create_time"), "create_time")
    if created < threshold:
        return None
    return _interaction(scope, comment, comment_id, created, video_id, RESEARCH_AUTHOR, AuthorRole.CITIZEN, authors)


def _interaction(  # noqa: PLR0913 - one comment and everything identified about it
    scope: Scope,
    comment: Mapping[str, Any],
    comment_id: str,
    created: datetime,
    video_id: str,
    author: str,
    role: AuthorRole,
    authors: Mapping[str, str],
) -> Interaction:
    video = native_id(comment.get("video_id")) or video_id
    parent = native_id(comment.get("parent_comment_id"))
    top = parent is None or parent in {video, "0"}  # top-level comments name the video (or nothing) as parent
    text = text_of(comment, "text")
    return Interaction(
        **scope.fields(comment_id, created),
        kind=InteractionKind.COMMENT if top else InteractionKind.REPLY,
        message_id=comment_id,
        root_id=video,
        parent_id=video if top else parent,
        author_id=author,
        author_role=role,
        parent_author_id=None if top or parent is None else authors.get(parent),
        text=text,
        links=links_in(text),
    )


def _video(scope: Scope, raw: Any, since: datetime, known: Container[str]) -> tuple[Video, Callable[[], Post] | None]:
    video = _object(raw, "video")
    video_id = required_id(video, "item_id", "video")
    created = unix_time(video.get("create_time"), "create_time")
    if video_id in known or created < since:
        return Video(video_id, created), None

    def post() -> Post:
        text = text_of(video, "caption")  # a bad caption loses the post, not the video's comments
        return Post(**scope.fields(video_id, created), post_id=video_id, text=text, links=links_in(text))

    return Video(video_id, created), post
