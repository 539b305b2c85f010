"""Facebook Page ``feed`` webhooks as canonical events.

A delivery is ``{"object": "page", "entry": [{"id": PAGE, "time": s, "changes": [{"field": "feed", "value": V}]}]}``
(the Graph envelope, read by :mod:`connectors.webhooks.graph`); one POST may batch several entries and several
changes per entry: all are read, in order. By ``V.item`` and ``V.verb``:

- ``status``/``post``/``photo``/``video``/``share`` ``add``: by the Page (``from.id == entry.id``) a :class:`Post`;
  by anyone else (a visitor post on the Page) an :class:`Interaction` ``mention``, its own conversation.
- ``comment`` ``add``: an :class:`Interaction`, ``comment`` when ``parent_id == post_id`` (or ``parent_id`` is
  absent), else ``reply``; ``root_id`` is the post. ``message`` is absent for photo or sticker comments: no text.
- a post or comment ``edited`` (or ``edit``): a :class:`Change` ``edit``, id ``facebook:<target>:edit:<time>``.
- a post or comment ``remove``: a :class:`Change` ``remove``, id ``facebook:<target>:remove``.
- ``reaction`` ``add``/``edit``: a :class:`Reaction` on ``comment_id`` (else the post), id
  ``facebook:<target>:reaction:<pseudonym of the reactor>``: one reaction per person and target, so a changed
  reaction (``edit``, e.g. like -> love) keeps its id and storage keeps the newer type.
- ``reaction`` ``remove``: a :class:`Change` ``remove`` whose target is that reaction (``<target>:reaction:<ps>``).

Skipped silently: fields other than ``feed``; items ``like`` (Page likes), ``event``, ``rating`` and any other
item; verbs ``hide``, ``unhide``, ``block``, ``unblock`` and ``mute`` (moderation: the Page hid a message that
still exists, it is not removed) and any other verb.

Rejected, with a reason naming the entry and change: a delivery that is not this envelope; an entry of a Page not
in the directory (``unknown_account``); a change without a valid ``created_time`` (unix seconds: an int or a
numeric string), without its ids, or without an author where the author decides the event (an ``add``, a
reaction). A removal or edit without ``from`` has no author.

Authors come from ``from.id`` or, in pre-2018 deliveries, ``sender_id``; their role is decided by id only
(:func:`connectors.core.items.role_of`). Ids stay strings: Facebook's exceed 2**53, so a JSON number id is
taken as its exact integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import guard, native_id, role_of
from connectors.core.text import links_in
from connectors.webhooks.graph import SOURCE, GraphEntry, Pseudonym, graph_entries, required_id, text_of, unix_time
from schemas.agency import Directory
from schemas.events import (
    AuthorRole,
    Change,
    ChangeOp,
    Event,
    Interaction,
    InteractionKind,
    Platform,
    Post,
    Reaction,
    ReactionMode,
)

__all__ = ["SOURCE", "parse_facebook"]

_FB: Final = Platform.FACEBOOK
_POST_ITEMS: Final = frozenset({"status", "post", "photo", "video", "share"})
_EDITS: Final = frozenset({"edited", "edit"})  # posts and comments say "edited", reactions "edit": accept both
_REACTION_VERBS: Final = frozenset({"add", "edit", "edited", "remove"})


def parse_facebook(payload: Any, directory: Directory, pseudonym: Pseudonym) -> list[Parsed]:
    """Every change of a Page ``feed`` delivery as an event or :class:`Rejected`; skipped items give nothing.

    Args:
        payload: the decoded JSON body (already verified).
        directory: decides the agency owning each Page (``entry.id``) and the role of every author.
        pseudonym: keyed hash of a Facebook user id, for reaction event ids (which must not hold raw ids).
    """
    out: list[Parsed] = []
    for entry in graph_entries(payload, "page", _FB, directory):
        if isinstance(entry, Rejected):
            out.append(entry)
            continue
        changes = entry.raw.get("changes")
        if not isinstance(changes, list):
            out.append(Rejected(f"entry {entry.index}: no changes list (only feed changes are read)", entry.raw))
            continue
        page = _Page(entry, directory, pseudonym)
        for number, change in enumerate(changes):
            where = f"entry {entry.index} change {number}"
            if (item := guard(where, change, partial(_change, page, change))) is not None:
                out.append(item)
    return out


@dataclass(frozen=True)
class _Page:
    entry: GraphEntry
    directory: Directory
    pseudonym: Pseudonym

    def role(self, author: str | None) -> AuthorRole | None:
        return None if author is None else role_of(_FB, author, self.entry.account_id, self.directory)


def _change(page: _Page, change: Any) -> Event | None:
    value = _feed_value(change)
    if value is None:
        return None
    item, verb = value.get("item"), value.get("verb")
    if not isinstance(item, str) or not isinstance(verb, str):
        return None  # an unhashable item or verb is no item we read
    if item == "reaction":
        return _reaction(page, value, verb) if verb in _REACTION_VERBS else None
    if item == "comment" or item in _POST_ITEMS:
        return _message(page, value, item, verb)
    return None  # like (Page likes), event, rating, ...


def _feed_value(change: Any) -> Mapping[str, Any] | None:
    if not isinstance(change, dict):
        msg = "change is not an object"
        raise InvalidInput(msg)
    if change.get("field") != "feed":
        return None
    value = change.get("value")
    if not isinstance(value, dict):
        msg = "feed change without a value object"
        raise InvalidInput(msg)
    return value


def _message(page: _Page, value: Mapping[str, Any], item: str, verb: str) -> Event | None:
    if verb == "add":
        return _comment(page, value) if item == "comment" else _post(page, value, item)
    if verb in _EDITS or verb == "remove":
        return _edit_or_removal(page, value, item, verb)
    return None  # hide, unhide, block, unblock, mute: moderation of a message that still exists


def _author(value: Mapping[str, Any]) -> str | None:
    sender = value.get("from")
    if isinstance(sender, dict):
        return native_id(sender.get("id"))
    return native_id(value.get("sender_id"))  # the 2015-2017 format


def _required_author(value: Mapping[str, Any], what: str) -> str:
    author = _author(value)
    if author is None:
        msg = f"{what} without from.id: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    return author


def _post(page: _Page, value: Mapping[str, Any], item: str) -> Post | Interaction:
    post_id = required_id(value, "post_id", f"{item} add")
    author = _required_author(value, f"{item} add")
    created = unix_time(value.get("created_time"), "created_time")
    text = text_of(value, "message")
    fields = page.entry.fields(post_id, created)
    role = page.role(author)
    if role is AuthorRole.AGENCY:
        return Post(**fields, post_id=post_id, text=text, links=links_in(text))
    return Interaction(
        **fields,
        kind=InteractionKind.MENTION,
        message_id=post_id,
        root_id=post_id,
        parent_id=None,
        author_id=author,
        author_role=role,
        text=text,
        links=links_in(text),
    )


def _comment(page: _Page, value: Mapping[str, Any]) -> Interaction:
    post_id = required_id(value, "post_id", "comment add")
    comment_id = required_id(value, "comment_id", "comment add")
    author = _required_author(value, "comment add")
    created = unix_time(value.get("created_time"), "created_time")
    parent = native_id(value.get("parent_id")) or post_id  # absent in some old captures: a top-level comment
    text = text_of(value, "message")
    return Interaction(
        **page.entry.fields(comment_id, created),
        kind=InteractionKind.COMMENT if parent == post_id else InteractionKind.REPLY,
        message_id=comment_id,
        root_id=post_id,
        parent_id=parent,
        author_id=author,
        author_role=page.role(author),
        text=text,
        links=links_in(text),
    )


def _edit_or_removal(page: _Page, value: Mapping[str, Any], item: str, verb: str) -> Change:
    what = f"{item} {verb}"
    post_id = required_id(value, "post_id", what)
    target = required_id(value, "comment_id", what) if item == "comment" else post_id
    created = unix_time(value.get("created_time"), "created_time")
    author = _author(value)
    if verb == "remove":
        native, op, text = f"{target}:remove", ChangeOp.REMOVE, None
    else:
        native, op, text = f"{target}:edit:{int(created.timestamp())}", ChangeOp.EDIT, text_of(value, "message")
    return Change(
        **page.entry.fields(native, created),
        op=op,
        target_id=target,
        root_id=post_id,
        author_id=author,
        author_role=page.role(author),
        text=text,
    )


def _reaction(page: _Page, value: Mapping[str, Any], verb: str) -> Reaction | Change:
    what = f"reaction {verb}"
    post_id = required_id(value, "post_id", what)
    target = native_id(value.get("comment_id")) or post_id  # a reaction on a comment names it, on a post not
    author = _required_author(value, what)
    created = unix_time(value.get("created_time"), "created_time")
    native = f"{target}:reaction:{page.pseudonym(author)}"  # the person, never their raw id, in the event id
    if verb == "remove":
        return Change(
            **page.entry.fields(f"{native}:remove", created),
            op=ChangeOp.REMOVE,
            target_id=native,
            root_id=post_id,
            author_id=author,
            author_role=page.role(author),
        )
    kind = value.get("reaction_type")
    if not isinstance(kind, str) or not kind:
        msg = "reaction without reaction_type"
        raise InvalidInput(msg)
    return Reaction(
        **page.entry.fields(native, created),
        mode=ReactionMode.EVENT,
        target_id=target,
        root_id=post_id,
        reaction_type=kind.lower(),
        count=1,
        author_id=author,
    )
