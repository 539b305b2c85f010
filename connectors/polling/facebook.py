"""Facebook Page polling: the Page feed, every comment and reply, and reaction counts, through the Graph API.

:class:`FacebookPagePoller` runs the round of :mod:`connectors.polling.meta_poller` with these requests:

- walk: ``GET /{page-id}/feed?fields=id,message,created_time,from,permalink_url,<counts>&since=<unix s>&limit=25``
  (newest first, cursor paging until ``paging.next`` is absent);
- comments: ``GET /{post-id}/comments?filter=stream&order=chronological&fields=id,message,created_time,from,
  parent{id}&limit=100``: comments and replies flattened, oldest first, a reply carrying ``parent{id}``; the
  ``paging.cursors.after`` of the last page is kept, so the next read brings only new ones;
- refresh: ``GET /?ids=<post ids>&fields=<counts>``, where ``<counts>`` (also asked by the walk) is the comment
  count (``comments.filter(stream).limit(0).summary(total_count)``) and one alias per reaction type, LIKE, LOVE,
  CARE, HAHA, WOW, SAD and ANGRY (``reactions.type(LIKE).limit(0).summary(total_count).as(reactions_like)``).

Events (ids as the webhook parser :mod:`connectors.webhooks.facebook` makes them, so a delivery and a poll of the
same item upsert): a feed item by the Page is a :class:`Post` ``facebook:<post id>``, by anyone else (a visitor
post) an :class:`Interaction` ``mention``; a comment is an :class:`Interaction` ``facebook:<comment id>``, a
``comment`` of the post or, with ``parent{id}``, a ``reply`` to that comment; reaction counts are
:class:`Reaction` snapshots ``facebook:<post>:<type>:<bucket>`` with lower-case types like the webhooks'.

Rejected, naming the post and item: an item without ``id``, without ``from.id`` (the token lacks the MODERATE
task; the author decides the role), with a time that is not Graph's ``2024-05-01T10:00:00+0000``, or text that
is not text. A malformed count is left out (the post is kept). Times are ``created_time`` (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Final

from connectors.core.contracts import Rejected
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
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, Post

__all__ = [
    "COUNT_FIELDS",
    "REACTION_TYPES",
    "FacebookPagePoller",
    "parse_comments_page",
    "parse_feed_page",
    "parse_post_counts",
]

REACTION_TYPES: Final = ("LIKE", "LOVE", "CARE", "HAHA", "WOW", "SAD", "ANGRY")
_FB: Final = Platform.FACEBOOK
_COMMENT_COUNT: Final = "comments.filter(stream).limit(0).summary(total_count)"
COUNT_FIELDS: Final = ",".join(
    [
        _COMMENT_COUNT,
        *(
            f"reactions.type({kind}).limit(0).summary(total_count).as(reactions_{kind.lower()})"
            for kind in REACTION_TYPES
        ),
    ]
)
_FEED_FIELDS: Final = f"id,message,created_time,from,permalink_url,{COUNT_FIELDS}"
_COMMENT_FIELDS: Final = "id,message,created_time,from,parent{id}"


def _listing(body: Any, what: str) -> list[Any] | Rejected:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return Rejected(f"facebook {what}: not a Graph list (no data list)", body)
    return data


def _author(raw: Mapping[str, Any], what: str) -> str:
    sender = raw.get("from")
    author = native_id(sender.get("id")) if isinstance(sender, dict) else None
    if author is None:
        msg = f"{what} without from.id: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    return author


def _total(edge: Any) -> int | None:
    summary = edge.get("summary") if isinstance(edge, dict) else None
    return count_of(summary.get("total_count")) if isinstance(summary, dict) else None


def _reactions(raw: Mapping[str, Any]) -> dict[str, int]:
    found = {kind.lower(): _total(raw.get(f"reactions_{kind.lower()}")) for kind in REACTION_TYPES}
    return {kind: count for kind, count in found.items() if count is not None}


def _post_node(scope: Scope, snapshot: Snapshot, raw: Any) -> Node:
    if not isinstance(raw, dict):
        msg = "feed item is not an object"
        raise InvalidInput(msg)
    post_id = required_id(raw, "id", "feed item")
    author = _author(raw, "feed item")
    created = graph_time(raw.get("created_time"), "created_time")
    text = text_of(raw, "message")
    fields = scope.fields(post_id, created)
    event: Post | Interaction
    if scope.role(author) is AuthorRole.AGENCY:
        event = Post(**fields, post_id=post_id, text=text, links=links_in(text))
    else:  # a visitor post on the Page: its own conversation, like the webhooks' mention
        event = Interaction(
            **fields,
            kind=InteractionKind.MENTION,
            message_id=post_id,
            root_id=post_id,
            author_id=author,
            author_role=scope.role(author),
            text=text,
            links=links_in(text),
        )
    snapshots = reaction_snapshots(scope, post_id, _reactions(raw), snapshot)
    return Node(post_id, created, _total(raw.get("comments")), [event, *snapshots])


def parse_feed_page(body: Any, scope: Scope, snapshot: Snapshot) -> tuple[list[Node | Rejected], Paging]:
    """A ``/{page-id}/feed`` answer: each item a :class:`Node` (post event and count snapshots) or rejected. Pure.

    Args:
        body: the decoded answer.
        scope: the Page polled (account, agency, directory).
        snapshot: when the counts were read (their bucket and time).
    """
    data = _listing(body, "feed")
    if isinstance(data, Rejected):
        return [data], Paging()
    nodes = [
        guard(f"facebook feed item {i}", raw, partial(_post_node, scope, snapshot, raw)) for i, raw in enumerate(data)
    ]
    return nodes, paging_of(body)


def _comment(scope: Scope, post_id: str, raw: Any) -> Interaction:
    if not isinstance(raw, dict):
        msg = "comment is not an object"
        raise InvalidInput(msg)
    comment_id = required_id(raw, "id", "comment")
    author = _author(raw, "comment")
    created = graph_time(raw.get("created_time"), "created_time")
    parent = raw.get("parent")
    parent_id = native_id(parent.get("id")) if isinstance(parent, dict) else None
    if parent is not None and parent_id is None:
        msg = "comment with a parent without id"
        raise InvalidInput(msg)
    text = text_of(raw, "message")
    return Interaction(
        **scope.fields(comment_id, created),
        kind=InteractionKind.REPLY if parent_id not in (None, post_id) else InteractionKind.COMMENT,
        message_id=comment_id,
        root_id=post_id,
        parent_id=parent_id or post_id,
        author_id=author,
        author_role=scope.role(author),
        text=text,
        links=links_in(text),
    )


def parse_comments_page(body: Any, post_id: str, scope: Scope) -> CommentBatch:
    """A ``/{post-id}/comments?filter=stream`` answer: each comment or reply an :class:`Interaction`, or rejected.

    Pure.
    """
    data = _listing(body, f"post {post_id} comments")
    if isinstance(data, Rejected):
        return CommentBatch([data], Paging())
    where = f"facebook post {post_id} comment"
    items = [guard(f"{where} {i}", raw, partial(_comment, scope, post_id, raw)) for i, raw in enumerate(data)]
    return CommentBatch(items, paging_of(body))


def parse_post_counts(node: Any, post_id: str, scope: Scope, snapshot: Snapshot) -> Counts:
    """One post of a ``?ids=`` refresh: reaction snapshots and the comment count. Pure.

    Raises :class:`InvalidInput` when ``node`` is not an object.
    """
    if not isinstance(node, dict):
        msg = "refresh answer without this post"
        raise InvalidInput(msg)
    return Counts(reaction_snapshots(scope, post_id, _reactions(node), snapshot), _total(node.get("comments")))


class FacebookPagePoller(MetaGraphPoller):
    """Polls one Facebook Page (module docstring); the constructor is :class:`MetaGraphPoller`'s.

    ``credentials`` is a Page access token of the Page (``pages_read_engagement``, ``pages_read_user_content``,
    and the MODERATE task for comment authors).

    >>> poller = FacebookPagePoller(context, Urllib3Client(), credentials=SecretStr(token))  # doctest: +SKIP
    >>> poller.run(publisher, stop, checkpoint=cursors.save)  # doctest: +SKIP
    """

    source: ClassVar[str] = "poll:facebook"
    platform: ClassVar[Platform] = _FB

    def _walk_request(self, since: int) -> tuple[str, dict[str, str]]:
        params = {"fields": _FEED_FIELDS, "since": str(since), "limit": str(self.page_size)}
        return f"{self.scope.account_id}/feed", params

    def _parse_walk(self, body: Any, snapshot: Snapshot) -> tuple[list[Node | Rejected], Paging]:
        return parse_feed_page(body, self.scope, snapshot)

    def _comments_request(self, post_id: str) -> tuple[str, dict[str, str]]:
        params = {"filter": "stream", "order": "chronological", "fields": _COMMENT_FIELDS, "limit": "100"}
        return f"{post_id}/comments", params

    def _parse_comments(self, body: Any, post_id: str) -> CommentBatch:
        return parse_comments_page(body, post_id, self.scope)

    def _refresh_fields(self) -> str:
        return COUNT_FIELDS

    def _parse_counts(self, node: Any, post_id: str, snapshot: Snapshot) -> Counts:
        return parse_post_counts(node, post_id, self.scope, snapshot)
