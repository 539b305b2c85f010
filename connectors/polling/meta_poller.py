"""The polling round that the Facebook Page and Instagram media pollers share.

A round, one Graph request per :meth:`MetaGraphPoller.next_page`:

1. **walk** the account's posts (newest first) down to ``since``: the backfill's ``context.since`` in the first
   round, later the newest post time seen (the posts at that second are remembered, so they are not emitted
   twice). Each new post is emitted (with its count snapshots) and tracked; its comments are read in full before
   the next page of the walk, so at most one page of posts waits in the cursor.
2. **refresh** the tracked posts, up to 50 in one ``GET /?ids=...`` request: a count snapshot per post and
   bucket, and the comment count. A post whose comment count changed (or is not given) is read again.
3. **read comments** of each post waiting: Facebook from its stored paging cursor (its stream of comments and
   replies is chronological, so only new ones come), Instagram from the start (replies nest under old comments).
   A watermark per post (the newest comment time emitted, and the ids at that second) keeps comments already
   emitted from being emitted again; it moves only when a post's read is complete, so a read cut short by a
   crash resumes from its paging position and emits nothing twice.

The last request of a round returns ``Page(more=False)``: the runner waits ``interval_seconds``. Tracked posts
are the ``max_posts`` most recently active (newest post or comment time) within ``active_days``; older ones
are dropped, so the cursor stays small. Count snapshots carry the event id ``<platform>:<post>:<type>:<bucket>``,
``bucket`` the unix start of the ``bucket_seconds`` window (default an hour) in which the count was first read:
one snapshot per post, type and window, with ``created_at`` the time it was read.

A post Graph no longer knows (deleted, codes 100/803) is dropped from tracking; a stale paging cursor is dropped
and the read starts again (what completed reads emitted is not emitted again; a read cut short may repeat a page,
harmless with event ids). Edits and removals are not polled: they come from the webhooks. The cursor
(``snapshot()``) is :class:`connectors.polling.meta_cursor.MetaCursor` as JSON.

Budget: an idle round costs two calls (the walk and one refresh per 50 posts), plus a call per post with new
comments. Meta allows a Page token ``4800 x engaged users`` calls a day (Instagram: ``4800 x impressions``), so
the default interval is 5 minutes (about 600 idle calls a day), not the 60 s of other pollers.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Final

from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, PollingSource, Rejected
from connectors.core.http import HttpClient
from connectors.core.items import guard
from connectors.polling.meta_cursor import MetaCursor, RepliesJob, TrackedPost
from connectors.polling.meta_graph import GRAPH_BASE, GraphSession, InvalidRequest, Paging
from connectors.polling.meta_parse import CommentBatch, Counts, Node, Scope, Snapshot
from schemas.events import Platform

__all__ = ["MetaGraphPoller"]

_IDS_PER_REQUEST: Final = 50  # Graph's limit for ?ids=


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


class MetaGraphPoller(PollingSource[dict[str, Any]]):
    """The round of the module docstring; subclasses say which requests and how their answers parse.

    Args:
        context: the account polled, its agency, the directory and where a backfill starts.
        http: the HTTP client.
        credentials: the access token (``None``: every call is an ``AccountError``).
        base_url: the Graph API root (default ``https://graph.facebook.com/v19.0``).
        clock: the snapshot buckets and throttles (default the system clock).
        interval_seconds: wait between rounds (default 300 s: the module docstring says why).
        page_size: posts per walk request (default 25).
        max_posts: posts tracked for new comments (default 50).
        active_days: a post without activity for this long is no longer tracked (default 7).
        bucket_seconds: the reaction snapshot window (default 3600).
        app_secret: sends ``appsecret_proof`` (default none).
        backoff: waits the platform does not give (default 1 s doubling to 300 s).
    """

    source: ClassVar[str]
    platform: ClassVar[Platform]
    keeps_comment_cursor: ClassVar[bool] = True
    """Whether a post's next comment read starts where the last ended (else it re-reads from the start)."""

    def __init__(  # noqa: PLR0913 - the connector conventions: context, client, keyword options
        self,
        context: AccountContext,
        http: HttpClient,
        *,
        credentials: SecretStr | None,
        base_url: str = GRAPH_BASE,
        clock: Clock = SYSTEM_CLOCK,
        interval_seconds: float = 300.0,
        page_size: int = 25,
        max_posts: int = 50,
        active_days: float = 7.0,
        bucket_seconds: int = 3600,
        app_secret: SecretStr | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        account = context.account.account_id
        self.scope = Scope(self.platform, account, context.agency.id, context.directory, self.source)
        self.page_size = page_size
        self.max_posts = max_posts
        self.active_days = active_days
        self.bucket_seconds = bucket_seconds
        self._clock = clock
        self._session = GraphSession(
            http,
            base_url,
            credentials,
            account_id=account,
            label=self.platform.value,
            clock=clock,
            backoff=backoff or Backoff(),
            app_secret=app_secret,
        )
        self._cursor = MetaCursor(since=_seconds(context.since))

    @property
    def usage_percent(self) -> float | None:
        """The highest usage percentage Meta reported last (throttling starts at 100)."""
        return self._session.usage_percent

    # --- what a platform says -----------------------------------------------------------------------------

    @abstractmethod
    def _walk_request(self, since: int) -> tuple[str, dict[str, str]]:
        """The path and parameters listing the account's posts from ``since`` (without paging)."""

    @abstractmethod
    def _parse_walk(self, body: Any, snapshot: Snapshot) -> tuple[list[Node | Rejected], Paging]:
        """A page of posts."""

    @abstractmethod
    def _comments_request(self, post_id: str) -> tuple[str, dict[str, str]]:
        """The path and parameters listing a post's comments (without paging)."""

    @abstractmethod
    def _parse_comments(self, body: Any, post_id: str) -> CommentBatch:
        """A page of a post's comments."""

    @abstractmethod
    def _refresh_fields(self) -> str:
        """The fields of a refresh: count snapshots and the comment count."""

    @abstractmethod
    def _parse_counts(self, node: Any, post_id: str, snapshot: Snapshot) -> Counts:
        """One post of a refresh answer (raise ``InvalidInput`` when it is not one)."""

    def _replies_request(self, comment_id: str) -> tuple[str, dict[str, str]]:
        """The path and parameters of a comment's replies (only platforms whose replies nest)."""
        raise NotImplementedError

    def _parse_replies(self, body: Any, post_id: str, comment_id: str) -> CommentBatch:
        """A page of a comment's replies (only platforms whose replies nest)."""
        raise NotImplementedError

    # --- the cursor ----------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The cursor as JSON-able state (:class:`~connectors.polling.meta_cursor.MetaCursor` shows its shape)."""
        return self._cursor.model_dump(mode="json")

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after a state :meth:`snapshot` returned; ``ValueError`` when it is not one."""
        self._cursor = MetaCursor.model_validate(state)

    # --- the round -----------------------------------------------------------------------------------------

    def next_page(self) -> Page:
        """One Graph request of the round: a walk page, a post's comments or replies, or a refresh."""
        cursor = self._cursor
        if cursor.pending:
            items = self._read_post(cursor.pending[0])
        elif cursor.step == "walk":
            items = self._walk()
        else:
            items = self._refresh()
        done = cursor.round_done
        if done:
            cursor.end_round(self._oldest(), self.max_posts)
        newest = None if cursor.latest is None else datetime.fromtimestamp(cursor.latest, UTC)
        return Page(items, more=not done, newest=newest)

    def _snapshot_now(self) -> Snapshot:
        now = self._clock.now()
        return Snapshot(_seconds(now) // self.bucket_seconds * self.bucket_seconds, now)

    def _oldest(self) -> int:
        return _seconds(self._clock.now() - timedelta(days=self.active_days))

    def _walk(self) -> list[Parsed]:
        cursor = self._cursor
        path, params = self._walk_request(cursor.since)
        try:
            body = self._session.get(path, {**params, **(cursor.position or {})})
        except InvalidRequest:
            if cursor.position is None:
                raise
            cursor.position, cursor.restarted = None, True  # a stale paging cursor: walk again from the top
            return []
        snapshot = self._snapshot_now()
        nodes, paging = self._parse_walk(body, snapshot)
        known = cursor.known()
        items: list[Parsed] = []
        valid = fresh = 0
        for node in nodes:
            if isinstance(node, Rejected):
                items.append(node)
                continue
            valid += 1
            created = _seconds(node.created)
            if created < cursor.since or (node.post_id in known and not cursor.restarted):
                continue
            fresh += 1
            if node.post_id not in known:
                known.add(node.post_id)
                items.extend(node.items)
                cursor.add(node.post_id, created, node.comments, snapshot.bucket)
        # The list is newest first: a page without a new post at or after since ends the walk (an empty page can
        # still carry next; after a stale cursor the walk passes the posts it had found), and so does a next that
        # would ask for the same page again.
        if paging.more and paging.position != cursor.position and (fresh or not valid):
            cursor.position = paging.position
        else:
            cursor.end_walk()
        return cursor.unrepeated(items)

    def _refresh(self) -> list[Parsed]:
        cursor = self._cursor
        chunk = cursor.refresh[: 1 if cursor.single else _IDS_PER_REQUEST]
        if not chunk:
            return []
        try:
            body = self._session.get("", {"ids": ",".join(chunk), "fields": self._refresh_fields()}, listing=False)
        except InvalidRequest:
            if len(chunk) > 1:
                cursor.single = True  # one of them is gone, and Graph refuses the whole batch: ask one by one
            else:
                cursor.drop(chunk[0])
            return []
        del cursor.refresh[: len(chunk)]
        snapshot = self._snapshot_now()
        items: list[Parsed] = []
        for post_id in chunk:
            post = cursor.find(post_id)
            if post is None:
                continue
            node = body.get(post_id)
            where = f"{self.platform.value} post {post_id} counts"
            counts = guard(where, node, partial(self._parse_counts, node, post_id, snapshot))
            if isinstance(counts, Rejected):
                items.append(counts)
                continue
            if post.bucket != snapshot.bucket:
                items.extend(counts.items)
                post.bucket = snapshot.bucket
            if counts.comments is None or counts.comments != post.comments:
                post.comments = counts.comments
                cursor.pending.append(post_id)
        return cursor.unrepeated(items)

    def _read_post(self, post_id: str) -> list[Parsed]:
        cursor = self._cursor
        post = cursor.find(post_id)
        if post is None:
            cursor.pending.pop(0)
            return []
        if cursor.replies:
            return self._read_replies(post)
        if post.tail:
            cursor.commit(post, self._oldest(), self.max_posts)
            return []
        path, params = self._comments_request(post.id)
        try:
            body = self._session.get(path, {**params, **(post.after or {})})
        except InvalidRequest:
            if post.after is None:
                cursor.drop(post.id)  # deleted, or no longer visible to this token
            else:
                post.after = None  # a stale cursor: read again; the watermark hides what was read
            return []
        batch = self._parse_comments(body, post.id)
        items = cursor.unseen(post, batch.items)
        cursor.replies.extend(RepliesJob(comment=c, post=post.id, after=after) for c, after in batch.replies)
        if batch.paging.more and batch.paging.position != post.after:
            post.after = batch.paging.position
            return items
        if not self.keeps_comment_cursor:
            post.after = None
        elif batch.paging.position is not None:
            post.after = batch.paging.position
        post.tail = True
        if not cursor.replies:
            cursor.commit(post, self._oldest(), self.max_posts)
        return items

    def _read_replies(self, post: TrackedPost) -> list[Parsed]:
        cursor = self._cursor
        job = cursor.replies[0]
        items: list[Parsed] = []
        if job.post == post.id:
            path, params = self._replies_request(job.comment)
            try:
                body = self._session.get(path, {**params, **job.after})
            except InvalidRequest:
                body = None  # the comment is gone
            if body is not None:
                batch = self._parse_replies(body, post.id, job.comment)
                items = cursor.unseen(post, batch.items)
                position = batch.paging.position
                if batch.paging.more and position is not None and position != job.after:
                    job.after = position
                    return items
        cursor.replies.pop(0)
        if not cursor.replies and post.tail:
            cursor.commit(post, self._oldest(), self.max_posts)
        return items
