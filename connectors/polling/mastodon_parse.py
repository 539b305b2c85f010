"""Mastodon's REST and streaming entities as canonical events, pure: shared by the poller and the stream.

Statuses go through the admin webhook's parser (:func:`connectors.webhooks.mastodon.parse_mastodon`), wrapped as a
``status.created`` delivery (``status.updated`` for an edit), so a status polled, streamed or pushed by webhook
becomes the *same* event: the same id (:func:`~connectors.webhooks.mastodon.status_key`: a citizen's status URI
with the actor replaced by its pseudonym), the same owning agency, role, kind, parent, text and links; only
``source`` differs (``poll:mastodon`` / ``stream:mastodon``). Boosts and statuses no agency is involved in are
skipped, as there. So ``agency_id``/``account_id`` are the *conversation's* agency as the webhook decides it (the
parent's author's, else the author's, else a mentioned one's): the account read's own reply in another agency's
thread belongs to that agency, with role ``other_agency``, whichever source delivered it.

What is parsed here:

- :func:`parse_statuses`: a page of ``/api/v1/accounts/:id/statuses`` (or ``/api/v1/timelines/home``).
- :func:`parse_context`: one status and the ``descendants`` of its ``/api/v1/statuses/:id/context``. The context
  tells exact parents and the thread's root (``ancestors[0]``, else the status), so no root is a guess here. A
  descendant is in the agency's thread, so it belongs to the account read even when it names no agency (a citizen
  answering a citizen without the agency's @): it is parsed as if it mentioned the account.
- :func:`parse_notification`: ``mention`` -> its status; ``favourite`` / ``reblog`` -> a :class:`Reaction`
  (``reaction_type`` = the type, ``author_id`` = the reacting actor URI, event id
  ``mastodon:<status key>:<type>:<pseudonym of the actor>``, owned like the status). Other types (``follow``,
  ``poll``, ``status``, ``update``, ``admin.*``...) are skipped.
- :func:`parse_stream_event`: ``update`` (a status), ``status.update`` (an edit: ``Change(op=edit)``),
  ``notification``, ``delete`` (a bare local id: ``Change(op=remove)``, event id ``mastodon:<key>:remove``, when
  the status is remembered; else skipped, since it cannot be attributed); other events (``filters_changed``,
  ``conversation``, ``announcement*``...) are skipped. :func:`decode_sse` and :func:`decode_frame` turn a
  server-sent event or a websocket frame (whose ``payload`` is a JSON *string*, parsed twice, except a ``delete``
  id) into ``(event name, payload)``.

Every function here is pure and never raises: a bad item is a :class:`Rejected` naming where it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Any, Final, TypeVar

import orjson

from connectors.core.contracts import AccountContext, Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import aware_iso, guard_one
from connectors.streams.sse import SseEvent
from connectors.webhooks.mastodon import parse_mastodon, status_key
from connectors.webhooks.threads import NO_IDS, required_object
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, Platform, Post, Reaction, make_event_id

__all__ = [
    "NOTHING_LEARNT",
    "NOTIFICATION_TYPES",
    "STREAM_EVENTS",
    "Identity",
    "Learnt",
    "decode_frame",
    "decode_sse",
    "identify",
    "parse_context",
    "parse_notification",
    "parse_status",
    "parse_statuses",
    "parse_stream_event",
    "parse_time",
    "removal",
]

NOTIFICATION_TYPES: Final = ("mention", "favourite", "reblog")
"""The notification types read (``types[]`` of ``/api/v1/notifications``)."""
STREAM_EVENTS: Final = frozenset({"update", "status.update", "notification", "delete"})
"""The streaming events parsed; every other one is skipped."""
_REACTIONS: Final = frozenset({"favourite", "reblog"})
_NO_EVENTS: Final[Mapping[str, Post | Interaction | Change]] = MappingProxyType({})
_V = TypeVar("_V")


@dataclass(frozen=True)
class Learnt:
    """What earlier statuses taught, read-only: the maps :func:`parse_mastodon` resolves parents and roots with.

    Args:
        roots: status key -> its conversation's root key.
        known: this server's local status id -> status key.
        accounts: this server's local account id -> actor URI.
        events: status key -> the status' latest event, or edit (for a ``delete``, which names the local id only).
    """

    roots: Mapping[str, str]
    known: Mapping[str, str]
    accounts: Mapping[str, str]
    events: Mapping[str, Post | Interaction | Change]


NOTHING_LEARNT: Final = Learnt(NO_IDS, NO_IDS, NO_IDS, _NO_EVENTS)
"""Nothing learnt yet: the default of the parsers."""


@dataclass(frozen=True)
class Identity:
    """A status' ids, whether or not it becomes an event: local id, key (its id in events), author's ids."""

    local_id: str | None
    key: str
    account_local_id: str | None
    account_uri: str


def identify(status: Any, context: AccountContext) -> Identity | None:
    """The ids of a status with string ``uri`` and ``account.uri`` (``None`` for anything else)."""
    if not isinstance(status, dict) or not isinstance(account := status.get("account"), dict):
        return None
    uri, author = status.get("uri"), account.get("uri")
    if not (isinstance(uri, str) and uri and isinstance(author, str) and author):
        return None
    key = status_key(uri, author, context.directory, context.pseudonym)
    return Identity(_id(status.get("id")), key, _id(account.get("id")), author)


def parse_status(  # noqa: PLR0913 - one status and how it is read
    status: Any,
    context: AccountContext,
    *,
    source: str,
    where: str,
    learnt: Learnt = NOTHING_LEARNT,
    edit: bool = False,
) -> list[Parsed]:
    """One Status entity as its event (``[]`` when skipped), or a rejection naming ``where``.

    Args:
        status: the entity.
        context: the account read (directory and pseudonym).
        source: the events' ``source`` label.
        where: where the status was, for rejection reasons (e.g. ``"statuses item 3"``).
        learnt: parents and roots known from earlier statuses (default none).
        edit: an edited status (``status.update``): a ``Change(op=edit)`` (default no).
    """
    return _status(status, context, source, where, learnt, edit=edit)


def parse_statuses(
    entries: Sequence[Any], context: AccountContext, *, source: str, where: str, learnt: Learnt = NOTHING_LEARNT
) -> list[Parsed]:
    """Statuses (a page's entries, newest first as Mastodon sends them) as events, oldest first."""
    items: list[Parsed] = []
    for index in reversed(range(len(entries))):
        items.extend(_status(entries[index], context, source, f"{where} item {index}", learnt))
    return items


def parse_context(
    payload: Any, status: Any, context: AccountContext, *, source: str, learnt: Learnt = NOTHING_LEARNT
) -> list[Parsed]:
    """``status`` and the descendants of its context answer ``payload``, with exact parents and roots.

    A ``payload`` that is not ``{"ancestors": [...], "descendants": [...]}`` is one rejection (the poller checks
    the shape first and retries such an answer: a broken answer is transient); bad statuses inside are rejected.
    """
    ancestors = payload.get("ancestors") if isinstance(payload, dict) else None
    descendants = payload.get("descendants") if isinstance(payload, dict) else None
    if not isinstance(ancestors, list) or not isinstance(descendants, list):
        return [Rejected("mastodon: context answer is not an object with ancestors and descendants lists", payload)]
    thread = [i for i in (identify(s, context) for s in (*ancestors, status, *descendants)) if i is not None]
    root = thread[0].key if thread else ""
    local = Learnt(
        roots=_Layered({i.key: root for i in thread}, learnt.roots),
        known=_Layered({i.local_id: i.key for i in thread if i.local_id}, learnt.known),
        accounts=_Layered({i.account_local_id: i.account_uri for i in thread if i.account_local_id}, learnt.accounts),
        events=learnt.events,
    )
    where = f"context of status {_id(status.get('id')) if isinstance(status, dict) else None}"
    items = _status(status, context, source, f"{where}: the status", local)
    for index, descendant in enumerate(descendants):
        items.extend(_status(descendant, context, source, f"{where}: descendant {index}", local, in_thread=True))
    return items


def parse_notification(
    notification: Any, context: AccountContext, *, source: str, where: str, learnt: Learnt = NOTHING_LEARNT
) -> list[Parsed]:
    """A notification: ``mention`` -> its status' event, ``favourite``/``reblog`` -> a reaction; others ``[]``."""
    if not isinstance(notification, dict):
        return [Rejected(f"mastodon: {where}: a {type(notification).__name__}, not an object", notification)]
    kind = notification.get("type")
    if kind == "mention":
        return _status(notification.get("status"), context, source, f"{where} (mention)", learnt)
    if not isinstance(kind, str) or kind not in _REACTIONS:
        return []
    return _guarded_reaction(notification, kind, context, source, f"mastodon: {where} ({kind})", learnt)


def parse_stream_event(  # noqa: PLR0913 - one event and everything it is resolved against
    name: str, payload: Any, context: AccountContext, *, source: str, at: datetime, learnt: Learnt = NOTHING_LEARNT
) -> list[Parsed]:
    """One streaming event (already decoded: :func:`decode_sse`, :func:`decode_frame`) as events.

    ``at`` is when it arrived: a ``delete`` carries no time, so its removal is dated by its arrival.
    """
    where = f"stream {name}"
    if name == "update":
        return _status(payload, context, source, where, learnt)
    if name == "status.update":
        return _status(payload, context, source, where, learnt, edit=True)
    if name == "notification":
        return parse_notification(payload, context, source=source, where=where, learnt=learnt)
    if name == "delete":
        key = learnt.known.get(payload) if isinstance(payload, str) else None
        event = learnt.events.get(key) if key else None
        return [] if event is None else [removal(event, at, source)]
    return []


def removal(event: Post | Interaction | Change, at: datetime, source: str) -> Change:
    """The removal, at ``at``, of the status of ``event`` (its post, message or edit): ``mastodon:<key>:remove``."""
    author: str | None
    role: AuthorRole | None
    if isinstance(event, Post):
        key, root, author, role = event.post_id, event.post_id, event.account_id, AuthorRole.AGENCY
    elif isinstance(event, Interaction):
        key, root, author, role = event.message_id, event.root_id, event.author_id, event.author_role
    else:
        key, root, author, role = event.target_id, event.root_id, event.author_id, event.author_role
    return Change(
        event_id=make_event_id(Platform.MASTODON, f"{key}:remove"),
        platform=Platform.MASTODON,
        agency_id=event.agency_id,
        account_id=event.account_id,
        created_at=at,
        source=source,
        op=ChangeOp.REMOVE,
        target_id=key,
        root_id=root,
        author_id=author,
        author_role=role,
    )


def decode_sse(event: SseEvent) -> tuple[str, Any] | Rejected | None:
    """``(name, payload)`` of a server-sent event; ``None`` for an event not parsed; a rejection for bad JSON."""
    if event.event not in STREAM_EVENTS:
        return None
    if event.event == "delete":
        return event.event, event.data.strip()
    try:
        return event.event, orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return Rejected(f"mastodon: stream {event.event}: data is not JSON", event.data[:2000])


def decode_frame(text: str | bytes) -> tuple[str, Any] | Rejected | None:
    """``(name, payload)`` of a websocket frame ``{"stream": [...], "event": ..., "payload": "<JSON>"}``.

    ``None`` for an event not parsed; a rejection for a frame or payload that is not JSON.
    """
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Rejected("mastodon: websocket frame is not JSON", text[:2000])
    if not isinstance(frame, dict) or not isinstance(name := frame.get("event"), str):
        return Rejected("mastodon: websocket frame without an event name", frame)
    if name not in STREAM_EVENTS:
        return None
    payload = frame.get("payload")
    if name == "delete" or not isinstance(payload, str):
        return name, payload.strip() if isinstance(payload, str) else payload
    try:
        return name, orjson.loads(payload)  # the payload is JSON encoded a second time, as a string
    except orjson.JSONDecodeError:
        return Rejected(f"mastodon: websocket {name}: payload is not JSON", frame)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset as an aware datetime; ``None`` for anything else."""
    return aware_iso(value)


def _status(  # noqa: PLR0913 - one status and how it is read
    status: Any,
    context: AccountContext,
    source: str,
    where: str,
    learnt: Learnt,
    *,
    edit: bool = False,
    in_thread: bool = False,
) -> list[Parsed]:
    """One status through the webhook's parser: its events relabelled with ``source``, rejections with ``where``."""
    read = status
    if in_thread and isinstance(status, dict):
        mentions = status.get("mentions")
        extra = {"url": context.account.account_id}  # after the real mentions: an agency named there comes first
        read = {**status, "mentions": [*(mentions if isinstance(mentions, list) else ()), extra]}
    delivery = {"event": "status.updated" if edit else "status.created", "object": read}
    parsed = parse_mastodon(delivery, context.directory, context.pseudonym, learnt.roots, learnt.known, learnt.accounts)
    out: list[Parsed] = []
    for item in parsed:
        if isinstance(item, Rejected):
            reason = item.reason.removeprefix("mastodon: ")
            out.append(Rejected(f"mastodon: {where}: {reason}", status, item.error_type))
        else:
            out.append(item.model_copy(update={"source": source}))
    return out


def _guarded_reaction(  # noqa: PLR0913 - one notification and how it is read
    notification: Mapping[str, Any], kind: str, context: AccountContext, source: str, where: str, learnt: Learnt
) -> list[Parsed]:
    """A favourite/reblog notification as ``[reaction]``, ``[]`` (no agency involved) or ``[Rejected]``."""
    return guard_one(where, notification, partial(_reaction, notification, kind, context, source, learnt))


def _reaction(
    notification: Mapping[str, Any], kind: str, context: AccountContext, source: str, learnt: Learnt
) -> Reaction | None:
    actor = required_object(notification.get("account"), "account").get("uri")
    if not isinstance(actor, str) or not actor.startswith(("https://", "http://")):
        msg = f"account.uri is {actor!r}, not an http(s) URI"
        raise InvalidInput(msg)
    when = parse_time(notification.get("created_at"))
    if when is None:
        msg = f"created_at is {notification.get('created_at')!r}, not an ISO 8601 time with an offset"
        raise InvalidInput(msg)
    target = _target(notification.get("status"), context, source, learnt)
    if target is None:
        return None
    key = target.post_id if isinstance(target, Post) else target.message_id
    root = learnt.roots.get(key) or (target.post_id if isinstance(target, Post) else target.root_id)
    return Reaction(
        event_id=make_event_id(Platform.MASTODON, f"{key}:{kind}:{context.pseudonym(actor)}"),
        platform=Platform.MASTODON,
        agency_id=target.agency_id,
        account_id=target.account_id,
        created_at=when,
        source=source,
        target_id=key,
        root_id=root,
        reaction_type=kind,
        author_id=actor,
    )


def _target(status: Any, context: AccountContext, source: str, learnt: Learnt) -> Post | Interaction | None:
    """The event of the status reacted to (for its key, root and owner); ``None`` when no agency is involved."""
    parsed = _status(required_object(status, "status"), context, source, "status", learnt)
    for item in parsed:
        if isinstance(item, Rejected):
            raise InvalidInput(item.reason.removeprefix("mastodon: "), error_type=item.error_type)
        if isinstance(item, Post | Interaction):
            return item
    return None


def _id(value: Any) -> str | None:
    """A non-empty string id, else ``None`` (ids are strings in Mastodon's API, "not guaranteed to be a number")."""
    return value if isinstance(value, str) and value else None


class _Layered(Mapping[str, _V]):
    """``first`` over ``then``, read-only, without copying either (the learnt maps can be large)."""

    def __init__(self, first: Mapping[str, _V], then: Mapping[str, _V]) -> None:
        self._first, self._then = first, then

    def __getitem__(self, key: str) -> _V:
        return self._first[key] if key in self._first else self._then[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._first
        yield from (key for key in self._then if key not in self._first)

    def __len__(self) -> int:
        return sum(1 for _ in self)
