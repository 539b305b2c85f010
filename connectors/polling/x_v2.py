"""X API v2 pages of Posts as canonical events, pure (failed answers: :mod:`connectors.polling.x_limits`).

Shared by the mentions/search poller (:mod:`connectors.polling.x`) and the filtered stream
(:mod:`connectors.streams.x`). A v2 page is ``{"data": [tweet...], "includes": {"users": [...], "tweets": [...]},
"meta": {"newest_id", "next_token", ...}, "errors": [...]}``; a stream line has one tweet as ``data``. Ids are
strings (snowflakes pass 2**53), times ``"2024-05-01T10:03:27.000Z"``.

Mapping, role by immutable user id (the context's account -> agency, another directory account -> other agency,
else citizen), event id ``x:<tweet id>`` exactly like the Account Activity webhook (``connectors.webhooks.x``), so a
tweet that arrives by webhook and by poll upserts:

- the account's tweet replying to nothing -> :class:`Post`; its reply -> ``Interaction(kind=reply)``;
- anyone else's reply (``referenced_tweets`` ``replied_to`` = parent) -> ``comment`` when the parent is the root,
  else ``reply``; root = ``conversation_id`` (falling back to the included parent's, then to the parent itself);
  ``parent_author_id`` = ``in_reply_to_user_id`` (the parent's author, not the root's), else the included parent's;
- anyone else's tweet replying to nothing (a mention, a quote) -> ``mention``, its own root;
- an edited tweet (``edit_history_tweet_ids`` starting with another id) -> ``Change(op=edit)`` of the original,
  event id ``x:<original>:edit:<new id>`` (the original keeps its place; an edit is not a new message).

Also parsed: ``includes.tweets`` written by the account (an agency post that replies/quotes point at), so the
agency's posts are known even when only their replies were fetched. Skipped silently: retweets (``retweeted``:
no message to anyone), other included tweets, ``includes.users`` (names and handles never decide a role; events
carry no handle). Rejected, with where and why: a tweet without string ids, with a bad time, or failing the schema.
A 200 answer's top-level ``errors`` (a deleted or protected parent, a missing include) are reported in
:attr:`V2Page.errors` and the data kept. A payload of the wrong shape gives :attr:`V2Page.malformed`: the caller
retries it (a broken answer is transient), never an exception.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

from connectors.core.contracts import AccountContext, Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import guard_one, role_of
from connectors.core.text import links_in
from connectors.polling.x_limits import describe_error
from connectors.webhooks.threads import reply_kind, required_object
from schemas.events import (
    AuthorRole,
    Change,
    ChangeOp,
    Event,
    Interaction,
    InteractionKind,
    Platform,
    Post,
    make_event_id,
)

__all__ = [
    "EXPANSIONS",
    "TWEET_FIELDS",
    "V2Page",
    "newest_of",
    "parse_v2_page",
    "parse_v2_time",
    "snowflake_time",
]

TWEET_FIELDS: Final = (
    "created_at,author_id,conversation_id,referenced_tweets,in_reply_to_user_id,entities,edit_history_tweet_ids,"
    "note_tweet"  # the whole text of a long post (``text`` holds its first 280 characters only)
)
EXPANSIONS: Final = "author_id,referenced_tweets.id"
_ID = re.compile(r"[0-9]{1,32}")  # [0-9], not \d (which takes any script's digits)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TWITTER_EPOCH_MS: Final = 1_288_834_974_657  # snowflake ids count milliseconds from 2010-11-04


def parse_v2_time(value: Any) -> datetime:
    """An aware UTC datetime from a v2 ``created_at``; :class:`InvalidInput` for any other shape.

    >>> parse_v2_time("2024-05-01T10:03:27.000Z").isoformat()
    '2024-05-01T10:03:27+00:00'
    """
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        msg = f"created_at {value!r} is not a v2 time, expected like '2024-05-01T10:03:27.000Z'"
        raise InvalidInput(msg)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:  # month 13, day 31 of a 30-day month
        msg = f"created_at {value!r} is not a valid time ({exc})"
        raise InvalidInput(msg) from None


def snowflake_time(tweet_id: str) -> datetime:
    """When a tweet id was made (its top bits are milliseconds since X's epoch); ``ValueError`` if not an id."""
    if not _ID.fullmatch(tweet_id):
        msg = f"{tweet_id!r} is not a tweet id"
        raise ValueError(msg)
    return _EPOCH + timedelta(milliseconds=(int(tweet_id) >> 22) + _TWITTER_EPOCH_MS)


def newest_of(*ids: str | None) -> str | None:
    """The newest (numerically largest) of some tweet ids; ``None`` when there are none."""
    present = [tweet_id for tweet_id in ids if tweet_id]
    return max(present, key=int) if present else None


@dataclass(frozen=True)
class V2Page:
    """One v2 answer parsed: its items, where the next page starts, and what it tells about conversations.

    ``conversations`` maps each conversation root of the events to the newest ``created_at`` in it;
    ``errors`` describes the answer's partial errors (kept data); ``malformed`` says why the whole answer is
    unusable (then there are no items).
    """

    items: list[Parsed]
    newest_id: str | None = None
    next_token: str | None = None
    conversations: Mapping[str, datetime] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    malformed: str | None = None

    @property
    def newest_at(self) -> datetime | None:
        """The platform time of the newest event on the page."""
        return max(self.conversations.values(), default=None)


def parse_v2_page(payload: Any, context: AccountContext, source: str, where: str = "x") -> V2Page:
    """A v2 answer (a page, or one stream object whose ``data`` is a single tweet) as events; pure, never raises.

    Args:
        payload: the JSON-decoded body.
        context: the account read (agency, account id, directory).
        source: the events' ``source`` label, e.g. ``"poll:x"``.
        where: the start of every rejection reason (default ``"x"``).
    """
    shape = _shape(payload)
    if isinstance(shape, str):
        return V2Page([], malformed=f"{where}: {shape}")
    data, includes, meta = shape
    included = {t["id"]: t for t in _list(includes, "tweets") if isinstance(t, dict) and isinstance(t.get("id"), str)}
    reader = _Reader(context, source, included)
    items: list[Parsed] = []
    for index, raw in enumerate(data):
        items.extend(_guarded(f"{where}: data[{index}]", raw, reader))
    own = {raw["id"] for raw in data if isinstance(raw, dict) and isinstance(raw.get("id"), str)}
    for index, raw in enumerate(_list(includes, "tweets")):
        # the account's own tweets among the includes (a post that replies point at), each once
        if isinstance(raw, dict) and raw.get("author_id") == context.account.account_id and not _listed(raw, own):
            items.extend(_guarded(f"{where}: includes.tweets[{index}]", raw, reader))
    conversations: dict[str, datetime] = {}
    for item in items:
        if not isinstance(item, Rejected):
            root = item.post_id if isinstance(item, Post) else item.root_id
            conversations[root] = max(item.created_at, conversations.get(root, item.created_at))
    ids = [raw.get("id") for raw in data if isinstance(raw, dict)] + [meta.get("newest_id")]
    newest = newest_of(*(i for i in ids if isinstance(i, str) and _ID.fullmatch(i)))
    errors = tuple(describe_error(error) for error in _list(payload, "errors"))
    return V2Page(items, newest, meta.get("next_token"), conversations, errors)


def _shape(payload: Any) -> tuple[list[Any], Mapping[str, Any], Mapping[str, Any]] | str:
    """``(data, includes, meta)`` of a well-shaped answer, else why it is not one."""
    if not isinstance(payload, dict):
        return f"answer is a {type(payload).__name__}, not a JSON object"
    if "data" not in payload and "meta" not in payload:
        return f"answer has neither data nor meta (keys {sorted(payload)[:8]})"
    data = payload.get("data", [])
    data = [data] if isinstance(data, dict) else data
    includes, meta = payload.get("includes", {}), payload.get("meta", {})
    for name, value, kind in (("data", data, list), ("includes", includes, dict), ("meta", meta, dict)):
        if not isinstance(value, kind):
            return f"{name} is a {type(value).__name__}, not a {kind.__name__}"
    token = meta.get("next_token")
    if token is not None and not (isinstance(token, str) and token):
        return f"meta.next_token is {token!r}, not a token"
    return data, includes, meta


def _listed(tweet: Mapping[str, Any], ids: set[str]) -> bool:
    tweet_id = tweet.get("id")
    return isinstance(tweet_id, str) and tweet_id in ids


def _list(container: Mapping[str, Any], key: str) -> list[Any]:
    value = container.get(key)
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class _Reader:
    context: AccountContext
    source: str
    included: Mapping[str, Mapping[str, Any]]

    def role(self, user_id: str) -> AuthorRole:
        return role_of(Platform.X, user_id, self.context.account.account_id, self.context.directory)


def _guarded(where: str, raw: Any, reader: _Reader) -> list[Parsed]:
    """One tweet as ``[event]``, ``[]`` (skipped) or ``[Rejected]``: never an exception."""
    return guard_one(where, raw, partial(_tweet, raw, reader))


def _tweet(raw: Any, reader: _Reader) -> Event | None:
    tweet = required_object(raw, "tweet")
    tweet_id = _id(tweet.get("id"), "id")
    refs = _references(tweet.get("referenced_tweets"))
    if "retweeted" in refs:
        return None  # a retweet repeats someone's tweet: not a message to anyone
    author = _id(tweet.get("author_id"), "author_id")
    role = reader.role(author)
    parent = refs.get("replied_to")
    included = reader.included.get(parent or "", {})
    root = tweet_id
    if parent is not None:
        candidates = (tweet.get("conversation_id"), included.get("conversation_id"))
        root = next((str(r) for r in candidates if _is_id(r)), parent)
    text, links = _text_and_links(tweet)
    common: dict[str, Any] = {
        "platform": Platform.X,
        "agency_id": reader.context.agency.id,
        "account_id": reader.context.account.account_id,
        "created_at": parse_v2_time(tweet.get("created_at")),
        "source": reader.source,
    }
    original = _original_of(tweet, tweet_id)
    if original is not None:
        return Change(
            event_id=make_event_id(Platform.X, f"{original}:edit:{tweet_id}"),
            op=ChangeOp.EDIT,
            target_id=original,
            root_id=root if parent else original,
            author_id=author,
            author_role=role,
            text=text,
            **common,
        )
    if parent is None and role is AuthorRole.AGENCY:
        return Post(event_id=make_event_id(Platform.X, tweet_id), post_id=tweet_id, text=text, links=links, **common)
    parent_author = _optional_id(tweet.get("in_reply_to_user_id"), "in_reply_to_user_id")
    if parent is not None and parent_author is None and _is_id(included.get("author_id")):
        parent_author = included["author_id"]
    return Interaction(
        event_id=make_event_id(Platform.X, tweet_id),
        kind=InteractionKind.MENTION if parent is None else reply_kind(role, parent, root),
        message_id=tweet_id,
        root_id=root,
        parent_id=parent,
        author_id=author,
        author_role=role,
        parent_author_id=parent_author,
        text=text,
        links=links,
        **common,
    )


def _references(value: Any) -> dict[str, str]:
    """``referenced_tweets`` as type -> id (``replied_to``, ``quoted``, ``retweeted``)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        msg = f"referenced_tweets is a {type(value).__name__}, not a list"
        raise InvalidInput(msg)
    refs: dict[str, str] = {}
    for index, ref in enumerate(value):
        ref_object = required_object(ref, f"referenced_tweets[{index}]")
        kind = ref_object.get("type")
        if not isinstance(kind, str):
            msg = f"referenced_tweets[{index}].type is {kind!r}, not a string"
            raise InvalidInput(msg)
        refs.setdefault(kind, _id(ref_object.get("id"), f"referenced_tweets[{index}].id"))
    return refs


def _original_of(tweet: Mapping[str, Any], tweet_id: str) -> str | None:
    """The first version's id when this tweet is an edit of it (an edit gets a new id, the history lists all)."""
    history = tweet.get("edit_history_tweet_ids")
    if isinstance(history, list) and history and _is_id(history[0]) and history[0] != tweet_id:
        return str(history[0])
    return None


def _text_and_links(tweet: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The whole text (``note_tweet`` of a long post, else ``text``), entities decoded, and its expanded links."""
    note = tweet.get("note_tweet")
    source: Mapping[str, Any] = note if isinstance(note, dict) and isinstance(note.get("text"), str) else tweet
    text = source.get("text")
    if not isinstance(text, str):
        return None, ()
    text = html.unescape(text)  # v2 still escapes &, < and > as entities
    entities = source.get("entities")
    if not isinstance(entities, dict):
        return text, links_in(text)
    found = (u.get("expanded_url") or u.get("url") for u in _list(entities, "urls") if isinstance(u, dict))
    return text, tuple(dict.fromkeys(link for link in found if isinstance(link, str) and link))


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _id(value: Any, what: str) -> str:
    if not _is_id(value):
        msg = f"{what} is {value!r}, not a decimal id string"
        raise InvalidInput(msg)
    return str(value)


def _optional_id(value: Any, what: str) -> str | None:
    return None if value is None or value == "" else _id(value, what)
