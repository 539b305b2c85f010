"""Instagram media polling: the account's media, their comments and nested replies, and like counts.

:class:`InstagramMediaPoller` runs the round of :mod:`connectors.polling.meta_poller` with these requests:

- walk: ``GET /{ig-user-id}/media?fields=id,caption,timestamp,permalink,like_count,comments_count&limit=25``
  (newest first; the walk stops at the first page whose media are all older than ``since``);
- comments: ``GET /{media-id}/comments?fields=id,text,timestamp,from{id,username},parent_id,replies{id,text,
  timestamp,from{id,username},parent_id}&limit=50``; a nested ``replies`` list with ``paging.next`` continues
  with ``GET /{comment-id}/replies``. Replies hang under old comments, so a media whose ``comments_count`` changed
  is read again from the start, and the poller's watermark emits only what it had not read;
- refresh: ``GET /?ids=<media ids>&fields=like_count,comments_count``.

Events (ids as the webhook parser :mod:`connectors.webhooks.instagram` makes them, so a delivery and a poll of the
same comment upsert): a media is a :class:`Post` ``instagram:<media id>`` (the account's own media, caption as
text); a comment an :class:`Interaction` ``instagram:<comment id>`` rooted at the media, a ``reply`` when it has
a parent comment (``parent_id``, or the comment it is nested under), else a ``comment`` whose parent is the
media; ``like_count`` a :class:`Reaction` snapshot ``instagram:<media>:like:<bucket>``. Comments by the account
itself (``from.id`` = the account id) are the agency's. Times are ``timestamp`` (the authored time; the webhooks
only know the delivery time).

Rejected, naming the media and item: an item without ``id``, a comment without ``from.id`` (the legacy
``username`` alone cannot tell the agency, ids decide), a time that is not Graph's ``+0000`` form, text that is
not text. A malformed ``like_count`` is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Final

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import guard, native_id
from connectors.core.text import links_in
from connectors.polling.meta_graph import Paging, graph_time, paging_of
from connectors.polling.meta_parse import (
    CommentBatch,
    Counts,
    Node,
    Scope,
    Snapshot,
    count_of,
    reaction_snapshots,
)
from connectors.polling.meta_poller import MetaGraphPoller
from connectors.webhooks.graph import required_id, text_of
from schemas.events import Interaction, InteractionKind, Platform, Post

__all__ = [
    "InstagramMediaPoller",
    "parse_comments_page",
    "parse_media_counts",
    "parse_media_page",
    "parse_replies_page",
]

_IG: Final = Platform.INSTAGRAM
_MEDIA_FIELDS: Final = "id,caption,timestamp,permalink,like_count,comments_count"
_REPLY_FIELDS: Final = "id,text,timestamp,from{id,username},parent_id"
_COMMENT_FIELDS: Final = f"{_REPLY_FIELDS},replies{{{_REPLY_FIELDS}}}"
_COUNT_FIELDS: Final = "like_count,comments_count"


def _listing(body: Any, what: str) -> list[Any] | Rejected:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return Rejected(f"instagram {what}: not a Graph list (no data list)", body)
    return data


def _likes(raw: Mapping[str, Any]) -> dict[str, int]:
    likes = count_of(raw.get("like_count"))
    return {} if likes is None else {"like": likes}


def _media_node(scope: Scope, snapshot: Snapshot, raw: Any) -> Node:
    if not isinstance(raw, dict):
        msg = "media is not an object"
        raise InvalidInput(msg)
    media_id = required_id(raw, "id", "media")
    created = graph_time(raw.get("timestamp"), "timestamp")
    text = text_of(raw, "caption")
    post = Post(**scope.fields(media_id, created), post_id=media_id, text=text, links=links_in(text))
    snapshots = reaction_snapshots(scope, media_id, _likes(raw), snapshot)
    return Node(media_id, created, count_of(raw.get("comments_count")), [post, *snapshots])


def parse_media_page(body: Any, scope: Scope, snapshot: Snapshot) -> tuple[list[Node | Rejected], Paging]:
    """A ``/{ig-user-id}/media`` answer: each media a :class:`Node` (post and like snapshot) or rejected. Pure."""
    data = _listing(body, "media")
    if isinstance(data, Rejected):
        return [data], Paging()
    nodes = [
        guard(f"instagram media item {i}", raw, partial(_media_node, scope, snapshot, raw))
        for i, raw in enumerate(data)
    ]
    return nodes, paging_of(body)


def _comment(scope: Scope, media_id: str, nested_under: str | None, raw: Any) -> Interaction:
    if not isinstance(raw, dict):
        msg = "comment is not an object"
        raise InvalidInput(msg)
    comment_id = required_id(raw, "id", "comment")
    sender = raw.get("from")
    author = native_id(sender.get("id")) if isinstance(sender, dict) else None
    if author is None:
        msg = "comment without from.id: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    created = graph_time(raw.get("timestamp"), "timestamp")
    parent = native_id(raw.get("parent_id")) or nested_under
    text = text_of(raw, "text")
    return Interaction(
        **scope.fields(comment_id, created),
        kind=InteractionKind.REPLY if parent not in (None, media_id) else InteractionKind.COMMENT,
        message_id=comment_id,
        root_id=media_id,
        parent_id=parent or media_id,
        author_id=author,
        author_role=scope.role(author),
        text=text,
        links=links_in(text),
    )


def _replies(scope: Scope, media_id: str, comment_id: str, data: list[Any], where: str) -> list[Parsed]:
    return [
        guard(f"{where} reply {i}", raw, partial(_comment, scope, media_id, comment_id, raw))
        for i, raw in enumerate(data)
    ]


def parse_comments_page(body: Any, media_id: str, scope: Scope) -> CommentBatch:
    """A ``/{media-id}/comments`` answer: comments and their nested replies as :class:`Interaction` or rejected.

    A nested ``replies`` list that has a ``paging.next`` is returned in ``replies`` (comment id, position) to be
    read on with ``/{comment-id}/replies``. Pure.
    """
    data = _listing(body, f"media {media_id} comments")
    if isinstance(data, Rejected):
        return CommentBatch([data], Paging())
    items: list[Parsed] = []
    more: list[tuple[str, dict[str, str]]] = []
    for i, raw in enumerate(data):
        where = f"instagram media {media_id} comment {i}"
        items.append(guard(where, raw, partial(_comment, scope, media_id, None, raw)))
        comment_id = native_id(raw.get("id")) if isinstance(raw, dict) else None
        nested = raw.get("replies") if isinstance(raw, dict) else None
        replies = nested.get("data") if isinstance(nested, dict) else None
        if comment_id is None or not isinstance(replies, list):
            continue
        items.extend(_replies(scope, media_id, comment_id, replies, where))
        paging = paging_of(nested)
        if paging.more and paging.position is not None:
            more.append((comment_id, paging.position))
    return CommentBatch(items, paging_of(body), more)


def parse_replies_page(body: Any, media_id: str, comment_id: str, scope: Scope) -> CommentBatch:
    """A ``/{comment-id}/replies`` answer: each reply an :class:`Interaction` (parent ``comment_id``), or rejected.

    Pure.
    """
    data = _listing(body, f"comment {comment_id} replies")
    if isinstance(data, Rejected):
        return CommentBatch([data], Paging())
    where = f"instagram media {media_id} comment {comment_id}"
    return CommentBatch(_replies(scope, media_id, comment_id, data, where), paging_of(body))


def parse_media_counts(node: Any, media_id: str, scope: Scope, snapshot: Snapshot) -> Counts:
    """One media of a ``?ids=`` refresh: its like snapshot and comment count. Pure.

    Raises :class:`InvalidInput` when ``node`` is not an object.
    """
    if not isinstance(node, dict):
        msg = "refresh answer without this media"
        raise InvalidInput(msg)
    return Counts(reaction_snapshots(scope, media_id, _likes(node), snapshot), count_of(node.get("comments_count")))


class InstagramMediaPoller(MetaGraphPoller):
    """Polls one Instagram professional account (module docstring); the constructor is :class:`MetaGraphPoller`'s.

    ``credentials`` is the access token of the account (Instagram API with Facebook Login: a Page token of the
    linked Page with ``instagram_basic`` and ``instagram_manage_comments``).

    >>> poller = InstagramMediaPoller(context, Urllib3Client(), credentials=SecretStr(token))  # doctest: +SKIP
    """

    source: ClassVar[str] = "poll:instagram"
    platform: ClassVar[Platform] = _IG
    keeps_comment_cursor: ClassVar[bool] = False

    def _walk_request(self, since: int) -> tuple[str, dict[str, str]]:
        del since  # the walk stops by the media times: the media edge's time filters are not relied upon
        return f"{self.scope.account_id}/media", {"fields": _MEDIA_FIELDS, "limit": str(self.page_size)}

    def _parse_walk(self, body: Any, snapshot: Snapshot) -> tuple[list[Node | Rejected], Paging]:
        return parse_media_page(body, self.scope, snapshot)

    def _comments_request(self, post_id: str) -> tuple[str, dict[str, str]]:
        return f"{post_id}/comments", {"fields": _COMMENT_FIELDS, "limit": "50"}

    def _parse_comments(self, body: Any, post_id: str) -> CommentBatch:
        return parse_comments_page(body, post_id, self.scope)

    def _replies_request(self, comment_id: str) -> tuple[str, dict[str, str]]:
        return f"{comment_id}/replies", {"fields": _REPLY_FIELDS, "limit": "50"}

    def _parse_replies(self, body: Any, post_id: str, comment_id: str) -> CommentBatch:
        return parse_replies_page(body, post_id, comment_id, self.scope)

    def _refresh_fields(self) -> str:
        return _COUNT_FIELDS

    def _parse_counts(self, node: Any, post_id: str, snapshot: Snapshot) -> Counts:
        return parse_media_counts(node, post_id, self.scope, snapshot)
