"""The cursor of the Meta Graph pollers: where the round is, and what each tracked post has been read up to.

:class:`MetaCursor` is the JSON state that :meth:`MetaGraphPoller.snapshot` returns and ``resume`` takes; its
methods are the pure bookkeeping of a round (the current time is passed in), so a new process given the state
continues with the very request the last one would have made.

- ``step`` ``walk`` (listing posts down to ``since``; ``position`` the paging parameters of the next page,
  ``walk_top``/``walk_ids`` the newest post time of this walk and the posts at that second, ``restarted``
  after a stale paging cursor sent the walk back to the top) or ``refresh``
  (``refresh`` the post ids still to refresh; ``single`` asks one id per request after a batch hit a gone post).
- ``newest``/``newest_ids``: the newest post time of all walks and the posts at that second (the next walk's
  ``since``; those posts are not emitted again). ``latest``: the newest item time emitted (``Page.newest``).
- ``posts``: the tracked posts (:class:`TrackedPost`); ``pending`` the ids whose comments are read now, in order;
  ``replies`` the nested reply lists of the first pending post still to read (:class:`RepliesJob`).
- ``rejected``: the ids of items already dead-lettered, so a page read again does not dead-letter them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from connectors.core.contracts import Parsed, Rejected
from connectors.core.items import native_id
from schemas.events import Interaction

__all__ = ["MetaCursor", "RepliesJob", "TrackedPost"]

EDGE_IDS: Final = 100
_REJECTED_IDS: Final = 200


class TrackedPost(BaseModel):
    """A post whose comments are followed.

    ``created``/``active``: its time and its newest activity (unix s); ``comments``: the comment count when last
    refreshed; ``after``: where the next comment read starts (paging parameters); ``seen``/``edge``: the newest
    comment time emitted and the comment ids at that second (older ones are not emitted again); ``top``/``top_edge``:
    the same for the read in progress (``seen`` moves only when the read is complete); ``bucket``: the snapshot
    window last emitted; ``fresh``: read in full by this round's walk; ``tail``: its last comments page is read,
    nested replies may remain.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    created: int
    active: int
    comments: int | None = None
    after: dict[str, str] | None = None
    seen: int | None = None
    edge: list[str] = []
    top: int | None = None
    top_edge: list[str] = []
    bucket: int | None = None
    fresh: bool = False
    tail: bool = False


class RepliesJob(BaseModel):
    """A nested reply list that continues: the comment, its post and the paging parameters of the next page."""

    model_config = ConfigDict(extra="forbid")

    comment: str
    post: str
    after: dict[str, str]


class MetaCursor(BaseModel):
    """The poller's state (module docstring); ``MetaCursor(since=unix_seconds)`` starts a backfill."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    step: Literal["walk", "refresh"] = "walk"
    since: int
    position: dict[str, str] | None = None
    restarted: bool = False
    walk_top: int | None = None
    walk_ids: list[str] = []
    newest: int | None = None
    newest_ids: list[str] = []
    latest: int | None = None
    posts: list[TrackedPost] = []
    pending: list[str] = []
    refresh: list[str] = []
    single: bool = False
    replies: list[RepliesJob] = []
    rejected: list[str] = []

    @property
    def round_done(self) -> bool:
        """Whether the round has nothing left to ask."""
        return self.step == "refresh" and not (self.refresh or self.pending or self.replies)

    def find(self, post_id: str) -> TrackedPost | None:
        """The tracked post ``post_id``, if tracked."""
        return next((post for post in self.posts if post.id == post_id), None)

    def known(self) -> set[str]:
        """The posts a walk must not emit again."""
        return {post.id for post in self.posts} | set(self.newest_ids)

    def add(self, post_id: str, created: int, comments: int | None, bucket: int) -> None:
        """Track a post a walk found (emitted now, with counts of ``bucket``) and queue its comments."""
        self.posts.append(
            TrackedPost(id=post_id, created=created, active=created, comments=comments, bucket=bucket, fresh=True)
        )
        self.pending.append(post_id)
        if self.walk_top is None or created > self.walk_top:
            self.walk_top, self.walk_ids = created, [post_id]
        elif created == self.walk_top:
            self.walk_ids = [*self.walk_ids, post_id][-EDGE_IDS:]
        self.note(created)

    def end_walk(self) -> None:
        """The walk reached ``since``: remember its newest posts and refresh the posts tracked before it."""
        top = self.walk_top
        if top is not None and (self.newest is None or top > self.newest):
            self.newest, self.newest_ids = top, self.walk_ids
        elif top is not None and top == self.newest:
            self.newest_ids = [*self.newest_ids, *self.walk_ids][-EDGE_IDS:]
        self.position, self.restarted, self.walk_top, self.walk_ids, self.step = None, False, None, [], "refresh"
        self.refresh = [post.id for post in self.posts if not post.fresh]

    def end_round(self, oldest: int, max_posts: int) -> None:
        """Start the next round: a walk from the newest post time; keep the posts active since ``oldest``."""
        for post in self.posts:
            post.fresh = False
        self.step, self.single = "walk", False
        self.since = self.newest if self.newest is not None else self.since
        self.trim(oldest, max_posts)

    def unseen(self, post: TrackedPost, parsed: Sequence[Parsed]) -> list[Parsed]:
        """``parsed`` without the comments of ``post`` already emitted and items already dead-lettered."""
        out: list[Parsed] = []
        for item in parsed:
            if isinstance(item, Interaction):
                at = int(item.created_at.timestamp())
                if post.seen is not None and (at < post.seen or (at == post.seen and item.message_id in post.edge)):
                    continue
                if post.top is None or at > post.top:
                    post.top, post.top_edge = at, [item.message_id]
                elif at == post.top and len(post.top_edge) < EDGE_IDS:
                    post.top_edge.append(item.message_id)
                self.note(at)
            out.append(item)
        return self.unrepeated(out)

    def unrepeated(self, items: list[Parsed]) -> list[Parsed]:
        """``items`` without rejections of items (by id) already dead-lettered: pages are read more than once."""
        out: list[Parsed] = []
        for item in items:
            key = _item_id(item.raw) if isinstance(item, Rejected) else None
            if key is not None and key in self.rejected:
                continue
            if key is not None:
                self.rejected = [*self.rejected, key][-_REJECTED_IDS:]
            out.append(item)
        return out

    def commit(self, post: TrackedPost, oldest: int, max_posts: int) -> None:
        """The read of ``post`` is complete: move its watermark and take it off ``pending``."""
        if post.top is not None:
            if post.seen is None or post.top > post.seen:
                post.seen, post.edge = post.top, post.top_edge
            else:
                post.edge = [*post.edge, *post.top_edge][-EDGE_IDS:]
            post.active = max(post.active, post.top)
        post.top, post.top_edge, post.tail = None, [], False
        self.pending = [other for other in self.pending if other != post.id]
        self.trim(oldest, max_posts)

    def trim(self, oldest: int, max_posts: int) -> None:
        """Keep the pending posts and the ``max_posts`` most recently active since ``oldest``."""
        waiting = set(self.pending)
        kept = sorted(
            (post for post in self.posts if post.id not in waiting and post.active >= oldest),
            key=lambda post: post.active,
            reverse=True,
        )
        keep = {post.id for post in kept[:max_posts]} | waiting
        self.posts = [post for post in self.posts if post.id in keep]

    def drop(self, post_id: str) -> None:
        """Stop tracking a post Graph no longer knows."""
        self.posts = [post for post in self.posts if post.id != post_id]
        self.pending = [other for other in self.pending if other != post_id]
        self.refresh = [other for other in self.refresh if other != post_id]
        self.replies = [job for job in self.replies if job.post != post_id]

    def note(self, at: int) -> None:
        """An item of time ``at`` was emitted."""
        if self.latest is None or at > self.latest:
            self.latest = at


def _item_id(raw: Any) -> str | None:
    return native_id(raw.get("id")) if isinstance(raw, dict) else None
