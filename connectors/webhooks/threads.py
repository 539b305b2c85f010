"""Reply threading for the webhooks whose deliveries name no conversation root: X (v1.1) and Mastodon.

A reply names only its parent, so the receiver works out each conversation's root. A reply's root is
``roots[parent]`` when the parent was seen, else the parent itself (a guess: most replies answer the root).
:class:`RootTracker` keeps that map for every message parsed and makes a guess *updatable*: when message T arrives
after children that used T (or an alias of T) as their root and T turns out to belong to root R, the children's
events are returned again with ``root_id = R`` (same event ids, so storage upserts them and the matcher sees them
in R's conversation). The map and the held children are bounded (least recently written dropped first,
:func:`put_bounded`) and live in the process only: a restart forgets them, so a reply to a message parsed before
the restart falls back to the parent-is-root guess.

Also here, because both webhooks need them and nothing else does: :class:`ThreadedWebhook`, the base of
``XWebhook`` and ``MastodonWebhook`` (secret, one tracker, parses serialised by a lock); :func:`reply_kind`, the
comment-or-reply rule the parsers and the tracker apply alike; and :func:`required_object` for their item parsers.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, ClassVar, Final

from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected, WebhookSource
from connectors.core.errors import InvalidInput
from schemas.agency import Directory
from schemas.events import AuthorRole, Change, ChangeOp, Event, Interaction, InteractionKind, Platform, Post
from schemas.privacy import Pseudonymizer

__all__ = ["NO_IDS", "RootTracker", "ThreadedWebhook", "put_bounded", "reply_kind", "required_object"]

NO_IDS: Final[Mapping[str, str]] = MappingProxyType({})
"""An empty, read-only id map: the default of the parsers' "known from earlier deliveries" arguments."""


def put_bounded(store: OrderedDict[str, str], key: str, value: str, limit: int) -> None:
    """Set ``store[key] = value`` as the newest entry; drop the oldest when ``store`` holds more than ``limit``."""
    store[key] = value
    store.move_to_end(key)
    if len(store) > limit:
        store.popitem(last=False)


def reply_kind(role: AuthorRole, parent: str | None, root: str) -> InteractionKind:
    """An answer's kind: ``comment`` when someone other than the agency answers the root, else ``reply``."""
    return InteractionKind.COMMENT if role is not AuthorRole.AGENCY and parent == root else InteractionKind.REPLY


def required_object(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object; :class:`InvalidInput` naming ``what`` otherwise."""
    if not isinstance(value, dict):
        msg = f"{what} is a {type(value).__name__}, not an object"
        raise InvalidInput(msg)
    return value


class RootTracker:
    """Per-process, bounded memory of conversation roots that lets a late parent correct earlier guesses.

    A reply whose parent is unknown is published with the parent as its root (a guess). :meth:`track` records
    the root of every message it sees; when message T arrives and events were held under T (their root guess,
    or an ``alias`` of T such as a server-local id used as a parent), they are returned again rebased onto T's
    root: same event ids, new ``root_id`` (and ``parent_id`` when the alias was the parent), a non-agency
    ``comment``/``reply`` re-decided. Events stay held while their root is not known to be a root.

    Args:
        max_known: the most roots remembered and the most events held (each; oldest dropped first).

    >>> tracker = RootTracker(max_known=1000); items = tracker.track(parse(payload, tracker.roots))  # doctest: +SKIP
    """

    def __init__(self, max_known: int) -> None:
        if max_known < 1:
            msg = f"max_known must be at least 1, got {max_known}"
            raise ValueError(msg)
        self._max = max_known
        self._roots: OrderedDict[str, str] = OrderedDict()
        self._held: OrderedDict[str, dict[str, Event]] = OrderedDict()
        self._held_count = 0
        self.roots: Mapping[str, str] = MappingProxyType(self._roots)
        """Message id -> root, read-only, for the pure parsers."""

    @property
    def held(self) -> int:
        """How many events wait for their root to be confirmed."""
        return self._held_count

    def track(self, items: Sequence[Parsed], aliases: Mapping[str, str] = NO_IDS) -> list[Parsed]:
        """``items`` in order, each message followed by the earlier events it rebased; learn their roots.

        ``aliases`` maps a message id to another key its children may have used for it (default none).
        """
        out: list[Parsed] = []
        for item in items:
            out.append(item)
            if isinstance(item, Rejected):
                continue
            message = _message_ref(item)
            if message is not None:
                message_id, root = message
                put_bounded(self._roots, message_id, root, self._max)
                out.extend(self._release(message_id, message_id, root))
                if (alias := aliases.get(message_id)) and alias != message_id:
                    out.extend(self._release(alias, message_id, root))
            self._hold(item)
        return out

    def _release(self, key: str, message_id: str, root: str) -> list[Event]:
        held = self._held.pop(key, None)
        if not held:
            return []
        self._held_count -= len(held)
        moved: list[Event] = []
        for event in held.values():
            rebased = _rebase(event, key, message_id, root)
            if rebased is not event:
                moved.append(rebased)
                if (ref := _message_ref(rebased)) is not None:
                    put_bounded(self._roots, *ref, self._max)
            self._hold(rebased)
        return moved

    def _hold(self, event: Event) -> None:
        if isinstance(event, Post) or self._roots.get(event.root_id) == event.root_id:
            return  # a post is a root; a root seen as its own root never changes
        bucket = self._held.setdefault(event.root_id, {})
        self._held.move_to_end(event.root_id)
        if event.event_id not in bucket:
            self._held_count += 1
        bucket[event.event_id] = event
        while self._held_count > self._max:
            _, dropped = self._held.popitem(last=False)
            self._held_count -= len(dropped)


def _message_ref(event: Event) -> tuple[str, str] | None:
    """(message id, root) of an event that carries a whole message: a post, an interaction, an edit."""
    if isinstance(event, Post):
        return event.post_id, event.post_id
    if isinstance(event, Interaction):
        return event.message_id, event.root_id
    if isinstance(event, Change) and event.op is ChangeOp.EDIT:
        return event.target_id, event.root_id
    return None


def _rebase(event: Event, key: str, message_id: str, root: str) -> Event:
    """``event`` moved from ``key`` (a guessed root, or an alias of the message) onto the message's root."""
    if isinstance(event, Post):
        return event
    changes: dict[str, Any] = {}
    if event.root_id == key and root != key:
        changes["root_id"] = root
    if isinstance(event, Interaction):
        if event.parent_id == key and message_id != key:
            changes["parent_id"] = message_id
        rekind = event.author_role is not AuthorRole.AGENCY and event.kind in {
            InteractionKind.COMMENT,
            InteractionKind.REPLY,
        }
        if changes and rekind:
            parent = changes.get("parent_id", event.parent_id)
            changes["kind"] = reply_kind(event.author_role, parent, changes.get("root_id", event.root_id))
    return event.model_copy(update=changes) if changes else event


class ThreadedWebhook(WebhookSource):
    """A signed webhook whose parses share one :class:`RootTracker`; a lock serialises concurrent requests.

    Subclasses set ``platform`` and the :class:`WebhookSource` class attributes, implement :meth:`verify` and
    :meth:`_parse_locked`: the delivery's items passed through ``self._tracker``.

    Args:
        secret: the HMAC key of the platform's deliveries (must not be empty).
        empty_secret: the error message when it is: which secret to set, and where to find it.
        directory: the agencies.
        pseudonymizer: keys the pseudonyms that event ids hold instead of user ids (``self._pseudonym``).
        max_known: the most roots remembered, and the most events held for a late parent.
    """

    platform: ClassVar[Platform]

    def __init__(
        self,
        secret: SecretStr,
        empty_secret: str,
        directory: Directory,
        pseudonymizer: Pseudonymizer,
        max_known: int,
    ) -> None:
        key = secret.get_secret_value().encode("utf-8")
        if not key:
            raise ValueError(empty_secret)
        self._secret = key
        self._directory = directory
        self._pseudonym = partial(pseudonymizer.pseudonym, self.platform.value)
        self._tracker = RootTracker(max_known)
        self._lock = threading.Lock()

    def parse(self, payload: Any) -> list[Parsed]:
        """The delivery's events, plus earlier events re-emitted with a corrected root or parent."""
        with self._lock:
            return self._parse_locked(payload)

    @abstractmethod
    def _parse_locked(self, payload: Any) -> list[Parsed]:
        """:meth:`parse`, with the lock held."""
