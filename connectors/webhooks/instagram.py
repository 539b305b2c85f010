"""Instagram ``comments``, ``live_comments`` and ``mentions`` webhooks as canonical events.

A delivery is ``{"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": s, "changes": [{"field", "value"}]}]}``
(the Graph envelope, see :mod:`connectors.webhooks.graph`); with Instagram Login Meta documents entries that
carry ``field`` and ``value`` themselves, without the ``changes`` list: both are read.

- ``comments`` and ``live_comments``: an :class:`Interaction` ``message_id = value.id`` in the conversation of
  the media (``root_id = value.media.id``): a ``reply`` to ``value.parent_id`` when present, else a ``comment``
  whose parent is the media. By the agency when ``from.id == entry.id`` or ``from`` carries
  ``self_ig_scoped_id`` (Meta adds it to the account's own comments); otherwise by role of ``from.id``.
- ``mentions``: the payload holds ids only (``comment_id`` and/or ``media_id``), no author and no text. It
  becomes an :class:`Interaction` ``mention`` whose message and root are the comment (else the media) and whose
  ``author_id`` is ``mention:<that id>``, a placeholder: each mention counts as its own unknown citizen.

Times: Instagram's comment webhooks carry **no authored time**. ``created_at`` is ``entry.time``, the time Meta
*sent* the notification (unix seconds): close to the comment's time on live delivery, later on Meta's retries.

Skipped silently: every other field (``story_insights``, ``messages``, ...). Instagram sends no reaction, edit
or removal webhooks for comments. Rejected: as for Facebook (envelope, ``unknown_account``, a change without
its ids, a comment without ``from.id``, an entry without a valid ``time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Final

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import guard, native_id, role_of
from connectors.core.text import links_in
from connectors.webhooks.graph import GraphEntry, Pseudonym, graph_entries, required_id, text_of, unix_time
from schemas.agency import Directory
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform

__all__ = ["parse_instagram"]

_IG: Final = Platform.INSTAGRAM
_COMMENT_FIELDS: Final = frozenset({"comments", "live_comments"})


def parse_instagram(payload: Any, directory: Directory, pseudonym: Pseudonym) -> list[Parsed]:
    """Every change of an Instagram delivery as an event or :class:`Rejected`; skipped fields give nothing.

    Args:
        payload: the decoded JSON body (already verified).
        directory: decides the agency owning each account (``entry.id``) and the role of every author.
        pseudonym: unused (Instagram sends no reactions, the only events whose id names a person); taken so
            both Meta parsers have one signature.
    """
    del pseudonym
    out: list[Parsed] = []
    for entry in graph_entries(payload, "instagram", _IG, directory):
        if isinstance(entry, Rejected):
            out.append(entry)
            continue
        changes = _changes(entry.raw)
        if changes is None:
            out.append(Rejected(f"entry {entry.index}: neither a changes list nor a field and value", entry.raw))
            continue
        for number, change in enumerate(changes):
            where = f"entry {entry.index} change {number}"
            if (item := guard(where, change, partial(_change, entry, directory, change))) is not None:
                out.append(item)
    return out


def _changes(entry: Mapping[str, Any]) -> list[Any] | None:
    changes = entry.get("changes")
    if isinstance(changes, list):
        return changes
    if "field" in entry and "value" in entry:
        return [entry]  # Instagram Login: the entry is the change
    return None


def _change(entry: GraphEntry, directory: Directory, change: Any) -> Interaction | None:
    if not isinstance(change, dict):
        msg = "change is not an object"
        raise InvalidInput(msg)
    field = change.get("field")
    if not isinstance(field, str) or (field not in _COMMENT_FIELDS and field != "mentions"):
        return None
    value = change.get("value")
    if not isinstance(value, dict):
        msg = f"{field} change without a value object"
        raise InvalidInput(msg)
    if field == "mentions":
        return _mention(entry, value)
    return _comment(entry, directory, value, field)


def _comment(entry: GraphEntry, directory: Directory, value: Mapping[str, Any], field: str) -> Interaction:
    comment_id = required_id(value, "id", field)
    media = value.get("media")
    media_id = required_id(media if isinstance(media, dict) else {}, "id", f"{field} media")
    sender = value.get("from")
    author = native_id(sender.get("id")) if isinstance(sender, dict) else None
    if author is None or not isinstance(sender, dict):
        msg = f"{field} without from.id: cannot tell the agency from a citizen"
        raise InvalidInput(msg)
    own = sender.get("self_ig_scoped_id") is not None
    role = AuthorRole.AGENCY if own else role_of(_IG, author, entry.account_id, directory)
    parent = native_id(value.get("parent_id"))
    text = text_of(value, "text")
    return Interaction(
        **entry.fields(comment_id, unix_time(entry.raw.get("time"), "entry.time")),
        kind=InteractionKind.REPLY if parent else InteractionKind.COMMENT,
        message_id=comment_id,
        root_id=media_id,
        parent_id=parent or media_id,
        author_id=author,
        author_role=role,
        text=text,
        links=links_in(text),
    )


def _mention(entry: GraphEntry, value: Mapping[str, Any]) -> Interaction:
    target = native_id(value.get("comment_id")) or native_id(value.get("media_id"))
    if target is None:
        msg = "mention without comment_id or media_id"
        raise InvalidInput(msg)
    return Interaction(
        **entry.fields(target, unix_time(entry.raw.get("time"), "entry.time")),
        kind=InteractionKind.MENTION,
        message_id=target,
        root_id=target,
        parent_id=None,
        author_id=f"mention:{target}",  # ids only in the payload: a placeholder author, one per mention
        author_role=AuthorRole.CITIZEN,
    )
