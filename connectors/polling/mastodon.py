"""Mastodon REST polling: an agency account's statuses with their replies, and its notifications.

One request per :meth:`MastodonPoller.next_page`, in rounds: pending contexts first, then the account's statuses
(``GET /api/v1/accounts/:id/statuses?exclude_reblogs=true``), then its notifications (``GET /api/v1/notifications``
with ``types[]`` mention, favourite, reblog). Each feed first walks back from the newest page through the ``Link``
header's ``rel="next"`` ``max_id`` until a page reaches ``context.since`` (older items are left out), then follows
newer items with ``min_id`` (the ``rel="prev"`` id of the last page; the newest id of the first page until then).

A status that replies to something, or has replies, gets its ``/api/v1/statuses/:id/context``: the status and its
``descendants`` are parsed with exact parents and roots (see :mod:`connectors.polling.mastodon_parse`); a 404/410
there means the status was deleted meanwhile: it is skipped. Such a status is emitted with its context, not with
its page (after a restart, a queued status is first fetched again: ``GET /api/v1/statuses/:id``). Replies to old
statuses that come later reach the account as ``mention`` notifications (Mastodon mentions the parent's author in
a reply); a reply deeper in a thread that names no agency is only read with the context of a status, i.e. when
the status is new.

Identity: the directory's account id is the actor URI; the API needs the instance (``instance_url``, default the
actor URI's scheme and host) and the account's local id there (``local_account_id``); the credentials are a user
access token of the account (scopes ``read:statuses read:notifications``), sent as ``Authorization: Bearer``.

Rate limits (default 300 requests per 5 minutes per token) and errors: see
:class:`connectors.polling.mastodon_api.MastodonApi` (a 429 waits until ``X-RateLimit-Reset``, ``Remaining: 0``
makes the next call wait, a 401/403 or a 404/410 of the account is an ``AccountError``).

Cursor (``snapshot()``), version 1::

    {"version": 1, "turn": "statuses" | "notifications", "full": bool, "contexts": [local status id, ...],
     "statuses": {"newest": id | None, "older": id | None, "backfilling": bool}, "notifications": {same}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import SYSTEM_CLOCK, Clock
from connectors.core.contracts import AccountContext, Page, Parsed, PollingSource, Rejected
from connectors.core.http import HttpClient
from connectors.polling.mastodon_api import (
    NOTIFICATIONS_PATH,
    MastodonApi,
    StatusMemory,
    instance_of,
    link_ids,
    newest_id,
)
from connectors.polling.mastodon_parse import parse_context, parse_notification, parse_status, parse_time
from schemas.events import Platform

__all__ = ["SOURCE", "MastodonPoller"]

SOURCE: Final = "poll:mastodon"


class _Feed:
    """Where one feed is: the follow position (``newest``), the backfill position (``older``), the phase."""

    def __init__(self, state: Any = None) -> None:
        state = state if isinstance(state, dict) else {}
        self.newest: str | None = state.get("newest") if isinstance(state.get("newest"), str) else None
        self.older: str | None = state.get("older") if isinstance(state.get("older"), str) else None
        self.backfilling: bool = state.get("backfilling") is not False

    def state(self) -> dict[str, Any]:
        return {"newest": self.newest, "older": self.older, "backfilling": self.backfilling}

    def params(self, limit: int) -> dict[str, str]:
        params = {"limit": str(limit)}
        if self.backfilling and self.older:
            params["max_id"] = self.older
        elif not self.backfilling:
            params["min_id"] = self.newest or "0"  # an empty feed at backfill: everything after is new
        return params

    def advance(self, entries: Sequence[Any], link: str | None, reached_since: bool) -> None:
        """Move past a page of ``entries`` (newest first) answered with the ``Link`` header ``link``."""
        links = link_ids(link)
        top = links.get("prev", {}).get("min_id") or newest_id(e.get("id") for e in entries if isinstance(e, dict))
        if not self.backfilling or self.newest is None:
            self.newest = top or self.newest
        if self.backfilling:
            self.older = links.get("next", {}).get("max_id")
            self.backfilling = bool(entries) and self.older is not None and not reached_since
            self.older = self.older if self.backfilling else None


class MastodonPoller(PollingSource[dict[str, Any]]):
    """Polls one agency account's statuses (with their contexts) and notifications on its instance.

    Args:
        context: the account read (its ``account_id`` is the actor URI).
        http: the HTTP client.
        credentials: the account's user access token (``SERAMBI_MASTODON_TOKEN``).
        local_account_id: the account's id on its instance (``GET /api/v1/accounts/lookup?acct=name``).
        instance_url: the instance (default: the scheme and host of the actor URI).
        clock: the clock reset times are measured on (default the system's).
        page_limit: entries per page (default 40, Mastodon's maximum for statuses).
        interval_seconds: the wait between rounds once caught up (default 60 s).
        max_known: the most statuses remembered for parents and roots (default 100,000).
        backoff: the back-off of transient failures (default 1 s doubling to 300 s).

    >>> poller = MastodonPoller(ctx, Urllib3Client(), credentials=token, local_account_id="1098...")  # doctest: +SKIP
    """

    source: ClassVar[str] = SOURCE
    platform: ClassVar[Platform] = Platform.MASTODON

    def __init__(  # noqa: PLR0913 - keyword-only options with defaults
        self, context: AccountContext, http: HttpClient, *, credentials: SecretStr | None, local_account_id: str,
        instance_url: str | None = None, clock: Clock = SYSTEM_CLOCK, page_limit: int = 40,
        interval_seconds: float = 60.0, max_known: int = 100_000, backoff: Backoff | None = None,
    ) -> None:  # fmt: skip
        super().__init__(interval_seconds=interval_seconds)
        self._context, self._clock, self._limit = context, clock, page_limit
        self._statuses_path = f"/api/v1/accounts/{local_account_id}/statuses"
        self._api = MastodonApi(
            http, instance_url or instance_of(context.account.account_id), credentials=credentials,
            account=context.account.account_id, clock=clock, backoff=backoff or Backoff(),
        )  # fmt: skip
        self._memory = StatusMemory(max_known)
        self._objects: dict[str, Any] = {}  # queued statuses, by local id (refetched after a restart)
        self._newest: datetime | None = None
        self.resume({})

    @property
    def quota_remaining(self) -> int | None:
        """Requests left in the instance's rate-limit window (``None`` before the first answer)."""
        return self._api.quota_remaining

    def snapshot(self) -> dict[str, Any]:
        """The cursor (shape in the module doc)."""
        feeds = {"statuses": self._feeds["statuses"].state(), "notifications": self._feeds["notifications"].state()}
        return {"version": 1, "turn": self._turn, "full": self._full, "contexts": list(self._contexts), **feeds}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (an empty or unknown state starts the backfill afresh)."""
        self._feeds = {name: _Feed(state.get(name)) for name in ("statuses", "notifications")}
        self._turn = "notifications" if state.get("turn") == "notifications" else "statuses"
        self._full = state.get("full") is True
        contexts = state.get("contexts")
        self._contexts = [c for c in contexts if isinstance(c, str)] if isinstance(contexts, list) else []

    def next_page(self) -> Page:
        """One request: a pending context, else the statuses or notifications page whose turn it is."""
        more = True
        if self._contexts:
            items = self._context_step(self._contexts[0])
        elif self._turn == "statuses":
            self._full = False
            items, self._turn = self._statuses_step(), "notifications"
        else:
            items, self._turn = self._notifications_step(), "statuses"
            backfilling = any(feed.backfilling for feed in self._feeds.values())
            more = bool(self._contexts) or backfilling or self._full
        for item in items:
            if not isinstance(item, Rejected) and (self._newest is None or item.created_at > self._newest):
                self._newest = item.created_at
        return Page(items, more=more, newest=self._newest)

    def _feed_page(self, name: str, path: str, params: Mapping[str, str]) -> tuple[list[Any], list[Any]]:
        """Fetch a feed's page: (all entries, those to parse: newer than ``since`` while backfilling)."""
        feed = self._feeds[name]
        response = self._api.get(path, {**params, **feed.params(self._limit)})
        entries: list[Any] = self._api.body(response, name, _is_list)
        kept = entries
        if feed.backfilling:
            kept = [e for e in entries if not _older(e, self._context.since)]
        feed.advance(entries, response.header("link"), reached_since=len(kept) < len(entries))
        if not feed.backfilling and len(entries) >= self._limit:
            self._full = True
        return entries, kept

    def _statuses_step(self) -> list[Parsed]:
        _, kept = self._feed_page("statuses", self._statuses_path, {"exclude_reblogs": "true"})
        items: list[Parsed] = []
        parsed: list[Any] = []
        for index in reversed(range(len(kept))):  # oldest first
            status = kept[index]
            local = status.get("id") if isinstance(status, dict) else None
            if isinstance(local, str) and local and _needs_context(status):
                self._objects[local] = status
                if local not in self._contexts:
                    self._contexts.append(local)
                continue
            parsed.append(status)
            where = f"statuses item {index}"
            items.extend(parse_status(status, self._context, source=SOURCE, where=where, learnt=self._memory.learnt))
        return self._memory.remember(parsed, items, self._context)

    def _notifications_step(self) -> list[Parsed]:
        _, kept = self._feed_page("notifications", NOTIFICATIONS_PATH, {})
        items: list[Parsed] = []
        for index in reversed(range(len(kept))):
            where, learnt = f"notifications item {index}", self._memory.learnt
            items.extend(parse_notification(kept[index], self._context, source=SOURCE, where=where, learnt=learnt))
        statuses = [n.get("status") for n in kept if isinstance(n, dict)]
        return self._memory.remember(statuses, items, self._context)

    def _context_step(self, local: str) -> list[Parsed]:
        status = self._objects.get(local)
        if status is None:  # queued before a restart: fetch the status itself first
            response = self._api.get_unless_gone(f"/api/v1/statuses/{local}")
            if response is None:
                self._done(local)
            else:
                self._objects[local] = self._api.body(response, "status", _is_object)
            return []
        response = self._api.get_unless_gone(f"/api/v1/statuses/{local}/context")
        if response is None:  # deleted since it was listed
            self._done(local)
            return []
        body = self._api.body(response, "context", _is_context)
        items = parse_context(body, status, self._context, source=SOURCE, learnt=self._memory.learnt)
        self._done(local)
        thread = [*body["ancestors"], status, *body["descendants"]]
        return self._memory.remember(thread, items, self._context)

    def _done(self, local: str) -> None:
        self._contexts.remove(local)
        self._objects.pop(local, None)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_context(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), list) for k in ("ancestors", "descendants"))


def _needs_context(status: Mapping[str, Any]) -> bool:
    """A reply (its parent and root come exact from the context) or a status with replies (its descendants)."""
    replies = status.get("replies_count")
    return status.get("in_reply_to_id") is not None or (isinstance(replies, int) and replies > 0)


def _older(entry: Any, since: datetime) -> bool:
    """Whether a status or notification was created before ``since`` (an unreadable time is not: it is parsed)."""
    when = parse_time(entry.get("created_at")) if isinstance(entry, dict) else None
    return when is not None and when < since
