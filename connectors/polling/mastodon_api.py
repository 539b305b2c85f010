"""Mastodon's REST API for one account, and what the Mastodon connectors remember of the statuses they read.

- :class:`MastodonApi`: GET with the bearer token; the rate-limit headers (``X-RateLimit-Remaining``, and
  ``X-RateLimit-Reset``, an ISO 8601 time with µs) and errors turned into what the caller does next: a 429 waits
  until the reset, a success with ``Remaining: 0`` makes the next call wait until it, a 5xx, a network failure or
  a malformed body waits :class:`~connectors.core.backoff.Backoff`, a 401/403 (or another refusal) is an
  :class:`~connectors.core.errors.AccountError`, a 404/410 is "gone" where the caller allows it.
- :class:`StatusMemory`: the bounded, per-process maps the parsers resolve parents, roots and deletes with.
- Pure helpers: :func:`link_ids` (``Link`` header pagination ids), :func:`parse_reset`, :func:`newest_id`,
  :func:`instance_of`.

Used by :class:`connectors.polling.mastodon.MastodonPoller` and :class:`connectors.streams.mastodon.MastodonStream`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.clock import Clock
from connectors.core.contracts import AccountContext, Parsed
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.http import HttpClient, HttpResponse
from connectors.polling.mastodon_parse import NOTIFICATION_TYPES, Learnt, identify, parse_time
from connectors.webhooks.threads import RootTracker, put_bounded
from schemas.events import Change, ChangeOp, Interaction, Post

__all__ = [
    "NOTIFICATIONS_PATH",
    "MastodonApi",
    "StatusMemory",
    "instance_of",
    "link_ids",
    "newest_id",
    "parse_reset",
]

NOTIFICATIONS_PATH: Final = "/api/v1/notifications?" + "&".join(f"types%5B%5D={t}" for t in NOTIFICATION_TYPES)
"""The notifications read (``types[]`` repeats, which a params mapping cannot say, so it is in the path)."""
_RETRY_STATUSES: Final = frozenset({408, 425})
_REL = re.compile(r"""rel\s*=\s*"?([^";,\s]+)"?""")
_LINK = re.compile(r"<([^>]*)>([^<]*)")


def instance_of(actor_uri: str) -> str:
    """The instance of an actor URI: ``https://h/users/name`` -> ``https://h``."""
    parts = urlsplit(actor_uri)
    return f"{parts.scheme}://{parts.netloc}"


class MastodonApi:
    """Mastodon's REST API for one account: the bearer token, rate-limit headers, and errors as what to do next.

    Args:
        http: the HTTP client.
        instance_url: e.g. ``https://social.kesihatan.example``.
        credentials: the account's user access token (``None``: anonymous, refused where a token is needed).
        account: the account's id in errors (its actor URI).
        clock: turns reset times into waits.
        backoff: the waits the platform does not give (5xx, network, malformed answers).
    """

    def __init__(  # noqa: PLR0913 - the API's whole context, keyword-only
        self, http: HttpClient, instance_url: str, *, credentials: SecretStr | None, account: str, clock: Clock,
        backoff: Backoff,
    ) -> None:  # fmt: skip
        self._http, self._base, self._account = http, instance_url.rstrip("/"), account
        self._clock, self._backoff = clock, backoff
        token = credentials.get_secret_value() if credentials is not None else ""
        self.headers: Mapping[str, str] = MappingProxyType({"Authorization": f"Bearer {token}"} if token else {})
        self.quota_remaining: int | None = None
        """``X-RateLimit-Remaining`` of the last answer (``None`` before one)."""
        self._resume_at: datetime | None = None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> HttpResponse:
        """GET ``path``: the answer; raise ``Retry`` or ``AccountError`` (a 404/410 too) when it is not usable."""
        response = self._fetch(path, params)
        self.check(response)
        return response

    def get_unless_gone(self, path: str, params: Mapping[str, str] | None = None) -> HttpResponse | None:
        """Like :meth:`get`, but ``None`` for a 404/410 (a status deleted meanwhile)."""
        response = self._fetch(path, params)
        return response if self.check(response, gone_ok=True) else None

    def _fetch(self, path: str, params: Mapping[str, str] | None) -> HttpResponse:
        now = self._clock.now()
        if self._resume_at is not None and now < self._resume_at:
            wait = (self._resume_at - now).total_seconds()
            raise Retry(wait, f"mastodon: rate limit used up until {self._resume_at.isoformat()}")
        self._resume_at = None
        try:
            return self._http.get(self._base + path, params=params, headers=self.headers)
        except Unreachable as exc:
            raise Retry(self._backoff.next(), f"mastodon: {exc}") from exc

    def check(self, response: HttpResponse, *, gone_ok: bool = False) -> bool:
        """Whether ``response`` is usable (``False``: a 404/410 and ``gone_ok``); raise what the caller does else."""
        status, reset = response.status, parse_reset(response.header("x-ratelimit-reset"))
        remaining = response.header("x-ratelimit-remaining")
        self.quota_remaining = int(remaining) if remaining and remaining.strip().isdigit() else None
        if 200 <= status < 300:
            if self.quota_remaining == 0 and reset is not None:
                self._resume_at = reset  # the next call waits: this one was the last of the window
            return True
        said = f"mastodon {status}: {_error_of(response)}"
        if status == 429:
            raise Retry(self._wait_until(reset, response.header("retry-after")), said)
        if status in {404, 410} and gone_ok:
            return False
        if status >= 500 or status in _RETRY_STATUSES:
            raise Retry(self._backoff.next(), said)
        raise AccountError(self._account, f"{said} (check the access token, its scopes and the local account id)")

    def body(self, response: HttpResponse, what: str, valid: Callable[[Any], bool]) -> Any:
        """The JSON body when ``valid``; a back-off :class:`Retry` when not (a broken answer is transient)."""
        try:
            value = response.json()
        except ValueError:
            raise Retry(self._backoff.next(), f"mastodon: {what} answer is not JSON") from None
        if not valid(value):
            raise Retry(self._backoff.next(), f"mastodon: {what} answer is a {type(value).__name__} of the wrong shape")
        self._backoff.reset()
        return value

    def _wait_until(self, reset: datetime | None, retry_after: str | None) -> float:
        if reset is not None and (wait := (reset - self._clock.now()).total_seconds()) > 0:
            return wait
        if retry_after and retry_after.strip().isdigit():
            return float(retry_after)
        return self._backoff.next()


def _error_of(response: HttpResponse) -> str:
    """Mastodon's ``{"error": "..."}`` message (never the request: it may carry the token)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return error[:200] if isinstance(error, str) else "no error message"


class StatusMemory:
    """What this process learnt from statuses, bounded: local ids, accounts, roots and events by status key.

    Args:
        max_known: the most entries of each map, and the most events held by the root tracker.
    """

    def __init__(self, max_known: int) -> None:
        self._max = max_known
        self._known: OrderedDict[str, str] = OrderedDict()
        self._accounts: OrderedDict[str, str] = OrderedDict()
        self._events: OrderedDict[str, Post | Interaction | Change] = OrderedDict()
        self._tracker = RootTracker(max_known)
        self.learnt = Learnt(
            self._tracker.roots, MappingProxyType(self._known), MappingProxyType(self._accounts),
            MappingProxyType(self._events),
        )  # fmt: skip

    def remember(self, statuses: Iterable[Any], items: Sequence[Parsed], context: AccountContext) -> list[Parsed]:
        """Learn the ids of ``statuses`` and the roots of ``items``; ``items`` plus earlier events re-rooted."""
        for status in statuses:
            if (identity := identify(status, context)) is not None:
                if identity.local_id:
                    put_bounded(self._known, identity.local_id, identity.key, self._max)
                if identity.account_local_id:
                    put_bounded(self._accounts, identity.account_local_id, identity.account_uri, self._max)
        out = self._tracker.track(items)
        for item in out:
            if isinstance(item, Post | Interaction) or (isinstance(item, Change) and item.op is ChangeOp.EDIT):
                key = _status_key_of(item)
                self._events[key] = item
                self._events.move_to_end(key)
                if len(self._events) > self._max:
                    self._events.popitem(last=False)
        return out


def _status_key_of(event: Post | Interaction | Change) -> str:
    if isinstance(event, Post):
        return event.post_id
    return event.message_id if isinstance(event, Interaction) else event.target_id


def link_ids(header: str | None) -> dict[str, dict[str, str]]:
    """Each ``rel`` of a ``Link`` header -> the query parameters of its URL (the first value of each).

    >>> link_ids('<https://h/api/v1/notifications?max_id=7>; rel="next"')["next"]["max_id"]
    '7'
    """
    found: dict[str, dict[str, str]] = {}
    for match in _LINK.finditer(header or ""):
        rel = _REL.search(match.group(2))
        if rel is not None:
            query = parse_qs(urlsplit(match.group(1)).query)
            found.setdefault(rel.group(1).lower(), {name: values[0] for name, values in query.items()})
    return found


def parse_reset(value: str | None) -> datetime | None:
    """An ``X-RateLimit-Reset`` (ISO 8601 with µs, e.g. ``2024-05-01T10:15:00.000000Z``) as an aware time."""
    return parse_time(value)


def newest_id(ids: Iterable[Any]) -> str | None:
    """The newest of some Mastodon ids: the longest, then the largest (ids are decimal strings of growing length)."""
    present = [i for i in ids if isinstance(i, str) and i]
    return max(present, key=lambda i: (len(i), i)) if present else None
