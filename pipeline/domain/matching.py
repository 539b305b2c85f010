"""Reply matching: which agency reply first answers each citizen message. Pure, framework-free.

The rule (DOMAIN.md): an agency reply R whose parent P is a citizen message answers P and every
still-unanswered message that P's author created before P in the same conversation. A message's first
response is the earliest reply that answers it (ties: the smaller reply id).

Because "earliest answering reply" is a minimum over a set, the result depends only on the set of
messages seen, never on arrival order or duplicates: each new message can only *improve* (make earlier)
the first response of some messages, and every improvement is emitted as an updated fact.
Conversations idle (in event time) for longer than the lateness are evicted from memory; that bounds memory,
not correctness: the caller reloads an evicted (or never seen) conversation from its durable copy before
adding new interactions to it (see :meth:`Matcher.holds`), and because the result only depends on the set
of messages, a reloaded conversation matches exactly as one that never left memory. The same holds for the
cap on open conversations (:meth:`Matcher.evict` ``limit``): a conversation dropped by it costs a read when it
is met again, never a wrong fact.

A fact is computed (business time included) before the state that records it is written, and collected as
soon as it is, so an interaction that raises midway never leaves a first response recorded but not emitted:
re-adding interactions that were added before is then harmless (they change nothing and emit nothing).

A removal (a change with ``op=remove``) closes the citizen message it removes as a reply would, and only that
message: a fact is the message's first *closure*, by reply or by removal, whichever came first in event time
(``closed_by`` tells which). A removal met before its message waits in the conversation, so the result still
depends only on the set of events.

Events are read by attribute only (:class:`MatchableInteraction`, :class:`MatchableChange`): the pydantic
models of :mod:`schemas.events` and the hot path's msgspec Structs both work. The state is compact (figures:
:mod:`pipeline.bench.state_memory`): per conversation a 32-byte object, per citizen message a 72-byte one, and
per parent only its earliest reply (a later one never answers anything first); eviction visits only the hours
of event time that are due, never every conversation.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn, Protocol, TypeVar

import msgspec

from schemas.events import AuthorRole, Change, ChangeOp, Interaction, Platform
from schemas.privacy import PREFIX

__all__ = [
    "CLOSED_BY_REMOVAL",
    "CLOSED_BY_REPLY",
    "ConversationKey",
    "Evicted",
    "MatchEvent",
    "MatchNews",
    "Matchable",
    "MatchableChange",
    "MatchableInteraction",
    "Matcher",
    "ResponseFact",
    "conversation_key",
    "response_seconds",
]

CLOSED_BY_REPLY = "reply"
"""``ResponseFact.closed_by`` of a message answered by an agency reply."""
CLOSED_BY_REMOVAL = "removal"
"""``ResponseFact.closed_by`` of a message removed before any answer (it counts as removed, not answered)."""
Matchable = Interaction | Change
"""The pydantic events the matcher takes (any object with the attributes of :data:`MatchEvent` works too)."""
# The reply id of a removal's closure: no message id is empty, so it never collides with a reply's.
_REMOVAL_ID = ""

BusinessSeconds = Callable[[str, datetime, datetime], float]
# (platform, account_id, root_id): the conversation an interaction belongs to.
ConversationKey = tuple[str, str, str]


class _MatchableEvent(Protocol):
    """What the matcher reads of any event it takes."""

    @property
    def event_id(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def agency_id(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class MatchableInteraction(_MatchableEvent, Protocol):
    """What the matcher reads of an interaction: :class:`~schemas.events.Interaction` or a Struct alike."""

    @property
    def type(self) -> Literal["interaction"]: ...
    @property
    def kind(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def root_id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def author_id(self) -> str: ...
    @property
    def author_role(self) -> str: ...


class MatchableChange(_MatchableEvent, Protocol):
    """What the matcher reads of a change: :class:`~schemas.events.Change` or a Struct alike (removals count)."""

    @property
    def type(self) -> Literal["change"]: ...
    @property
    def op(self) -> str: ...
    @property
    def target_id(self) -> str: ...
    @property
    def root_id(self) -> str: ...


MatchEvent = MatchableInteraction | MatchableChange
"""Anything :meth:`Matcher.add` takes, told apart by ``type`` (never by class)."""
_E = TypeVar("_E", bound=MatchEvent)

# Enum members looked up once: reading ``AuthorRole.CITIZEN`` costs more than the comparison itself.
_CITIZEN, _AGENCY, _REMOVE = AuthorRole.CITIZEN, AuthorRole.AGENCY, ChangeOp.REMOVE
# A platform's name from its member (or from the name itself): ``Platform.X.value`` is a slow property. A member
# hashes and compares as its name (a StrEnum), so either finds the name, and keys the same dict entries.
_PLATFORM_NAMES: dict[str, str] = {p: p.value for p in Platform}


def _platform_name(platform: str) -> str:
    name = _PLATFORM_NAMES.get(platform)
    return name if name is not None else str(platform)


def conversation_key(event: MatchEvent) -> ConversationKey:
    """The key of the conversation ``event`` belongs to: ``(platform, account_id, root_id)``."""
    return (_platform_name(event.platform), event.account_id, event.root_id)


def response_seconds(asked_at: datetime, answered_at: datetime) -> float:
    """Wall-clock seconds from a message to its first response (never negative: clocks disagree)."""
    return max((answered_at - asked_at).total_seconds(), 0.0)


class ResponseFact(msgspec.Struct, frozen=True, gc=False):
    """The first closure of one citizen message (an updatable fact: a later-arriving, earlier one wins).

    ``closed_by`` is :data:`CLOSED_BY_REPLY` (``reply_id`` answered it) or :data:`CLOSED_BY_REMOVAL` (it was
    removed first; ``answered_at`` is then the removal's time and ``reply_id`` is empty). Immutable, compared
    and hashed by value (a frozen Struct: made in a fifth of a frozen dataclass's time, one per fact).
    """

    message_id: str
    platform: str
    agency_id: str
    account_id: str
    root_id: str
    citizen_id: str
    kind: str
    asked_at: datetime
    answered_at: datetime
    reply_id: str
    response_seconds: float
    business_seconds: float
    closed_by: str = CLOSED_BY_REPLY

    @property
    def answered(self) -> bool:
        """True when an agency reply closed the message (not its removal)."""
        return self.closed_by == CLOSED_BY_REPLY


@dataclass(slots=True)
class MatchNews:
    """What one :meth:`Matcher.add` changed: citizen messages met first, messages closed first (answered or removed)."""

    asked: list[MatchableInteraction] = field(default_factory=list)
    answered: list[ResponseFact] = field(default_factory=list)


class Evicted(int):
    """How many conversations :meth:`Matcher.evict` dropped (an ``int``), and why.

    ``idle``: idle for longer than the lateness; ``capped``: the oldest idle ones beyond the ``limit``.
    """

    idle: int
    capped: int

    def __new__(cls, idle: int = 0, capped: int = 0) -> Evicted:
        evicted = super().__new__(cls, idle + capped)
        evicted.idle, evicted.capped = idle, capped
        return evicted

    def __repr__(self) -> str:
        return f"Evicted(idle={self.idle}, capped={self.capped})"


# --- the state: a few small objects per conversation (figures: pipeline.bench.state_memory) --------------------
#
# Open conversations are what fills a worker's memory (millions of them), so: messages and conversations are
# msgspec Structs the garbage collector does not track (no reference cycle can pass through them), 72 and 32
# bytes; times are POSIX seconds (a float is half a datetime); a pseudonym is kept as the 16 bytes it spells;
# a conversation of one message (the common case) holds it directly, without a list or a dict.

# A closure of a message: (when, reply id), or (when, "") for a removal; tuples compare as the rule orders them.
_Closure = tuple[float, str]
# A float of POSIX seconds (``datetime.timestamp()``) holds a time exactly to the microsecond (``_datetime`` gives
# it back) within +-2**33 s of 1970, years 1698 to 2242 (events are 2006 to 2100).
_EXACT_SECONDS = 2.0**33
_HOUR_SECONDS = 3600
# Up to this many messages a conversation keeps them in a tuple (scanned); beyond, in dicts (an agency's post
# may gather thousands of comments: one conversation).
_SMALL = 8
_HEX_DIGITS = "0123456789abcdef"
_PSEUDONYM_DIGITS = 32


def _out_of_range(at: datetime) -> NoReturn:
    msg = f"event time {at.isoformat()} is outside the years 1698 to 2242 the matcher holds; fix the producer"
    raise ValueError(msg)


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _packed(author: str) -> bytes | str:
    """A pseudonym (``ps1:`` + 32 lowercase hex digits) as the 16 bytes it spells (49 bytes, not 85); others as is."""
    digits = author[len(PREFIX) :]
    if len(digits) == _PSEUDONYM_DIGITS and author.startswith(PREFIX) and not digits.strip(_HEX_DIGITS):
        return bytes.fromhex(digits)
    return author


def _unpacked(author: bytes | str | None) -> str:
    if isinstance(author, bytes):
        return PREFIX + author.hex()
    return author or ""  # "": a ghost's, never asked for


class _Message(msgspec.Struct, gc=False):
    """A citizen message, or a *ghost*: a message named by a reply or a removal before it was met (no author).

    ``reply`` is the earliest agency reply to it (it also answers its author's earlier messages; a later one
    never answers anything first), ``first`` its first closure, emitted as a fact; a ghost's ``first`` is the
    earliest removal met before it (not emitted: there was no message to close yet).
    """

    id: str
    at: float
    author: bytes | str | None
    agency: str
    kind: str
    reply: _Closure | None = None
    first: _Closure | None = None


class _Index(msgspec.Struct, gc=False):
    """The messages of a big conversation, by id, and the met ones by author."""

    by_id: dict[str, _Message] = msgspec.field(default_factory=dict)
    by_author: dict[bytes | str, list[_Message]] = msgspec.field(default_factory=dict)

    def add(self, message: _Message) -> None:
        """Index ``message`` (again once a ghost is met: then by its author)."""
        self.by_id[message.id] = message
        if message.author is not None:
            self.by_author.setdefault(message.author, []).append(message)


# Nothing yet, one message (most conversations), a few in a tuple (smaller than a list), or an index.
_Messages = _Message | tuple[_Message, ...] | _Index | None


def _find(messages: _Messages, message_id: str) -> _Message | None:
    if isinstance(messages, _Message):
        return messages if messages.id == message_id else None
    if isinstance(messages, tuple):
        return next((message for message in messages if message.id == message_id), None)
    return None if messages is None else messages.by_id.get(message_id)


def _of_author(messages: _Messages, author: bytes | str) -> list[_Message]:
    """The met messages of ``author`` (ghosts have none)."""
    if isinstance(messages, _Message):
        return [messages] if messages.author == author else []
    if isinstance(messages, tuple):
        return [message for message in messages if message.author == author]
    return [] if messages is None else messages.by_author.get(author, [])


def _every(messages: _Messages) -> Iterable[_Message]:
    if isinstance(messages, _Message):
        return (messages,)
    if isinstance(messages, tuple):
        return messages
    return () if messages is None else messages.by_id.values()


def _with(messages: _Messages, message: _Message) -> _Messages:
    """``messages`` and the new ``message`` (the container changes kind as it grows)."""
    if messages is None:
        return message
    if isinstance(messages, _Message):
        return (messages, message)
    if isinstance(messages, tuple):
        if len(messages) < _SMALL:
            return (*messages, message)
        index = _Index()
        for each in [*messages, message]:
            index.add(each)
        return index
    messages.add(message)
    return messages


def _earliest(a: _Closure | None, b: _Closure | None) -> _Closure | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


class _Conversation(msgspec.Struct, gc=False):
    """An open conversation: the end of the hour of its latest event (one float per hour), and its messages."""

    until: float
    messages: _Messages = None


class _Account(msgspec.Struct, gc=False):
    """The open conversations of one account, by root id; ``agency_id``: its usual agency's (one string for all)."""

    platform: str
    account_id: str
    agency_id: str
    conversations: dict[str, _Conversation] = msgspec.field(default_factory=dict)


class _Hour(msgspec.Struct, gc=False):
    """The conversations whose latest event fell in one hour (``end``: when it ends, POSIX seconds), for eviction.

    Entry i is the conversation ``roots[i]`` of ``accounts[i]`` (two lists: a tuple per entry costs 56 bytes).
    It is stale once its conversation moved to a later hour or left, and skipped when the hour is visited.
    """

    end: float
    accounts: list[_Account] = msgspec.field(default_factory=list)
    roots: list[str] = msgspec.field(default_factory=list)


class Matcher:
    """Matches agency replies to citizen messages, per conversation, in event time.

    ``business`` gives business seconds of an agency between two instants. ``lateness`` bounds how long
    an idle conversation is kept (default 7 days of event time).

    >>> matcher = Matcher(business=lambda agency, start, end: 0.0)
    >>> facts = matcher.add([question, answer])   # -> [ResponseFact(...)]
    """

    def __init__(self, business: BusinessSeconds, lateness: timedelta = timedelta(days=7)) -> None:
        self._business = business
        self._lateness = lateness
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._open = 0
        # The hours (since the epoch) of the latest events of open conversations: a heap of hour numbers, each
        # with the conversations that moved into it, so eviction visits only the hours that are due.
        self._hours: list[int] = []
        self._by_hour: dict[int, _Hour] = {}
        self.watermark: datetime | None = None
        """The latest event time seen (eviction's default watermark)."""
        # Where facts and news go, for the length of one add().
        self._facts: dict[str, ResponseFact] = {}
        self._news: MatchNews | None = None

    def __len__(self) -> int:
        return self._open

    def holds(self, key: ConversationKey) -> bool:
        """True when the conversation ``key`` is in memory (seen and not evicted since)."""
        account = self._accounts.get((key[0], key[1]))
        return account is not None and key[2] in account.conversations

    def add(
        self,
        events: Iterable[_E],
        failed: list[tuple[_E, Exception]] | None = None,
        news: MatchNews | None = None,
    ) -> list[ResponseFact]:
        """Feed interactions and removals (any order, duplicates allowed); return new or improved facts.

        ``failed`` (default ``None``: the first error propagates) collects each interaction that raised
        (e.g. business time could not be counted) with its exception, and the others go on; the facts
        found before and after it are returned. ``news`` collects the citizen messages met for the first
        time and the facts of messages answered for the first time (not improvements), for the surge counts.
        """
        improved = self._facts = {}
        self._news = news
        try:
            for event in events:
                try:
                    self._add_one(event)
                except Exception as exc:
                    if failed is None:
                        raise
                    failed.append((event, exc))
        finally:
            self._news = None
        return list(improved.values())

    def evict(
        self,
        watermark: datetime | None = None,
        keep: Container[ConversationKey] = (),
        limit: int | None = None,
    ) -> Evicted:
        """Drop conversations idle for longer than the lateness before ``watermark``, then beyond ``limit``.

        Idle, counted in whole hours of event time: a conversation goes once the hour of its latest event
        ended ``lateness`` before ``watermark``. So a call costs next to nothing until an hour becomes due,
        then in proportion to the conversations of that hour (never a scan of every conversation).
        The caller passes the watermark that is safe for every partition it consumes (the slowest one);
        without it the matcher's own (the latest event seen) is used.

        ``limit`` (default ``None``: no cap) is the most conversations kept: beyond it the oldest idle ones (by
        the hour of their latest event, then by arrival in it) are dropped. That is the spill path: a dropped
        conversation is reloaded from storage when next met (the processor loads every conversation it does not
        hold before the chunk that touches it), so a cap costs reads, never correctness.

        Conversations in ``keep`` stay whatever their age, even beyond the limit: e.g. those whose latest
        messages are not yet durable, so could not be reloaded. Returns how many went (an ``int``) and why.
        """
        watermark = watermark or self.watermark
        idle = 0 if watermark is None else self._drop_idle((watermark - self._lateness).timestamp(), keep)
        capped = 0
        if limit is not None and self._open > limit:
            capped = self._drop_oldest(self._open - limit, keep)
        return Evicted(idle, capped)

    def unanswered(self, keys: Iterable[ConversationKey] | None = None) -> list[tuple[str, str, str, datetime]]:
        """``(agency_id, platform, message_id, created_at)`` of each citizen message held and not closed yet.

        Of the conversations ``keys`` (default: all held), oldest first: what a worker that took over these
        conversations counts as its backlog (:meth:`pipeline.domain.tally.UnansweredTally.seed`).
        """
        chosen: list[tuple[_Account, _Conversation]] = []
        if keys is None:
            for account in self._accounts.values():
                chosen.extend((account, conv) for conv in account.conversations.values())
        else:
            for platform, account_id, root in set(keys):
                held = self._accounts.get((platform, account_id))
                conv = None if held is None else held.conversations.get(root)
                if held is not None and conv is not None:
                    chosen.append((held, conv))
        found = [
            (message.agency, account.platform, message.id, message.at)
            for account, conv in chosen
            for message in _every(conv.messages)
            if message.author is not None and message.first is None
        ]
        found.sort(key=lambda message: message[3])
        return [(agency, platform, message_id, _datetime(at)) for agency, platform, message_id, at in found]

    # --- adding ---------------------------------------------------------------------------------------------

    def _add_one(self, event: MatchEvent) -> None:
        at = event.created_at
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        seconds = at.timestamp()
        if not -_EXACT_SECONDS < seconds < _EXACT_SECONDS:
            _out_of_range(at)
        account = self._accounts.get((event.platform, event.account_id)) or self._account(event)
        root = event.root_id
        conv = account.conversations.get(root)
        if conv is None:
            conv = account.conversations[root] = _Conversation(self._enter(account, root, seconds))
            self._open += 1
        elif seconds >= conv.until:  # a later hour: the conversation moves (its entry in the earlier one goes stale)
            conv.until = self._enter(account, root, seconds)
        if event.type == "change":
            if event.op == _REMOVE:
                self._add_removal(account, root, conv, event.target_id, (seconds, _REMOVAL_ID))
        elif event.author_role == _CITIZEN:
            self._add_citizen(account, conv, event, seconds)
        elif event.author_role == _AGENCY and event.parent_id is not None:
            self._add_reply(account, root, conv, event.parent_id, (seconds, event.message_id))

    def _account(self, event: MatchEvent) -> _Account:
        key = (_platform_name(event.platform), event.account_id)
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = _Account(key[0], key[1], event.agency_id)
        return account

    def _add_citizen(self, account: _Account, conv: _Conversation, event: MatchableInteraction, at: float) -> None:
        messages, message_id = conv.messages, event.message_id
        agency = account.agency_id if event.agency_id == account.agency_id else event.agency_id
        if messages is None:  # its conversation's first message (the common case): nothing to match yet
            conv.messages = _Message(message_id, at, _packed(event.author_id), agency, event.kind)
            if self._news is not None:
                self._news.asked.append(event)
            return
        message = _find(messages, message_id)
        if message is not None and message.author is not None:
            return  # met before
        author = _packed(event.author_id)
        peers = _of_author(messages, author)
        if message is None:
            message = _Message(message_id, at, author, agency, event.kind)
            conv.messages = _with(messages, message)
        else:  # a ghost: what waited for it closes it now
            message.at, message.author, message.agency, message.kind = at, author, agency, event.kind
            if isinstance(messages, _Index):
                messages.add(message)
        if self._news is not None:
            self._news.asked.append(event)
        # Its closure: its own removal, the earliest reply to it, or to a later message of its author; a reply
        # that waited for it answers the author's earlier messages too.
        reply, best, message.first = message.reply, _earliest(message.reply, message.first), None
        for peer in peers:
            message.author = peer.author  # one object for the author's messages
            if peer.at > at:
                best = _earliest(best, peer.reply)
            elif peer.at < at and reply is not None:
                self._offer(account, event.root_id, peer, reply)
        if best is not None:
            self._offer(account, event.root_id, message, best)

    def _add_reply(self, account: _Account, root: str, conv: _Conversation, parent_id: str, reply: _Closure) -> None:
        parent = _find(conv.messages, parent_id)
        if parent is None:
            parent = _Message(parent_id, 0.0, None, "", "")
            conv.messages = _with(conv.messages, parent)
        if parent.reply is not None and parent.reply <= reply:
            return  # a later (or the same) reply to it: every message it answers has an earlier answer already
        parent.reply = reply
        if parent.author is None:
            return  # a ghost: the reply waits for its message
        self._offer(account, root, parent, reply)
        if not isinstance(conv.messages, _Message):
            for earlier in _of_author(conv.messages, parent.author):
                if earlier.at < parent.at:
                    self._offer(account, root, earlier, reply)

    def _add_removal(self, account: _Account, root: str, conv: _Conversation, target: str, removal: _Closure) -> None:
        # It closes the removed message only: unlike a reply, it says nothing about the author's other messages.
        message = _find(conv.messages, target)
        if message is None:
            message = _Message(target, 0.0, None, "", "")
            conv.messages = _with(conv.messages, message)
        if message.author is None:
            message.first = _earliest(message.first, removal)  # waits for its message
        else:
            self._offer(account, root, message, removal)

    def _offer(self, account: _Account, root: str, message: _Message, closure: _Closure) -> None:
        current = message.first
        if current is not None and current <= closure:
            return
        # The fact first (it may raise): the state must never hold a first response that was not emitted.
        fact = self._fact(account, root, message, closure)
        message.first = closure
        self._facts[message.id] = fact
        if current is None and self._news is not None:
            self._news.answered.append(fact)

    def _fact(self, account: _Account, root: str, message: _Message, closure: _Closure) -> ResponseFact:
        asked_at, answered_at, reply_id = _datetime(message.at), _datetime(closure[0]), closure[1]
        return ResponseFact(
            message_id=message.id,
            platform=account.platform,
            agency_id=message.agency,
            account_id=account.account_id,
            root_id=root,
            citizen_id=_unpacked(message.author),
            kind=str(message.kind),
            asked_at=asked_at,
            answered_at=answered_at,
            reply_id=reply_id,
            response_seconds=response_seconds(asked_at, answered_at),
            business_seconds=self._business(message.agency, asked_at, answered_at),
            closed_by=CLOSED_BY_REMOVAL if reply_id == _REMOVAL_ID else CLOSED_BY_REPLY,
        )

    # --- eviction -------------------------------------------------------------------------------------------

    def _enter(self, account: _Account, root: str, seconds: float) -> float:
        """Register the conversation in the hour of ``seconds``; return the hour's end (shared by its entries)."""
        number = int(seconds // _HOUR_SECONDS)
        hour = self._by_hour.get(number)
        if hour is None:
            hour = self._by_hour[number] = _Hour(float((number + 1) * _HOUR_SECONDS))
            heapq.heappush(self._hours, number)
        hour.accounts.append(account)
        hour.roots.append(root)
        return hour.end

    def _drop_idle(self, horizon: float, keep: Container[ConversationKey]) -> int:
        dropped, kept = 0, []
        while self._hours and self._by_hour[self._hours[0]].end <= horizon:
            hour = self._by_hour.pop(heapq.heappop(self._hours))
            for account, root in zip(hour.accounts, hour.roots, strict=True):
                conv = account.conversations.get(root)
                if conv is None or conv.until != hour.end:
                    continue  # moved to a later hour, or gone
                if (account.platform, account.account_id, root) in keep:
                    kept.append((account, root, conv))
                else:
                    del account.conversations[root]
                    dropped += 1
        for account, root, conv in kept:  # still due: looked at again on the next call
            conv.until = self._enter(account, root, conv.until - _HOUR_SECONDS)
        self._open -= dropped
        return dropped

    def _drop_oldest(self, excess: int, keep: Container[ConversationKey]) -> int:
        dropped, visited = 0, []
        while dropped < excess and self._hours:
            number = heapq.heappop(self._hours)
            hour = self._by_hour[number]
            remaining: list[tuple[_Account, str]] = []
            for account, root in zip(hour.accounts, hour.roots, strict=True):
                conv = account.conversations.get(root)
                if conv is None or conv.until != hour.end:
                    continue
                if dropped == excess or (account.platform, account.account_id, root) in keep:
                    remaining.append((account, root))
                else:
                    del account.conversations[root]
                    dropped += 1
            if remaining:
                hour.accounts, hour.roots = [a for a, _ in remaining], [r for _, r in remaining]
                visited.append(number)
            else:
                del self._by_hour[number]
        for number in visited:
            heapq.heappush(self._hours, number)
        self._open -= dropped
        return dropped
