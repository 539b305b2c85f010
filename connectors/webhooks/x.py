"""X (Twitter) Account Activity API webhooks: signed v1.1 deliveries as canonical events.

One delivery is ``{"for_user_id": <agency user id>, "tweet_create_events": [...], "favorite_events": [...],
"tweet_delete_events": [...]}``; every other key (follows, DMs, typing indicators, blocks...) is ignored.
Tweets are v1.1 objects: ids are read from ``id_str`` only (``id`` is a JSON number past 2**53), times from
``created_at`` ("Wed May 01 10:03:27 +0000 2024", read with a fixed, locale-free format; anything else is
rejected; ``timestamp_ms`` when ``created_at`` is absent). Text is ``extended_tweet.full_text`` when X truncated
the tweet, else ``full_text`` / ``text``, HTML entities (``&amp;``) decoded; links are the entities'
``expanded_url`` (the text's own URLs only when a tweet has no entities at all).

Mapping (role by immutable user id: ``for_user_id`` -> agency, another directory account -> other agency, else
citizen):

- agency tweet, not a reply -> :class:`Post`; agency reply -> ``Interaction(kind=reply)`` with
  ``parent_id = in_reply_to_status_id_str`` and ``parent_author_id = in_reply_to_user_id_str``;
- anyone else's reply -> ``comment`` when the parent is the conversation root, else ``reply``;
- anyone else's tweet that replies to nothing (a mention, a quote tweet) -> ``mention``, its own root;
- ``favorite_events`` -> :class:`Reaction` ``like``, event id ``x:<tweet>:like:<pseudonym of the liker>``;
- ``tweet_delete_events`` -> ``Change(op=remove)``, event id ``x:<tweet>:remove``.

Skipped silently: retweets (``retweeted_status``: not a message) and the keys above that are not handled.
Rejected (dead-lettered, with where and why): a delivery that is not an object or has no ``for_user_id``; a
``for_user_id`` outside the directory (``unknown_account``); any item without string ids, with a bad time, or
that fails the event schema. A reply to a tweet X did not deliver still gets its ``parent_id``.

Conversation roots: v1.1 tweets carry no ``conversation_id``. :func:`parse_x_activity` takes ``roots`` (tweet
id -> root id): a reply's root is ``roots[parent]`` when the parent is known, else the parent itself.
:class:`XWebhook` keeps that map and re-emits children whose guessed root a late parent corrects
(:mod:`connectors.webhooks.threads`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any, ClassVar, Final

import orjson
from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected, WebhookResponse
from connectors.core.errors import InvalidInput
from connectors.core.items import guard_one, role_of
from connectors.core.text import links_in
from connectors.webhooks.signatures import hmac_base64, signed_with
from connectors.webhooks.threads import NO_IDS, ThreadedWebhook, reply_kind, required_object
from schemas.agency import Agency, Directory
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
    make_event_id,
)
from schemas.privacy import Pseudonymizer

__all__ = ["SIGNATURE_HEADER", "SOURCE", "XWebhook", "parse_v11_time", "parse_x_activity"]

SOURCE: Final = "webhook:x"
SIGNATURE_HEADER: Final = "x-twitter-webhooks-signature"
_ID = re.compile(r"[0-9]{1,32}")  # snowflakes are decimal strings; [0-9], not \d (which takes any script's digits)
_MILLIS = re.compile(r"[0-9]{1,14}")  # 14 digits reach year ~5100: never an overflow, the event bounds decide
_MONTHS: Final = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_V11_TIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    r"([+-])([0-9]{2})([0-9]{2}) ([0-9]{4})"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EXPECTED_TIME = "expected like 'Wed May 01 10:03:27 +0000 2024'"


def parse_v11_time(value: Any) -> datetime:
    """An aware datetime from a v1.1 ``created_at``; :class:`InvalidInput` for any other shape.

    Parsed by hand rather than ``strptime("%a %b ...")``, whose day and month names follow the process locale.

    >>> parse_v11_time("Wed May 01 10:03:27 +0000 2024").isoformat()
    '2024-05-01T10:03:27+00:00'
    """
    match = _V11_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(1) not in _MONTHS:
        msg = f"created_at {value!r} is not a v1.1 time, {_EXPECTED_TIME}"
        raise InvalidInput(msg)
    month, day, hour, minute, second, sign, off_h, off_m, year = match.groups()
    try:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
        return datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset)
        )
    except ValueError as exc:  # day 31 of a 30-day month, hour 25, an offset of a day or more
        msg = f"created_at {value!r} is not a valid time ({exc}), {_EXPECTED_TIME}"
        raise InvalidInput(msg) from None


def parse_x_activity(
    payload: Any,
    directory: Directory,
    pseudonym: Callable[[str], str],
    roots: Mapping[str, str] = NO_IDS,
) -> list[Parsed]:
    """One Account Activity delivery as events and rejected items, in delivery order; pure.

    Args:
        payload: the JSON-decoded body.
        directory: the agencies; ``for_user_id`` must be one of their X accounts.
        pseudonym: keyed pseudonym of a user id, for event ids that name a person (a like).
        roots: tweet id -> conversation root known from earlier deliveries (default none); tweets of this
            delivery are added on the fly, so a reply after its parent in one delivery finds the parent's root.
    """
    if not isinstance(payload, dict):
        return [Rejected(f"x: delivery is a {type(payload).__name__}, not a JSON object", payload)]
    account = payload.get("for_user_id")
    if not isinstance(account, str) or not _ID.fullmatch(account):
        return [Rejected(f"x: delivery without a for_user_id id string (got {account!r})", payload)]
    agency = directory.owner_of(Platform.X, account)
    if agency is None:
        reason = f"x: account {account} (for_user_id) is not in the agency directory"
        return [Rejected(reason, payload, "unknown_account")]
    delivery = _Delivery(agency, account, directory, pseudonym, roots)
    items: list[Parsed] = []
    for key, parse_one in _PARSERS.items():
        batch = payload.get(key)
        if batch is None:
            continue
        if not isinstance(batch, list):
            items.append(Rejected(f"x: {key} is a {type(batch).__name__}, not a list", batch))
            continue
        for index, raw in enumerate(batch):
            items.extend(_guarded(f"x: {key}[{index}]", raw, parse_one, delivery))
    return items


@dataclass
class _Delivery:
    """What every item of one delivery shares, with the roots learnt so far."""

    agency: Agency
    account: str
    directory: Directory
    pseudonym: Callable[[str], str]
    known: Mapping[str, str]
    learnt: dict[str, str] = field(default_factory=dict)

    def role(self, user_id: str) -> AuthorRole:
        return role_of(Platform.X, user_id, self.account, self.directory)

    def root_of(self, tweet_id: str) -> str:
        """The known root of a tweet, else the tweet itself (the guess the tracker may correct later)."""
        return self.learnt.get(tweet_id) or self.known.get(tweet_id) or tweet_id

    def common(self, created_at: datetime) -> dict[str, Any]:
        return {
            "platform": Platform.X,
            "agency_id": self.agency.id,
            "account_id": self.account,
            "created_at": created_at,
            "source": SOURCE,
        }


_ItemParser = Callable[[Any, _Delivery], Event | None]


def _guarded(where: str, raw: Any, parse_one: _ItemParser, delivery: _Delivery) -> list[Parsed]:
    """One item as ``[event]``, ``[]`` (skipped) or ``[Rejected]``: never an exception."""
    return guard_one(where, raw, partial(parse_one, raw, delivery))


def _tweet(raw: Any, delivery: _Delivery) -> Event | None:
    tweet = required_object(raw, "tweet")
    if tweet.get("retweeted_status") is not None:
        return None  # a retweet repeats someone's tweet: not a message to anyone
    tweet_id = _id(tweet.get("id_str"), "id_str")
    author = _id(required_object(tweet.get("user"), "user").get("id_str"), "user.id_str")
    common = delivery.common(_when(tweet))
    parent = _optional_id(tweet.get("in_reply_to_status_id_str"), "in_reply_to_status_id_str")
    text, links = _text_and_links(tweet)
    role = delivery.role(author)
    event: Event
    if parent is None and role is AuthorRole.AGENCY:
        event = Post(event_id=make_event_id(Platform.X, tweet_id), post_id=tweet_id, text=text, links=links, **common)
        delivery.learnt[tweet_id] = tweet_id
        return event
    if parent is None:  # a mention or a quote of the agency: a new conversation
        kind, root, parent_author = InteractionKind.MENTION, tweet_id, None
    else:
        root = delivery.root_of(parent)
        kind = reply_kind(role, parent, root)
        parent_author = _optional_id(tweet.get("in_reply_to_user_id_str"), "in_reply_to_user_id_str")
    event = Interaction(
        event_id=make_event_id(Platform.X, tweet_id),
        kind=kind,
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
    delivery.learnt[tweet_id] = root
    return event


def _favorite(raw: Any, delivery: _Delivery) -> Event:
    favorite = required_object(raw, "favorite event")
    status = required_object(favorite.get("favorited_status"), "favorited_status")
    target = _id(status.get("id_str"), "favorited_status.id_str")
    user = _id(required_object(favorite.get("user"), "user").get("id_str"), "user.id_str")
    parent = _optional_id(status.get("in_reply_to_status_id_str"), "favorited_status.in_reply_to_status_id_str")
    known = delivery.root_of(target)
    # The whole liked tweet is in the event: when it replies to nothing it is a root, else it follows the reply rule.
    root = known if known != target or parent is None else delivery.root_of(parent)
    return Reaction(
        event_id=make_event_id(Platform.X, f"{target}:like:{delivery.pseudonym(user)}"),
        target_id=target,
        root_id=root,
        reaction_type="like",
        author_id=user,
        **delivery.common(_when(favorite)),
    )


def _delete(raw: Any, delivery: _Delivery) -> Event:
    removal = required_object(raw, "delete event")
    status = required_object(removal.get("status"), "status")
    target = _id(status.get("id"), "status.id")  # a string in delete events (there is no id_str)
    user = _optional_id(status.get("user_id"), "status.user_id")
    return Change(
        event_id=make_event_id(Platform.X, f"{target}:remove"),
        op=ChangeOp.REMOVE,
        target_id=target,
        root_id=delivery.root_of(target),
        author_id=user,
        author_role=delivery.role(user) if user else None,
        **delivery.common(_when(removal)),
    )


_PARSERS: Final[dict[str, _ItemParser]] = {
    "tweet_create_events": _tweet,
    "favorite_events": _favorite,
    "tweet_delete_events": _delete,
}


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        msg = f"{what} is {value!r}, not a decimal id string"
        raise InvalidInput(msg)
    return value


def _optional_id(value: Any, what: str) -> str | None:
    return None if value is None or value == "" else _id(value, what)


def _when(item: Mapping[str, Any]) -> datetime:
    """``created_at`` (v1.1 text), else ``timestamp_ms`` (epoch milliseconds, a number or a digit string)."""
    if "created_at" in item:
        return parse_v11_time(item["created_at"])
    millis = item.get("timestamp_ms")
    text = str(millis) if isinstance(millis, int | str) and not isinstance(millis, bool) else ""
    if not _MILLIS.fullmatch(text):
        msg = f"no created_at, and timestamp_ms is {millis!r}, not epoch milliseconds"
        raise InvalidInput(msg)
    return _EPOCH + timedelta(milliseconds=int(text))


def _text_and_links(tweet: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """Full text when X truncated the tweet (``extended_tweet``), its entities' expanded links."""
    extended = tweet.get("extended_tweet")
    source: Mapping[str, Any] = tweet
    if isinstance(extended, dict) and isinstance(extended.get("full_text"), str):
        text: Any = extended["full_text"]
        source = extended if isinstance(extended.get("entities"), dict) else tweet
    else:
        text = tweet.get("full_text", tweet.get("text"))
    if not isinstance(text, str):
        return None, ()
    text = html.unescape(text)  # v1.1 escapes &, < and > as entities
    entities = source.get("entities")
    if not isinstance(entities, dict):
        return text, links_in(text)
    urls = entities.get("urls")
    found = (
        entity.get("expanded_url") or entity.get("url")
        for entity in (urls if isinstance(urls, list) else ())
        if isinstance(entity, dict)
    )
    return text, tuple(dict.fromkeys(link for link in found if isinstance(link, str) and link))


class XWebhook(ThreadedWebhook):
    """X Account Activity API webhook: CRC handshake, base64 HMAC signature, v1.1 deliveries with root tracking.

    Args:
        consumer_secret: the app's consumer secret (signs deliveries and CRC answers).
        directory: the agencies; their X accounts are subscribed.
        pseudonymizer: keys the pseudonym in a like's event id.
        max_known: the most tweet roots remembered, and the most events held for a late parent (default 200,000).

    Not thread-safe by itself: :meth:`parse` takes a lock, so concurrent requests are serialised.

    >>> source = XWebhook(consumer_secret=SecretStr("s"), directory=d, pseudonymizer=p)  # doctest: +SKIP
    >>> source.handshake({"crc_token": "t"}).body  # '{"response_token":"sha256=..."}'  # doctest: +SKIP
    """

    platform: ClassVar[Platform] = Platform.X
    source: ClassVar[str] = SOURCE
    route: ClassVar[str] = "/webhooks/x"
    signature_header: ClassVar[str] = SIGNATURE_HEADER
    platforms: ClassVar[tuple[str, ...]] = (Platform.X.value,)

    def __init__(
        self,
        *,
        consumer_secret: SecretStr,
        directory: Directory,
        pseudonymizer: Pseudonymizer,
        max_known: int = 200_000,
    ) -> None:
        empty = "the X consumer secret is empty; set the app's consumer secret for the X webhook"
        super().__init__(consumer_secret, empty, directory, pseudonymizer, max_known)

    def handshake(self, query: Mapping[str, str]) -> WebhookResponse | None:
        """Answer X's CRC check (``?crc_token=``) with the signed token; ``None`` for any other GET."""
        token = query.get("crc_token")
        if token is None:
            return None
        body = orjson.dumps({"response_token": hmac_base64(self._secret, token.encode("utf-8"))})
        return WebhookResponse(200, body.decode("ascii"), "application/json")

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``x-twitter-webhooks-signature`` is the base64 HMAC-SHA256 of the raw body."""
        return signed_with(headers.get(SIGNATURE_HEADER), hmac_base64(self._secret, body))

    def _parse_locked(self, payload: Any) -> list[Parsed]:
        items = parse_x_activity(payload, self._directory, self._pseudonym, self._tracker.roots)
        return self._tracker.track(items)
