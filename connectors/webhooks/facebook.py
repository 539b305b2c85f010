"""Facebook Page ``feed`` webhooks as canonical events, and the Graph webhook envelope Instagram shares.

A delivery is ``{"object": "page", "entry": [{"id": PAGE, "time": s, "changes": [{"field": "feed", "value": V}]}]}``;
one POST may batch several entries and several changes per entry: all are read, in order. By ``V.item`` and
``V.verb``:

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
(:func:`role_of`). Ids stay strings: Facebook's exceed 2**53, so a JSON number id is taken as its exact integer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

from pydantic import ValidationError

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.text import links_in
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
    make_event_id,
)
from schemas.records import POISON, poison_reason, validation_reason
from schemas.timeutil import event_time

__all__ = [
    "SOURCE",
    "GraphEntry",
    "Pseudonym",
    "graph_entries",
    "guarded",
    "native_id",
    "parse_facebook",
    "required_id",
    "role_of",
    "text_of",
    "unix_time",
]

SOURCE: Final = "webhook:meta"
"""The ``source`` label of every event from Meta's webhooks (Facebook and Instagram share one callback)."""
Pseudonym = Callable[[str], str]
"""A platform user id -> its keyed pseudonym (pure), for event ids that name a person."""

_FB: Final = Platform.FACEBOOK
_POST_ITEMS: Final = frozenset({"status", "post", "photo", "video", "share"})
_EDITS: Final = frozenset({"edited", "edit"})  # posts and comments say "edited", reactions "edit": accept both
_REACTION_VERBS: Final = frozenset({"add", "edit", "edited", "remove"})
_UNIX_SECONDS: Final = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take "١٢" or "1_2"


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
            if (item := guarded(where, change, partial(_change, page, change))) is not None:
                out.append(item)
    return out


# --- the Graph webhook envelope, shared with Instagram --------------------------------------------------------


@dataclass(frozen=True)
class GraphEntry:
    """One ``entry`` of a Graph webhook delivery whose account the directory knows.

    Args:
        index: its place in ``entry`` (for reasons).
        platform: the platform of the account.
        account_id: ``entry.id``, the agency's Page or Instagram account.
        agency_id: the agency owning that account.
        raw: the entry as delivered.
    """

    index: int
    platform: Platform
    account_id: str
    agency_id: str
    raw: Mapping[str, Any]

    def fields(self, native: str, created_at: datetime) -> dict[str, Any]:
        """The fields every event of this entry shares, for the event ``<platform>:<native>``."""
        return {
            "event_id": make_event_id(self.platform, native),
            "platform": self.platform,
            "agency_id": self.agency_id,
            "account_id": self.account_id,
            "created_at": created_at,
            "source": SOURCE,
        }


def graph_entries(payload: Any, obj: str, platform: Platform, directory: Directory) -> list[GraphEntry | Rejected]:
    """The entries of ``{"object": obj, "entry": [...]}``, each known to the directory or :class:`Rejected`.

    A payload of another shape is one ``Rejected``; an entry without an id one each; an entry of an account
    that no agency owns one ``Rejected(..., "unknown_account")`` each.
    """
    if not isinstance(payload, dict) or payload.get("object") != obj or not isinstance(payload.get("entry"), list):
        reason = f'{platform.value} webhook: expected a delivery {{"object": "{obj}", "entry": [...]}}'
        return [Rejected(reason, payload)]
    out: list[GraphEntry | Rejected] = []
    for index, entry in enumerate(payload["entry"]):
        account = native_id(entry.get("id")) if isinstance(entry, dict) else None
        if account is None or not isinstance(entry, dict):
            out.append(Rejected(f"entry {index}: not an object with an id", entry))
            continue
        owner = directory.owner_of(platform, account)
        if owner is None:
            reason = f"entry {index}: {platform.value} account {account} is not in the agency directory"
            out.append(Rejected(reason, entry, "unknown_account"))
            continue
        out.append(GraphEntry(index, platform, account, owner.id, entry))
    return out


def guarded(where: str, raw: Any, parse: Callable[[], Parsed | None]) -> Parsed | None:
    """``parse()``, or :class:`Rejected` saying ``where`` and why: one bad change never loses the others."""
    try:
        return parse()
    except InvalidInput as exc:
        return Rejected(f"{where}: {exc.reason}", raw, exc.error_type)
    except ValidationError as exc:
        return Rejected(f"{where}: {validation_reason(exc)}", raw, "schema")
    except Exception as exc:  # a case the checks missed: dead-letter it as poison rather than fail the delivery
        return Rejected(f"{where}: {poison_reason(exc)}", raw, POISON)


def native_id(raw: Any) -> str | None:
    """A platform id as text: a non-empty string, or the exact text of a JSON integer; else ``None``."""
    if isinstance(raw, str):
        return raw or None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)  # JSON integers decode exactly in Python; floats (rounded past 2**53) are refused
    return None


def required_id(value: Mapping[str, Any], key: str, what: str) -> str:
    """``value[key]`` as an id; :class:`InvalidInput` naming ``what`` lacks it."""
    found = native_id(value.get(key))
    if found is None:
        msg = f"{what} without {key}"
        raise InvalidInput(msg)
    return found


def text_of(value: Mapping[str, Any], key: str) -> str | None:
    """``value[key]`` when it is text or absent; :class:`InvalidInput` for anything else."""
    text = value.get(key)
    if text is None or isinstance(text, str):
        return text
    msg = f"{key} is a {type(text).__name__}, not text"
    raise InvalidInput(msg)


def unix_time(raw: Any, name: str) -> datetime:
    """Unix seconds (an int, or a string of digits) as an aware UTC time within the event bounds.

    Raises :class:`InvalidInput` naming ``name`` for anything else (missing, a float, out of range).
    """
    if isinstance(raw, str) and _UNIX_SECONDS.fullmatch(raw):
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        msg = f"{name} {repr(raw)[:40]} is not unix seconds"
        raise InvalidInput(msg)
    try:
        moment = datetime.fromtimestamp(raw, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"{name} {str(raw)[:40]} is not a time in unix seconds"
        raise InvalidInput(msg) from None
    try:
        return event_time(moment, name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def role_of(platform: Platform, author_id: str, account_id: str, directory: Directory) -> AuthorRole:
    """By immutable id: the delivery's own account is the agency, another directory account another agency."""
    if author_id == account_id:
        return AuthorRole.AGENCY
    if directory.owner_of(platform, author_id) is not None:
        return AuthorRole.OTHER_AGENCY
    return AuthorRole.CITIZEN


# --- Facebook feed changes -------------------------------------------------------------------------------------


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
