"""Pure parsers of YouTube Data API v3 comment pages, for :mod:`connectors.polling.youtube`.

- :func:`parse_threads`: a ``commentThreads.list`` page (``part=snippet,replies``) -> the top-level comments and
  their inlined replies as events, the threads whose replies need ``comments.list`` (:class:`Expansion`), the
  next page token and the newest time on the page.
- :func:`parse_replies`: a ``comments.list?parentId=<thread>`` page -> the replies as events.
- :func:`google_error`: the ``errors[0].reason`` and plain message of a Google JSON error body.

Mapping (the channel is the agency's account; roles by ``snippet.authorChannelId.value`` only, never the
display name): a top-level comment -> ``Interaction(kind=comment)``, its root and parent the video
(``snippet.videoId`` of the thread: comment-level ``videoId`` is no longer returned); a reply ->
``Interaction(kind=reply)``, parent ``snippet.parentId`` (YouTube threads have two levels), id
``<thread id>.<suffix>``. A comment whose ``updatedAt`` is after its ``publishedAt`` also gives
``Change(op=edit)`` with the current text, event id ``youtube:<comment>:edit:<updatedAt unix seconds>``.
Text is ``textOriginal`` (plain), else ``textDisplay`` read as HTML.

:class:`Window` decides what is emitted: a comment published at or after ``threshold`` (and an edit made at or
after it, of a comment published at or after ``floor``); older ones were emitted by an earlier sweep. Rejected
(``invalid``, reason naming the item): a thread or comment without its id, a thread without ``videoId``, a
comment without ``authorChannelId`` (no role can be decided) or with a bad time. Skipped: nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final

import orjson

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import aware_iso, event_fields, guard, role_of
from connectors.core.text import html_to_text, links_in
from schemas.agency import Directory
from schemas.events import AuthorRole, Change, ChangeOp, Event, Interaction, InteractionKind, Platform
from schemas.timeutil import event_time

__all__ = [
    "SOURCE",
    "Expansion",
    "RepliesPage",
    "Scope",
    "ThreadsPage",
    "Window",
    "google_error",
    "parse_replies",
    "parse_threads",
]

SOURCE: Final = "poll:youtube"
_YT: Final = Platform.YOUTUBE


@dataclass(frozen=True)
class Scope:
    """The channel being read: its agency, its id (the ``account_id``) and the directory for roles."""

    agency_id: str
    channel_id: str
    directory: Directory

    def fields(self, native: str, created_at: datetime) -> dict[str, Any]:
        """The fields every event of this channel shares, for the event ``youtube:<native>``."""
        return event_fields(_YT, self.agency_id, self.channel_id, native, created_at, SOURCE)

    def role(self, author: str) -> AuthorRole:
        """The channel itself is the agency, another directory channel another agency, anyone else a citizen."""
        return role_of(_YT, author, self.channel_id, self.directory)


@dataclass(frozen=True)
class Window:
    """What a sweep emits: comments published at or after ``threshold``, edits of comments since ``floor``."""

    floor: datetime
    threshold: datetime


@dataclass(frozen=True)
class Expansion:
    """A thread with more replies than inlined: its replies come from ``comments.list?parentId=thread_id``."""

    thread_id: str
    video_id: str
    author_id: str | None
    reply_count: int


@dataclass(frozen=True)
class ThreadsPage:
    """A parsed ``commentThreads.list`` page.

    ``newest`` is the latest publish or edit time on it; ``last`` the latest activity (publish, edit, inlined
    reply) of its last thread: threads come newest first, so a ``last`` before a sweep's floor ends the sweep.
    """

    items: list[Parsed]
    next_token: str | None
    expansions: list[Expansion] = field(default_factory=list)
    newest: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True)
class RepliesPage:
    """A parsed ``comments.list`` page of one thread's replies."""

    items: list[Parsed]
    next_token: str | None
    newest: datetime | None = None


def parse_threads(payload: Any, scope: Scope, window: Window) -> ThreadsPage | None:
    """One ``commentThreads.list`` answer as a :class:`ThreadsPage`; ``None`` when it is not that shape at all."""
    items = _page_items(payload)
    if items is None:
        return None
    out: list[Parsed] = []
    expansions: list[Expansion] = []
    newest = latest = None
    for index, thread in enumerate(items):
        where = f"youtube thread {index}"
        latest = None
        try:
            events, expansion, latest = _thread(scope, window, thread, where)
        except InvalidInput as exc:
            out.append(Rejected(f"{where}: {exc.reason}", thread, exc.error_type))
            continue
        out.extend(events)
        newest = _later(newest, latest)
        if expansion is not None:
            expansions.append(expansion)
    return ThreadsPage(out, _token(payload), expansions, newest, latest)


def parse_replies(payload: Any, scope: Scope, window: Window, thread: Expansion) -> RepliesPage | None:
    """One ``comments.list?parentId=`` answer for ``thread``; ``None`` when it is not that shape at all."""
    items = _page_items(payload)
    if items is None:
        return None
    out: list[Parsed] = []
    newest: datetime | None = None
    for index, reply in enumerate(items):
        where = f"youtube thread {thread.thread_id} reply {index}"
        out.extend(_guarded(where, reply, partial(_comment, scope, window, reply, thread, reply=True)))
        newest = _later(newest, _activity(reply))
    return RepliesPage(out, _token(payload), newest)


def google_error(body: bytes) -> tuple[str, str]:
    """``(errors[0].reason, message as plain text)`` of a Google JSON error body; empty strings when absent."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = first.get("reason")
    message = error.get("message")
    text = html_to_text(message)[0] if isinstance(message, str) else ""
    return (reason if isinstance(reason, str) else ""), text[:300]  # messages hold HTML: never shown raw


def _page_items(payload: Any) -> list[Any] | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        return None
    token = payload.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        return None
    items: list[Any] = payload["items"]
    return items


def _token(payload: Mapping[str, Any]) -> str | None:
    return payload.get("nextPageToken") or None


def _thread(
    scope: Scope, window: Window, raw: Any, where: str
) -> tuple[list[Parsed], Expansion | None, datetime | None]:
    thread = _object(raw, "thread")
    thread_id = _id(thread.get("id"), "thread without id")
    snippet = _object(thread.get("snippet"), "thread snippet")
    video = _id(snippet.get("videoId"), "thread without videoId (channel discussions are no longer served)")
    top = snippet.get("topLevelComment")
    author = _author_of(top)
    ref = Expansion(thread_id, video, author, 0)
    out = _guarded(f"{where} comment", top, partial(_comment, scope, window, top, ref, reply=False))
    replies = thread.get("replies", {}).get("comments", []) if isinstance(thread.get("replies"), dict) else []
    replies = replies if isinstance(replies, list) else []
    latest = _activity(top)
    for number, reply in enumerate(replies):
        out.extend(_guarded(f"{where} reply {number}", reply, partial(_comment, scope, window, reply, ref, reply=True)))
        latest = _later(latest, _activity(reply))
    count = snippet.get("totalReplyCount")
    wanted = count if isinstance(count, int) and not isinstance(count, bool) else 0
    expansion = Expansion(thread_id, video, author, wanted) if wanted > len(replies) else None
    return out, expansion, latest


def _comment(scope: Scope, window: Window, raw: Any, thread: Expansion, reply: bool) -> list[Event]:
    comment = _object(raw, "comment")
    comment_id = _id(comment.get("id"), "comment without id")
    snippet = _object(comment.get("snippet"), "comment snippet")
    author = _author_of(comment)
    if author is None:
        msg = f"comment {comment_id} without authorChannelId.value: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    published = _time(snippet.get("publishedAt"), "publishedAt")
    updated = _time(snippet["updatedAt"], "updatedAt") if snippet.get("updatedAt") is not None else published
    text = _text(snippet)
    role = scope.role(author)
    out: list[Event] = []
    if published >= window.threshold:
        parent = (_str(snippet.get("parentId")) or thread.thread_id) if reply else thread.video_id
        out.append(
            Interaction(
                **scope.fields(comment_id, published),
                kind=InteractionKind.REPLY if reply else InteractionKind.COMMENT,
                message_id=comment_id,
                root_id=thread.video_id,
                parent_id=parent,
                author_id=author,
                author_role=role,
                parent_author_id=thread.author_id if reply else None,
                text=text,
                links=links_in(text),
            )
        )
    if updated > published >= window.floor and updated >= window.threshold:
        out.append(
            Change(
                **scope.fields(f"{comment_id}:edit:{int(updated.timestamp())}", updated),
                op=ChangeOp.EDIT,
                target_id=comment_id,
                root_id=thread.video_id,
                author_id=author,  # only its author can edit a comment
                author_role=role,
                text=text,
            )
        )
    return out


def _guarded(where: str, raw: Any, parse: Callable[[], list[Event]]) -> list[Parsed]:
    """``parse()``, or one :class:`Rejected` saying where and why: one bad comment never loses the others."""
    found = guard(where, raw, parse)
    return [found] if isinstance(found, Rejected) else list(found)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        msg = f"{what} is a {type(value).__name__}, not an object"
        raise InvalidInput(msg)
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any, missing: str) -> str:
    found = _str(value)
    if found is None:
        raise InvalidInput(missing)
    return found


def _author_of(comment: Any) -> str | None:
    snippet = comment.get("snippet") if isinstance(comment, dict) else None
    channel = snippet.get("authorChannelId") if isinstance(snippet, dict) else None
    return _str(channel.get("value")) if isinstance(channel, dict) else None


def _time(raw: Any, name: str) -> datetime:
    """An RFC 3339 time with its offset (YouTube's ``2024-05-01T10:03:27Z``) as aware UTC within the bounds."""
    moment = aware_iso(raw)
    if moment is None:
        msg = f"{name} {repr(raw)[:40]} is not an RFC 3339 time with an offset"
        raise InvalidInput(msg)
    try:
        return event_time(moment, name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _activity(comment: Any) -> datetime | None:
    """The latest of a comment's publish and edit times, ``None`` when it has neither (lenient: for paging only)."""
    snippet = comment.get("snippet") if isinstance(comment, dict) else None
    latest: datetime | None = None
    for key in ("publishedAt", "updatedAt"):
        try:
            latest = _later(latest, _time(snippet.get(key), key) if isinstance(snippet, dict) else None)
        except InvalidInput:
            continue
    return latest


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _text(snippet: Mapping[str, Any]) -> str | None:
    original = snippet.get("textOriginal")
    if isinstance(original, str):
        return original
    display = snippet.get("textDisplay")
    if display is None:
        return None
    if not isinstance(display, str):
        msg = f"textDisplay is a {type(display).__name__}, not text"
        raise InvalidInput(msg)
    return html_to_text(display)[0]  # textFormat=html (the default) marks up links and line breaks
