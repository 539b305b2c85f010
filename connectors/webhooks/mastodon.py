"""Mastodon admin webhooks: signed ``status.created`` / ``status.updated`` deliveries as canonical events.

A delivery is ``{"event": ..., "created_at": ..., "object": <Status>}``, signed ``X-Hub-Signature:
sha256=<hex HMAC-SHA256>``. Only an instance's admins can subscribe, and Mastodon fires status events for
statuses written *on that instance* only (``Status#trigger_create_webhooks ... if local?``): replies from
citizens on other servers never come this way (a polling or streaming connector has to read those).

Identity: the ``id`` of a status or an account is local to each server, so accounts are identified by their
ActivityPub actor URI (``account.uri``, e.g. ``https://social.kesihatan.example/users/jknselangor``) and statuses
by their ``uri``. The directory's Mastodon ``account_id`` *is* that actor URI, and so is every event's
``account_id``, ``author_id`` and ``parent_author_id``. A status URI embeds its author's actor URI
(``https://host/users/name/statuses/1``), i.e. the raw author id, so a citizen's status is identified by
:func:`status_key`: the URI with the actor part replaced by the author's pseudonym (``ps1:.../statuses/1``),
unique, stable under one pseudonymisation key, and free of the citizen's id; agencies' statuses keep their URI.

The agency of a status is the first directory account among (in this order):

1. the parent's author, when it is not the author (a reply in that agency's conversation);
2. the author (the agency's own post or reply);
3. the mentioned accounts (a citizen mentioning the agency).

A status that involves no agency is skipped. The parent's author is ``in_reply_to_account_id`` (a local id)
resolved through ``accounts`` (local account id -> actor URI, learnt from the authors of earlier deliveries), else
through the status' ``mentions[]`` entry with that ``id``. A mention's actor URIs are ``accounts[mention.id]``,
its ``url`` rewritten from Mastodon's profile form ``https://host/@name`` to the actor form
``https://host/users/name``, and the ``url`` itself (other servers' software may use it as the actor).

Parent: ``in_reply_to_id`` is a local status id. It resolves through ``known`` (local id -> status key of statuses
seen earlier); else, when the parent's author is an account of this server (actor ``https://<host>/users/<name>``),
to the key of ``<actor>/statuses/<id>``, the URI Mastodon gives a local status; else it stays ``"<host>:<id>"`` (the
server's host: the author's when the author is local, else the agency's). Such a parent matches no status: the
reply opens a conversation of its own until the parent itself is delivered, when :class:`MastodonWebhook`
re-emits it.

Roots, as for X (:mod:`connectors.webhooks.threads`): a reply's root is ``roots[parent]`` when known, else the
parent; a status that replies to nothing is its own root. :class:`MastodonWebhook` keeps ``known``, ``accounts``
and the roots bounded, in the process only, and re-emits events whose root (or ``"<host>:<id>"`` parent) a later
status corrects.

Mapping: the agency's status replying to nothing -> :class:`Post`; the agency's reply -> ``reply``; anyone
else's reply -> ``comment`` when the parent is the root, else ``reply``; anyone else's status that replies to
nothing -> ``mention``; ``visibility == "direct"`` -> ``message`` (whoever wrote it); ``status.updated`` ->
``Change(op=edit)`` with the new text, event id ``mastodon:<status key>:edit:<edited_at>``. Text is the HTML
``content`` as plain text (:func:`connectors.core.text.html_to_text`), the content warning (``spoiler_text``)
first; links leave out the status' own mention and hashtag anchors.

Skipped silently: other events (``account.*``, ``report.*``...), boosts (``reblog`` set), statuses no agency is
involved in. Rejected: a delivery that is not an object, without an event name or a status object, a status
without ``uri``/``account.uri`` URLs, with a bad time, or failing the event schema.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final

from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.items import aware_iso, guard_one, role_of
from connectors.core.text import html_to_text
from connectors.webhooks.signatures import hmac_hex, signed_with
from connectors.webhooks.threads import NO_IDS, ThreadedWebhook, put_bounded, reply_kind, required_object
from schemas.agency import Agency, Directory
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform, Post, make_event_id
from schemas.privacy import Pseudonymizer

__all__ = ["SIGNATURE_HEADER", "SOURCE", "MastodonWebhook", "parse_mastodon", "status_key"]

SOURCE: Final = "webhook:mastodon"
SIGNATURE_HEADER: Final = "x-hub-signature"
_STATUS_EVENTS: Final = frozenset({"status.created", "status.updated"})
_URI = re.compile(r"https?://([^/\s?#@]+)(?:[/?#]\S*)?")
_PROFILE = re.compile(r"(https?://[^/\s?#@]+)/@([^/\s?#@]+)")
_LOCAL_ACTOR = re.compile(r"https?://([^/\s?#@]+)/users/[^/\s?#]+")
_TAG_LINK = re.compile(r"https?://[^/\s?#]+/tags/([^/\s?#]+)")


def parse_mastodon(  # noqa: PLR0913 - the pure parse takes all the context MastodonWebhook keeps
    payload: Any,
    directory: Directory,
    pseudonym: Callable[[str], str],
    roots: Mapping[str, str] = NO_IDS,
    known: Mapping[str, str] = NO_IDS,
    accounts: Mapping[str, str] = NO_IDS,
) -> list[Parsed]:
    """One admin webhook delivery as events or a rejection (``[]`` when skipped); pure.

    Args:
        payload: the JSON-decoded body.
        directory: the agencies; their Mastodon ``account_id`` is the actor URI.
        pseudonym: keyed pseudonym of an actor URI, for the ids of citizens' statuses (:func:`status_key`).
        roots: status key -> conversation root key known from earlier deliveries (default none).
        known: this server's local status id -> status key, of statuses seen earlier (default none).
        accounts: this server's local account id -> actor URI, of authors seen earlier (default none).
    """
    return _parse(payload, _Context(directory, pseudonym, roots, known, accounts))[0]


def status_key(uri: str, author: str, directory: Directory, pseudonym: Callable[[str], str]) -> str:
    """The id of a status in events: its ``uri``, with a citizen author's actor URI replaced by its pseudonym.

    >>> status_key("https://h/users/ali/statuses/7", "https://h/users/ali", d, p)  # doctest: +SKIP
    'ps1:.../statuses/7'  (ali is no agency's account)
    """
    if uri.startswith(author + "/") and directory.owner_of(Platform.MASTODON, author) is None:
        return pseudonym(author) + uri[len(author) :]
    return uri  # an agency's, or a URI without its author's actor (Misskey's /notes/<id>, Pleroma's /objects/<id>)


@dataclass(frozen=True)
class _Seen:
    """What a delivered status teaches about this server's ids, whether or not it became an event."""

    key: str  # the status' id in events (status_key)
    local_id: str | None
    account_local_id: str | None
    account_uri: str
    host: str | None  # the sending server's: the author's when local, else the involved agency's

    @property
    def alias(self) -> str | None:
        """``"<host>:<local id>"``: the parent a reply named this status by while it was unknown."""
        return f"{self.host}:{self.local_id}" if self.host and self.local_id else None


@dataclass(frozen=True)
class _Context:
    directory: Directory
    pseudonym: Callable[[str], str]
    roots: Mapping[str, str]
    known: Mapping[str, str]
    accounts: Mapping[str, str]


def _parse(payload: Any, ctx: _Context) -> tuple[list[Parsed], _Seen | None]:
    if not isinstance(payload, dict):
        return [Rejected(f"mastodon: delivery is a {type(payload).__name__}, not a JSON object", payload)], None
    name = payload.get("event")
    if not isinstance(name, str):
        return [Rejected(f"mastodon: delivery without an event name (got {name!r})", payload)], None
    status = payload.get("object")
    if name not in _STATUS_EVENTS or (isinstance(status, dict) and status.get("reblog") is not None):
        return [], None  # account.*, report.* and boosts are not messages
    where = f"mastodon: {name}"
    seen: _Seen | None = None

    def parse() -> Post | Interaction | Change | None:
        nonlocal seen
        found = required_object(status, "object")
        seen, owner, parent_author = _identify(found, ctx)
        return None if owner is None else _status(name, found, seen, owner, parent_author, ctx)

    return guard_one(where, payload, parse), seen


_Owner = tuple[str, Agency]


def _identify(status: Mapping[str, Any], ctx: _Context) -> tuple[_Seen, _Owner | None, str | None]:
    """The status' ids, the agency account whose conversation it is (``None``: none), the parent's author."""
    uri = _uri(status.get("uri"), "uri")
    account = required_object(status.get("account"), "account")
    author = _uri(account.get("uri"), "account.uri")
    account_local = _text(account.get("id"))
    parent_author = _parent_author(status, account_local, author, ctx.accounts)
    owner = _owner(ctx.directory, author, parent_author, _mention_actors(status, ctx.accounts))
    host = _host(author) if _is_local(account) else _host(owner[0]) if owner else None
    key = status_key(uri, author, ctx.directory, ctx.pseudonym)
    return _Seen(key, _text(status.get("id")), account_local, author, host), owner, parent_author


def _status(  # noqa: PLR0913 - one status and everything identified about it
    name: str, status: Mapping[str, Any], seen: _Seen, owner: _Owner, parent_author: str | None, ctx: _Context
) -> Post | Interaction | Change:
    owner_uri, agency = owner
    author = seen.account_uri
    role = _role(ctx.directory, author, owner_uri)
    parent_local = _text(status.get("in_reply_to_id"))
    parent = _parent_key(parent_local, parent_author, seen.host, ctx) if parent_local else None
    root = ctx.roots.get(parent, parent) if parent else seen.key
    text, links = _text_and_links(status)
    common: dict[str, Any] = {"platform": Platform.MASTODON, "agency_id": agency.id, "account_id": owner_uri}
    common["source"] = SOURCE
    if name == "status.updated":
        edited = status.get("edited_at")
        return Change(
            event_id=make_event_id(Platform.MASTODON, f"{seen.key}:edit:{edited}"),
            created_at=_iso(edited, "edited_at"),
            op=ChangeOp.EDIT,
            target_id=seen.key,
            root_id=ctx.roots.get(seen.key) or root,
            author_id=author,
            author_role=role,
            text=text,
            **common,
        )
    common["created_at"] = _iso(status.get("created_at"), "created_at")
    direct = status.get("visibility") == "direct"
    if parent is None and role is AuthorRole.AGENCY and not direct:
        event_id = make_event_id(Platform.MASTODON, seen.key)
        return Post(event_id=event_id, post_id=seen.key, text=text, links=links, **common)
    return Interaction(
        event_id=make_event_id(Platform.MASTODON, seen.key),
        kind=_kind(role, direct, parent, root),
        message_id=seen.key,
        root_id=root,
        parent_id=parent,
        author_id=author,
        author_role=role,
        parent_author_id=parent_author if parent else None,
        text=text,
        links=links,
        **common,
    )


def _kind(role: AuthorRole, direct: bool, parent: str | None, root: str) -> InteractionKind:
    if direct:
        return InteractionKind.MESSAGE
    return InteractionKind.MENTION if parent is None else reply_kind(role, parent, root)


def _role(directory: Directory, author: str, owner_uri: str) -> AuthorRole:
    return role_of(Platform.MASTODON, author, owner_uri, directory)


def _owner(
    directory: Directory, author: str, parent_author: str | None, mentioned: Sequence[str]
) -> tuple[str, Agency] | None:
    """The directory account whose conversation this is, with its agency (the order is in the module doc)."""
    first = (parent_author,) if parent_author and parent_author != author else ()
    for candidate in (*first, author, *mentioned):
        agency = directory.owner_of(Platform.MASTODON, candidate)
        if agency is not None:
            return candidate, agency
    return None


def _parent_author(
    status: Mapping[str, Any], account_local: str | None, author: str, accounts: Mapping[str, str]
) -> str | None:
    local = _text(status.get("in_reply_to_account_id"))
    if local is None:
        return None
    if local == account_local:
        return author  # a thread: the author answers themselves
    if local in accounts:
        return accounts[local]
    return next((actors[0] for mention_id, actors in _mentions(status, accounts) if mention_id == local), None)


def _parent_key(local_id: str, parent_author: str | None, host: str | None, ctx: _Context) -> str:
    if local_id in ctx.known:
        return ctx.known[local_id]
    actor = _LOCAL_ACTOR.fullmatch(parent_author or "")
    if actor is not None and actor.group(1) == host:
        uri = f"{actor.group(0)}/statuses/{local_id}"  # a local status' URI embeds its local id
        return status_key(uri, actor.group(0), ctx.directory, ctx.pseudonym)
    return f"{host or 'unknown-host'}:{local_id}"


def _mentions(status: Mapping[str, Any], accounts: Mapping[str, str]) -> Iterator[tuple[str | None, list[str]]]:
    """(local account id, actor URI candidates) of each usable ``mentions[]`` entry, in order."""
    mentions = status.get("mentions")
    for mention in mentions if isinstance(mentions, list) else ():
        if not isinstance(mention, dict):
            continue
        local = _text(mention.get("id"))
        url = mention.get("url")
        url = url if isinstance(url, str) and _URI.fullmatch(url) else None
        profile = _PROFILE.fullmatch(url or "")
        candidates = [
            accounts.get(local or ""),
            f"{profile.group(1)}/users/{profile.group(2)}" if profile else None,
            url,
        ]
        actors = list(dict.fromkeys(c for c in candidates if c))
        if actors:
            yield local, actors


def _mention_actors(status: Mapping[str, Any], accounts: Mapping[str, str]) -> list[str]:
    return [actor for _, actors in _mentions(status, accounts) for actor in actors]


def _is_local(account: Mapping[str, Any]) -> bool:
    """Whether an account is one of the sending server's (its ``acct`` has no ``@domain``)."""
    acct = account.get("acct")
    return isinstance(acct, str) and bool(acct) and "@" not in acct


def _text_and_links(status: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    content = status.get("content")
    text, links = html_to_text(content if isinstance(content, str) else None)
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        text = f"{spoiler.strip()}\n\n{text}" if text else spoiler.strip()
    return text or None, tuple(link for link in links if not _own_link(link, status))


def _own_link(link: str, status: Mapping[str, Any]) -> bool:
    """Whether a link is one of the status' mention or hashtag anchors (not a link its author shares)."""
    mentions = status.get("mentions")
    for mention in mentions if isinstance(mentions, list) else ():
        if isinstance(mention, dict) and link == mention.get("url"):
            return True
    tag = _TAG_LINK.fullmatch(link)
    tags = status.get("tags")
    tagged = (t.get("name") for t in (tags if isinstance(tags, list) else ()) if isinstance(t, dict))
    names = {name.lower() for name in tagged if isinstance(name, str)}
    return tag is not None and tag.group(1).lower() in names


def _uri(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _URI.fullmatch(value):
        msg = f"{what} is {value!r}, not an http(s) URI"
        raise InvalidInput(msg)
    return value


def _host(uri: str) -> str | None:
    match = _URI.fullmatch(uri)
    return match.group(1) if match else None


def _text(value: Any) -> str | None:
    """A non-empty string id, else ``None`` (ids are strings in Mastodon's API)."""
    return value if isinstance(value, str) and value else None


def _iso(value: Any, what: str) -> datetime:
    moment = aware_iso(value)
    if moment is None:
        msg = f"{what} is {value!r}, not an ISO 8601 time with an offset like '2024-05-01T10:03:27.000Z'"
        raise InvalidInput(msg)
    return moment


class MastodonWebhook(ThreadedWebhook):
    """Mastodon admin webhook: hex HMAC signature, status deliveries, bounded id and root memory.

    Args:
        secret: the webhook's secret (Administration > Webhooks).
        directory: the agencies; their Mastodon ``account_id`` is the actor URI.
        pseudonymizer: pseudonymises the actor part of citizens' status ids (:func:`status_key`).
        max_known: the most local ids, accounts and roots remembered, and events held (each; default 200,000).

    :meth:`parse` takes a lock, so concurrent requests are serialised.

    >>> source = MastodonWebhook(secret=SecretStr("s"), directory=d, pseudonymizer=p)  # doctest: +SKIP
    >>> source.verify({"x-hub-signature": "sha256=..."}, body)  # doctest: +SKIP
    """

    platform: ClassVar[Platform] = Platform.MASTODON
    source: ClassVar[str] = SOURCE
    route: ClassVar[str] = "/webhooks/mastodon"
    signature_header: ClassVar[str] = SIGNATURE_HEADER
    platforms: ClassVar[tuple[str, ...]] = (Platform.MASTODON.value,)

    def __init__(
        self,
        *,
        secret: SecretStr,
        directory: Directory,
        pseudonymizer: Pseudonymizer,
        max_known: int = 200_000,
    ) -> None:
        empty = "the Mastodon webhook secret is empty; copy the secret shown in Administration > Webhooks"
        super().__init__(secret, empty, directory, pseudonymizer, max_known)
        self._max = max_known
        self._known: OrderedDict[str, str] = OrderedDict()
        self._accounts: OrderedDict[str, str] = OrderedDict()

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``x-hub-signature`` is ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
        return signed_with(headers.get(SIGNATURE_HEADER), hmac_hex(self._secret, body))

    def _parse_locked(self, payload: Any) -> list[Parsed]:
        known, accounts = MappingProxyType(self._known), MappingProxyType(self._accounts)
        ctx = _Context(self._directory, self._pseudonym, self._tracker.roots, known, accounts)
        items, seen = _parse(payload, ctx)
        if seen is None:
            return self._tracker.track(items)
        if seen.local_id:
            put_bounded(self._known, seen.local_id, seen.key, self._max)
        if seen.account_local_id:
            put_bounded(self._accounts, seen.account_local_id, seen.account_uri, self._max)
        return self._tracker.track(items, {seen.key: seen.alias} if seen.alias else {})
