"""Jetstream frames as canonical events: the pure parse behind :class:`connectors.streams.bluesky.BlueskyJetstream`.

A frame is one websocket text message ``{"did", "time_us", "kind": "commit"|"identity"|"account", ...}``; a commit
carries ``{"operation": "create"|"update"|"delete", "collection", "rkey", "record"?, "rev"?}``. Jetstream only
filters by collection, so every post, like and repost on Bluesky arrives here and the filter is ours:

- a post involves an agency when (first match wins, and that account's conversation it is) its ``reply.root``
  or ``reply.parent`` AT-URI (``at://<did>/app.bsky.feed.post/<rkey>``) is a directory DID's, its author is a
  directory DID, or its facets mention one (``app.bsky.richtext.facet#mention``: a reply in a citizens' thread
  that mentions an agency calls the agency into that thread, which becomes the agency's conversation);
- a like or repost when its ``subject.uri`` is a directory DID's record;
- a delete when it removes a record emitted earlier (``known``, see below) or an agency's own post.

Mapping: an agency's post replying to nothing -> :class:`Post`; anyone else's post replying to nothing (it
mentions an agency) -> ``mention``, its own root; a reply -> :func:`~connectors.webhooks.threads.reply_kind`
(``comment`` when someone other than the agency answers the root, ``parent == root``, else ``reply``; the
agency's own answers are always ``reply``, as on every other platform), ``root_id``/``parent_id`` from the reply
refs; like/repost -> :class:`Reaction` ``like``/``repost``; post ``update`` -> ``Change(edit)``, id
``bluesky:<key>:edit:<rev>``, at ``time_us`` (``createdAt`` is the original's); ``delete`` -> ``Change(remove)``,
id ``bluesky:<key>:remove``, at ``time_us`` (a removed like or repost: its target is the reaction's key).

Ids: a record's key is its AT-URI ``at://<did>/<collection>/<rkey>`` with a citizen's DID replaced by its
pseudonym (as :func:`connectors.webhooks.mastodon.status_key` does), so no event id or message id holds a
citizen's DID and a reply naming a citizen's post finds it under the same key. A reaction's event id is the
like/repost record's own key (unique per like, and what its delete names). Authors stay raw DIDs: the publisher
pseudonymises them with the same function.

Times: ``created_at`` = ``min(record.createdAt, time_us)``, as Bluesky's AppView sorts (``sortAt``): a client
clock ahead of the relay cannot date a post after Jetstream received it; ``time_us`` alone when ``createdAt``
is absent or not an ISO time with an offset within the event bounds.

Memory: Jetstream's deletes carry no record and likes name only their subject, so the caller passes ``known``
(key -> :class:`Ref`, the conversation of every record emitted earlier; ``connectors.streams.bluesky.JetstreamReader``
keeps it, bounded, in the process). A delete of a citizen's record that ``known`` forgot (a restart, an old record) is
dropped; a like on an unknown agency record gets the record as its root.

Dropped silently, counted by reason (:attr:`Frame.dropped`): ``identity`` and ``account`` frames (sent to every
subscriber for all of Bluesky), ``unrelated`` commits, other ``collection`` s, unknown ``operation`` s and
``kind`` s. Quote posts are not mentions (dropped unless they mention or reply). Rejected: a frame that is not
JSON, not an object, without a ``time_us`` in the event bounds or a ``kind``, a commit without its did and ids,
and a commit involving an agency that is malformed or fails the event schema. Rejected frames have citizens'
DIDs replaced by pseudonyms (the dead-letter scrubber does not know DIDs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import orjson
from pydantic import ValidationError

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import role_of
from connectors.core.text import links_in
from connectors.webhooks.threads import reply_kind
from schemas.agency import Agency, Directory
from schemas.events import Change, ChangeOp, Interaction, InteractionKind, Platform, Post, Reaction, make_event_id
from schemas.records import POISON, poison_reason, validation_reason
from schemas.timeutil import EARLIEST_EVENT, LATEST_EVENT

__all__ = [
    "NO_REFS",
    "POST",
    "SOURCE",
    "WANTED_COLLECTIONS",
    "Frame",
    "Ref",
    "parse_frame",
    "parse_jetstream",
    "read_frame",
]

SOURCE: Final = "stream:bluesky"
POST: Final = "app.bsky.feed.post"
_REACTIONS: Final = {"app.bsky.feed.like": "like", "app.bsky.feed.repost": "repost"}
WANTED_COLLECTIONS: Final = (POST, *_REACTIONS)
_BSKY = Platform.BLUESKY
_AT_URI = re.compile(r"at://([^/\s]+)/([^/\s]+)/([^/\s?#]+)")
_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US = (EARLIEST_EVENT - _EPOCH) // timedelta(microseconds=1)
_END_US = (LATEST_EVENT - _EPOCH) // timedelta(microseconds=1)
_RAW_CHARS = 4096  # of a frame that is not JSON, kept for the dead letter
_RAW_DEPTH = 32  # nesting kept of a rejected frame


@dataclass(frozen=True)
class Ref:
    """Where an emitted record lives: the agency and account whose conversation it is, and its root key."""

    agency_id: str
    account_id: str
    root_id: str


NO_REFS: Final[Mapping[str, Ref]] = MappingProxyType({})


@dataclass(frozen=True)
class Frame:
    """What one frame gave: its items, its ``time_us`` (``None``: unusable), why it gave nothing, what it taught."""

    items: list[Parsed]
    time_us: int | None
    dropped: str | None = None
    learnt: Mapping[str, Ref] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ctx:
    directory: Directory
    pseudonym: Callable[[str], str]
    known: Mapping[str, Ref]

    def owner(self, did: str | None) -> Agency | None:
        return self.directory.owner_of(_BSKY, did) if did else None

    def key(self, did: str, collection: str, rkey: str) -> str:
        authority = did if self.owner(did) else self.pseudonym(did)
        return f"at://{authority}/{collection}/{rkey}"

    def uri_key(self, uri: str) -> str:
        match = _AT_URI.fullmatch(uri)
        return self.key(*match.groups()) if match else uri  # only ever called on matched URIs

    def redact(self, value: Any, depth: int = 0) -> Any:
        """``value`` with citizens' DIDs pseudonymised (for dead letters)."""
        if isinstance(value, str):
            return _DID.sub(lambda m: m.group(0) if self.owner(m.group(0)) else self.pseudonym(m.group(0)), value)
        if depth >= _RAW_DEPTH and isinstance(value, dict | list):
            return "<nested too deep>"
        if isinstance(value, dict):
            return {key: self.redact(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item, depth + 1) for item in value]
        return value


@dataclass(frozen=True)
class _Commit:
    did: str
    operation: str
    collection: str
    rkey: str
    received: datetime  # time_us
    time_us: int
    body: Mapping[str, Any]  # the commit object


def read_frame(
    text: str | bytes, directory: Directory, pseudonym: Callable[[str], str], known: Mapping[str, Ref] = NO_REFS
) -> Frame:
    """One websocket text message as a :class:`Frame`; text that is not JSON is a ``not_json`` rejection; pure."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        ctx = _Ctx(directory, pseudonym, known)
        return Frame([Rejected(f"bluesky: frame is not JSON ({exc})", ctx.redact(raw[:_RAW_CHARS]), "not_json")], None)
    return parse_frame(payload, directory, pseudonym, known)


def parse_jetstream(
    payload: Any, directory: Directory, pseudonym: Callable[[str], str], known: Mapping[str, Ref] = NO_REFS
) -> list[Parsed]:
    """One JSON-decoded frame as events or a rejection (``[]`` when dropped); pure. Arguments: :func:`parse_frame`."""
    return parse_frame(payload, directory, pseudonym, known).items


def parse_frame(
    payload: Any, directory: Directory, pseudonym: Callable[[str], str], known: Mapping[str, Ref] = NO_REFS
) -> Frame:
    """One JSON-decoded frame as a :class:`Frame`; pure.

    Args:
        payload: the decoded frame.
        directory: the agencies; their Bluesky ``account_id`` is the account's DID.
        pseudonym: keyed pseudonym of a DID (the publisher's, for Bluesky), for citizens' record keys.
        known: record key -> :class:`Ref` of records emitted earlier (default none).
    """
    ctx = _Ctx(directory, pseudonym, known)
    commit = _envelope(payload, ctx)
    if isinstance(commit, Frame):
        return commit
    time_us = commit.time_us
    where = f"bluesky: {commit.operation} {commit.collection}/{commit.rkey[:64]} at time_us {time_us}"
    try:
        return _commit(commit, ctx)
    except InvalidInput as exc:
        return _reject(ctx, f"{where}: {exc.reason}", payload, time_us, exc.error_type)
    except ValidationError as exc:
        return _reject(ctx, f"{where}: {validation_reason(exc)}", payload, time_us, "schema")
    except Exception as exc:  # validation missed a case: dead-letter the frame rather than stop the stream
        return _reject(ctx, f"{where}: {poison_reason(exc)}", payload, time_us, POISON)


def _envelope(payload: Any, ctx: _Ctx) -> _Commit | Frame:
    """The commit a frame carries, or the frame's outcome when it carries none (dropped or rejected)."""
    if not isinstance(payload, dict):
        return _reject(ctx, f"bluesky: frame is a {type(payload).__name__}, not a JSON object", payload, None)
    time_us = payload.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool) or not _FIRST_US <= time_us < _END_US:
        return _reject(ctx, "bluesky: frame without a time_us (unix microseconds) in the event bounds", payload, None)
    kind = payload.get("kind")
    if kind != "commit":
        if not isinstance(kind, str):
            return _reject(ctx, f"bluesky: frame at time_us {time_us} without a kind", payload, time_us)
        return Frame([], time_us, kind if kind in ("identity", "account") else "kind")
    commit = _commit_of(payload, time_us)
    if commit is None:
        reason = f"bluesky: commit at time_us {time_us} without did, operation, collection and rkey"
        return _reject(ctx, reason, payload, time_us)
    return commit


def _commit_of(payload: Mapping[str, Any], time_us: int) -> _Commit | None:
    did, body = payload.get("did"), payload.get("commit")
    if not isinstance(body, dict):
        return None
    operation, collection, rkey = body.get("operation"), body.get("collection"), body.get("rkey")
    if not (isinstance(did, str) and isinstance(operation, str) and isinstance(collection, str)):
        return None
    if not (isinstance(rkey, str) and did and operation and collection and rkey):
        return None
    return _Commit(did, operation, collection, rkey, _EPOCH + timedelta(microseconds=time_us), time_us, body)


def _reject(ctx: _Ctx, reason: str, payload: Any, time_us: int | None, error_type: str = "invalid") -> Frame:
    return Frame([Rejected(reason, ctx.redact(payload), error_type)], time_us)


def _commit(commit: _Commit, ctx: _Ctx) -> Frame:
    if commit.collection != POST and commit.collection not in _REACTIONS:
        return Frame([], commit.time_us, "collection")
    if commit.operation == "delete":
        return _delete(commit, ctx)
    if commit.operation not in ("create", "update"):
        return Frame([], commit.time_us, "operation")
    if commit.collection == POST:
        return _post(commit, ctx)
    return _reaction(commit, ctx) if commit.operation == "create" else Frame([], commit.time_us, "unrelated")


def _post(commit: _Commit, ctx: _Ctx) -> Frame:
    record = commit.body.get("record")
    record = record if isinstance(record, dict) else {}
    reply = record.get("reply")
    root_uri, parent_uri = _ref_uri(reply, "root"), _ref_uri(reply, "parent")
    owner = _owner(ctx, commit.did, record, root_uri, parent_uri)
    if owner is None:
        return Frame([], commit.time_us, "unrelated")
    if not record:
        msg = "post without a record object"
        raise InvalidInput(msg)
    if reply is not None and (root_uri is None or parent_uri is None):
        msg = "reply without root and parent AT-URIs (at://<did>/app.bsky.feed.post/<rkey>)"
        raise InvalidInput(msg)
    owner_did, agency = owner
    key = ctx.key(commit.did, commit.collection, commit.rkey)
    root = ctx.uri_key(root_uri) if root_uri else key
    parent = ctx.uri_key(parent_uri) if parent_uri else None
    role = role_of(_BSKY, commit.did, owner_did, ctx.directory)
    text = record.get("text") if isinstance(record.get("text"), str) and record["text"].strip() else None
    common: dict[str, Any] = {"platform": _BSKY, "agency_id": agency.id, "account_id": owner_did, "source": SOURCE}
    event: Post | Interaction | Change
    if commit.operation == "update":
        rev = commit.body.get("rev")
        version = rev if isinstance(rev, str) and rev else str(commit.time_us)
        event = Change(
            **common, event_id=make_event_id(_BSKY, f"{key}:edit:{version}"), created_at=commit.received,
            op=ChangeOp.EDIT, target_id=key, root_id=root, author_id=commit.did, author_role=role, text=text,
        )  # fmt: skip
        return Frame([event], commit.time_us, learnt={key: Ref(agency.id, owner_did, root)})
    common.update(event_id=make_event_id(_BSKY, key), created_at=_created(record, commit.received), text=text)
    common["links"] = _links(record, text)
    if parent is None and owner_did == commit.did:
        event = Post(**common, post_id=key)
    else:
        kind = InteractionKind.MENTION if parent is None else reply_kind(role, parent, root)
        event = Interaction(
            **common, kind=kind, message_id=key, root_id=root, parent_id=parent,
            author_id=commit.did, author_role=role, parent_author_id=_did_of(parent_uri),
        )  # fmt: skip
    return Frame([event], commit.time_us, learnt={key: Ref(agency.id, owner_did, root)})


def _owner(
    ctx: _Ctx, author: str, record: Mapping[str, Any], root_uri: str | None, parent_uri: str | None
) -> tuple[str, Agency] | None:
    """The directory DID whose conversation a post is, and its agency (the order is in the module doc)."""
    for uri in (root_uri, parent_uri):
        did = _did_of(uri)
        if did and (agency := ctx.owner(did)):
            return did, agency
    if agency := ctx.owner(author):
        return author, agency
    for did in _facet_values(record, "mention", "did"):
        if agency := ctx.owner(did):
            return did, agency
    return None


def _reaction(commit: _Commit, ctx: _Ctx) -> Frame:
    record = commit.body.get("record")
    subject = record.get("subject") if isinstance(record, dict) else None
    match = _AT_URI.fullmatch(_text(subject.get("uri")) if isinstance(subject, dict) else "")
    agency = ctx.owner(match.group(1)) if match else None
    if match is None or agency is None or not isinstance(record, dict):
        return Frame([], commit.time_us, "unrelated")
    target = ctx.key(*match.groups())
    ref = ctx.known.get(target) or Ref(agency.id, match.group(1), target)
    key = ctx.key(commit.did, commit.collection, commit.rkey)
    event = Reaction(
        platform=_BSKY, agency_id=ref.agency_id, account_id=ref.account_id, source=SOURCE,
        event_id=make_event_id(_BSKY, key), created_at=_created(record, commit.received),
        target_id=target, root_id=ref.root_id, reaction_type=_REACTIONS[commit.collection], author_id=commit.did,
    )  # fmt: skip
    return Frame([event], commit.time_us, learnt={key: ref})


def _delete(commit: _Commit, ctx: _Ctx) -> Frame:
    key = ctx.key(commit.did, commit.collection, commit.rkey)
    ref = ctx.known.get(key)
    if ref is None:
        agency = ctx.owner(commit.did) if commit.collection == POST else None
        if agency is None:
            return Frame([], commit.time_us, "unrelated")
        ref = Ref(agency.id, commit.did, key)  # the agency's own post, not seen here: its root is unknown
    event = Change(
        platform=_BSKY, agency_id=ref.agency_id, account_id=ref.account_id, source=SOURCE,
        event_id=make_event_id(_BSKY, f"{key}:remove"), created_at=commit.received, op=ChangeOp.REMOVE,
        target_id=key, root_id=ref.root_id, author_id=commit.did,
        author_role=role_of(_BSKY, commit.did, ref.account_id, ctx.directory),
    )  # fmt: skip
    return Frame([event], commit.time_us)


def _ref_uri(reply: Any, name: str) -> str | None:
    """``reply.<name>.uri`` when it is a record AT-URI."""
    ref = reply.get(name) if isinstance(reply, dict) else None
    uri = ref.get("uri") if isinstance(ref, dict) else None
    return uri if isinstance(uri, str) and _AT_URI.fullmatch(uri) else None


def _facet_values(record: Mapping[str, Any], feature: str, name: str) -> list[str]:
    """``name`` of every ``app.bsky.richtext.facet#<feature>`` of the record, in order."""
    wanted = f"app.bsky.richtext.facet#{feature}"
    facets = record.get("facets")
    values: list[str] = []
    for facet in facets if isinstance(facets, list) else ():
        features = facet.get("features") if isinstance(facet, dict) else None
        for item in features if isinstance(features, list) else ():
            if isinstance(item, dict) and item.get("$type") == wanted and (value := _text(item.get(name))):
                values.append(value)
    return values


def _links(record: Mapping[str, Any], text: str | None) -> tuple[str, ...]:
    """Link facets (the full URLs: the text may show them shortened), the link card's URL, the text's URLs."""
    embed = record.get("embed")
    external = embed.get("external") if isinstance(embed, dict) else None
    card = _text(external.get("uri")) if isinstance(external, dict) else ""
    found = (*_facet_values(record, "link", "uri"), card, *links_in(text))
    return tuple(dict.fromkeys(link for link in found if link.startswith(("http://", "https://"))))


def _created(record: Mapping[str, Any], received: datetime) -> datetime:
    """``min(createdAt, time_us)``, or ``time_us`` when ``createdAt`` is not a usable time (module doc)."""
    value = record.get("createdAt")
    if not isinstance(value, str):
        return received
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            return received  # a naive time would be a guess of the client's zone
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return received
    return min(moment, received) if EARLIEST_EVENT <= moment < LATEST_EVENT else received


def _did_of(uri: str | None) -> str | None:
    """The authority (a DID, or a handle) of a record AT-URI."""
    match = _AT_URI.fullmatch(uri) if uri else None
    return match.group(1) if match else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
