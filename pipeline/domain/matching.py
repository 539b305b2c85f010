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
:mod:`pipeline.bench.state_memory`; the layout: "the state", below): a conversation is its first message (one
72-byte object), numeric ids are held as ints, a message keeps one closure (the earliest reply that answers it)
as one bytes object; eviction visits only the hours of event time that are due, never every conversation. Every
fact still spells its ids and times exactly as they came.
"""

from __future__ import annotations

import heapq
import math
import struct
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
# Open conversations are what fills a worker's memory (millions of them), so every object counts:
# - Messages are msgspec Structs the garbage collector does not track (no reference cycle can pass through
#   them). A conversation *is* its first message (two more fields, not a second object of 32 bytes); further
#   messages hang off it: one, a few in a tuple (smaller than a list), or an index.
# - An id that spells a canonical decimal integer (no sign, no leading zero: ``str(int(s)) == s``, as the
#   platforms' snowflakes do) is held as that int (36 bytes for 19 digits, where the string takes 68) and spelled
#   back exactly in a fact; any other id as it came. The two never collide (an int never equals a str). A
#   message whose id is its conversation's root shares the root's object.
# - A closure is one bytes object: its time (microseconds since 1970 plus 2**62, 8 big-endian bytes) then the
#   reply id in UTF-8, empty for a removal (60 bytes, where a tuple of a float and a string took 148). Bytes
#   compare as the rule orders closures: the earlier first, then the smaller reply id (UTF-8 keeps the order of
#   code points, and "" comes first). A message keeps one closure, or two once a removal is the earlier.
# - A message's time is POSIX seconds (a float, a third of a datetime); a pseudonym is held as the int its 32
#   hex digits spell (44 bytes, not 85); a message's agency and kind are one pair shared by many messages.
# - The hourly eviction index holds one entry per conversation, in the hour it entered: a later event only moves
#   the conversation's ``until`` on, and the entry follows it when its hour comes due (not one entry per move).
#
# The hot path (:meth:`Matcher.add`) inlines _held_id and the like where every event pays them: a call costs
# as much as their work.

# A float of POSIX seconds (``datetime.timestamp()``) holds a time exactly to the microsecond (``_datetime`` gives
# it back) within +-2**33 s of 1970, years 1698 to 2242 (events are 2006 to 2100).
_EXACT_SECONDS = 2.0**33
# Below 2**32 s (years 1834 to 2106) ``round(seconds * 1e6)`` is exact (errors < 0.49 us); beyond, timedelta maths.
_ROUNDS_EXACTLY = 2.0**32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROS_OFFSET = 2**62  # makes every time's microseconds positive: unsigned big-endian bytes keep their order
_TIME = struct.Struct(">Q")  # a closure's first 8 bytes
_TIME_BYTES = _TIME.size
_HOUR_SECONDS = 3600
# Up to this many messages a conversation keeps them in itself and a tuple (scanned); beyond, in dicts (an
# agency's post may gather thousands of comments: one conversation).
_SMALL = 8
_PSEUDONYM_BYTES = 16

# An id as held: a canonical decimal's int, or the id as it came.
_Id = int | str
# A citizen as held: a pseudonym's int, or the author id as it came; None: a ghost's (no author yet).
_Author = int | str | None
# A message's agency and kind: one pair shared by the messages that have the same.
_Profile = tuple[str, str]
_NO_PROFILE: _Profile = ("", "")  # a ghost's


def _out_of_range(at: datetime) -> NoReturn:
    msg = f"event time {at.isoformat()} is outside the years 1698 to 2242 the matcher holds; fix the producer"
    raise ValueError(msg)


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# Ids up to this many digits are held as ints (platform snowflakes have at most 20): int() refuses strings of more
# than 4,300 digits (CPython's guard against quadratic conversions), and a valid event may carry such an id.
_INT_DIGITS = 40


def _held_id(text: str) -> _Id:
    """``text`` as an int when it spells one canonically (``isdigit`` of an ASCII string: 0-9 only), else as is."""
    return int(text) if len(text) <= _INT_DIGITS and text.isdigit() and text.isascii() and text[0] != "0" else text


def _closure(at: datetime, seconds: float, reply_id: str) -> bytes:
    """The closure at ``at`` (``seconds``: its POSIX seconds) by ``reply_id`` (``""``: a removal), as bytes."""
    if -_ROUNDS_EXACTLY < seconds < _ROUNDS_EXACTLY:
        micros = round(seconds * 1e6)
    else:
        micros = (at - _EPOCH) // _MICROSECOND
    return _TIME.pack(micros + _MICROS_OFFSET) + reply_id.encode("utf-8", "surrogatepass")


def _packed(author: str) -> int | str:
    """A pseudonym (``ps1:`` + 32 lowercase hex digits) as the int they spell (44 bytes, not 85); others as is."""
    if len(author) == len(PREFIX) + 2 * _PSEUDONYM_BYTES and author.startswith(PREFIX):
        digits = author[len(PREFIX) :]
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            return author
        # Spelled back the same: no upper case, no white space (``fromhex`` takes both).
        if raw.hex() == digits:
            return int.from_bytes(raw)
    return author


def _earliest(a: bytes | None, b: bytes | None) -> bytes | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


# The tests below put the common case first: an ``isinstance`` of a Struct class that fails costs ~5x more than
# one that holds (or one of a builtin class).


class _Closed(msgspec.Struct, gc=False):
    """The closures of a message whose removal is earlier than its replies: ``replied`` as in :class:`_Message`."""

    replied: bytes | None
    removed: bytes


def _replied(closed: bytes | _Closed | None) -> bytes | None:
    return closed if closed is None or isinstance(closed, bytes) else closed.replied


def _first(closed: bytes | _Closed | None) -> bytes | None:
    return closed if closed is None or isinstance(closed, bytes) else _earliest(closed.removed, closed.replied)


class _Message(msgspec.Struct, gc=False):
    """A citizen message, or a *ghost*: a message named by a reply or a removal before it was met (no author).

    ``closed``: None while open; else its *replied* closure, or a :class:`_Closed` once its removal is earlier.
    *Replied* is the earliest reply to it or to a later message of its author (a ghost's: to it); its first
    closure, emitted as a fact, is the earlier of that and its removal. A reply needs no more of its parent: the
    replies to a later message of the author answer every message the parent answers.
    """

    id: _Id | None
    at: float
    author: _Author
    profile: _Profile
    closed: bytes | _Closed | None = None


class _Index(msgspec.Struct, gc=False):
    """The messages of a big conversation (itself included), by id, and the met ones by author."""

    by_id: dict[_Id | None, _Message] = msgspec.field(default_factory=dict)
    by_author: dict[int | str, list[_Message]] = msgspec.field(default_factory=dict)

    def add(self, message: _Message) -> None:
        """Index ``message`` (again once a ghost is met: then by its author)."""
        self.by_id[message.id] = message
        if message.author is not None:
            self.by_author.setdefault(message.author, []).append(message)


class _Conversation(_Message, gc=False):
    """An open conversation, which is its first message (``id`` None until a message is met or named).

    ``until``: the end of the hour of its latest event (one float per hour); ``more``: its other messages,
    nothing, one, a few in a tuple, or an index of all of them.
    """

    until: float = 0.0
    more: _Message | tuple[_Message, ...] | _Index | None = None


def _find(conv: _Conversation, message_id: _Id) -> _Message | None:
    if conv.id == message_id:
        return conv
    more = conv.more
    if more is None:
        return None
    if isinstance(more, tuple):
        return next((message for message in more if message.id == message_id), None)
    if isinstance(more, _Message):
        return more if more.id == message_id else None
    return more.by_id.get(message_id)


def _of_author(conv: _Conversation, author: int | str) -> list[_Message]:
    """The met messages of ``author`` (ghosts have none)."""
    more = conv.more
    if more is None:
        return [conv] if conv.author == author else []
    if isinstance(more, tuple):
        return [message for message in (conv, *more) if message.author == author]
    if isinstance(more, _Message):
        return [message for message in (conv, more) if message.author == author]
    return more.by_author.get(author, [])


def _every(conv: _Conversation) -> Iterable[_Message]:
    more = conv.more
    if more is None:
        return () if conv.id is None else (conv,)
    if isinstance(more, tuple):
        return (conv, *more)
    if isinstance(more, _Message):
        return (conv, more)
    return more.by_id.values()


def _with(conv: _Conversation, message: _Message) -> None:
    """Add ``message`` to ``conv``'s others (their container changes kind as they grow)."""
    more = conv.more
    if more is None:
        conv.more = message
    elif isinstance(more, tuple):
        if len(more) < _SMALL - 1:
            conv.more = (*more, message)
        else:
            index = _Index()
            for each in (conv, *more, message):
                index.add(each)
            conv.more = index
    elif isinstance(more, _Message):
        conv.more = (more, message)
    else:
        more.add(message)


def _ghost(conv: _Conversation, message_id: _Id) -> _Message:
    """A ghost of ``message_id`` in ``conv``: the conversation itself while it holds no message yet."""
    if conv.id is None:
        conv.id = message_id
        return conv
    ghost = _Message(message_id, 0.0, None, _NO_PROFILE)
    _with(conv, ghost)
    return ghost


class _Account(msgspec.Struct, gc=False):
    """The open conversations of one account, by root id; ``agency_id``: its usual agency's (one string for all).

    ``profiles``: the usual agency's profile of each kind of message.
    """

    platform: str
    account_id: str
    agency_id: str
    conversations: dict[_Id, _Conversation] = msgspec.field(default_factory=dict)
    profiles: dict[str, _Profile] = msgspec.field(default_factory=dict)


class _Hour(msgspec.Struct, gc=False):
    """The conversations that entered one hour (``end``: when it ends, POSIX seconds), for eviction.

    Entry i is the conversation ``roots[i]`` of ``accounts[i]`` (two lists: a tuple per entry costs 56 bytes).
    A conversation whose ``until`` moved on since is entered in its later hour when this one is visited.
    """

    end: float
    accounts: list[_Account] = msgspec.field(default_factory=list)
    roots: list[_Id] = msgspec.field(default_factory=list)


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
        # The hours (since the epoch) conversations entered: a heap of hour numbers, each with the conversations
        # that entered it, so eviction visits only the hours that are due.
        self._hours: list[int] = []
        self._by_hour: dict[int, _Hour] = {}
        # The profiles of agencies met on an account not theirs, by agency then kind.
        self._profiles: dict[str, dict[str, _Profile]] = {}
        self.watermark: datetime | None = None
        """The latest event time seen (eviction's default watermark)."""
        self._latest = -math.inf  # its POSIX seconds: floats compare faster than aware datetimes
        # Where facts and news go, for the length of one add().
        self._facts: dict[_Id, ResponseFact] = {}
        self._news: MatchNews | None = None

    def __len__(self) -> int:
        return self._open

    def held_messages(self) -> int:
        """How many messages the open conversations hold: citizen messages, and ghosts (named, not met yet).

        A scan of every conversation: for figures (:mod:`pipeline.bench.state_memory`), not for the hot path.
        """
        return sum(
            len(list(_every(conv))) for account in self._accounts.values() for conv in account.conversations.values()
        )

    def holds(self, key: ConversationKey) -> bool:
        """True when the conversation ``key`` is in memory (seen and not evicted since)."""
        account = self._accounts.get((key[0], key[1]))
        return account is not None and _held_id(key[2]) in account.conversations

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
            add_one = self._add_one
            for event in events:
                try:
                    add_one(event)
                except Exception as exc:
                    if failed is None:
                        raise
                    failed.append((event, exc))
        finally:
            self._news, self._facts = None, {}  # the facts are the caller's now: not kept alive in here
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
        then in proportion to the conversations that entered that hour (never a scan of every conversation).
        The caller passes the watermark that is safe for every partition it consumes (the slowest one);
        without it the matcher's own (the latest event seen) is used.

        ``limit`` (default ``None``: no cap) is the most conversations kept: beyond it the oldest idle ones (by
        the hour of their latest event; within an hour, in the order the index holds them, about arrival order) are
        dropped. That is the spill path: a
        dropped conversation is reloaded from storage when next met (the processor loads every conversation it
        does not hold before the chunk that touches it), so a cap costs reads, never correctness.

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
                conv = None if held is None else held.conversations.get(_held_id(root))
                if held is not None and conv is not None:
                    chosen.append((held, conv))
        found = [
            (message.profile[0], account.platform, str(message.id), message.at)
            for account, conv in chosen
            for message in _every(conv)
            if message.author is not None and message.closed is None
        ]
        found.sort(key=lambda message: message[3])
        return [(agency, platform, message_id, _datetime(at)) for agency, platform, message_id, at in found]

    # --- adding: ``root`` is the held root id, ``root_id`` its text (the facts' own) ------------------------------

    def _add_one(self, event: MatchEvent) -> None:
        at = event.created_at
        seconds = at.timestamp()
        if seconds > self._latest:
            self._latest, self.watermark = seconds, at
        if not -_EXACT_SECONDS < seconds < _EXACT_SECONDS:
            _out_of_range(at)
        account = self._accounts.get((event.platform, event.account_id)) or self._account(event)
        root_id = event.root_id
        root = (
            int(root_id)
            if len(root_id) <= _INT_DIGITS and root_id.isdigit() and root_id.isascii() and root_id[0] != "0"
            else root_id
        )
        conv = account.conversations.get(root)
        if conv is None:
            conv = self._open_conversation(account, root, event, seconds)
            if conv is None:
                return  # opened by its first message: nothing to match yet
        elif seconds >= conv.until:  # a later hour: its entry follows when the hour it is in comes due
            number = int(seconds // _HOUR_SECONDS)
            conv.until = (self._by_hour.get(number) or self._hour(number)).end
        if event.type == "change":
            if event.op == _REMOVE:
                target = root if event.target_id == root_id else _held_id(event.target_id)
                self._add_removal(account, root_id, conv, target, _closure(at, seconds, ""))
        elif event.author_role == _CITIZEN:
            self._add_citizen(account, root, conv, event, seconds)
        elif event.author_role == _AGENCY and event.parent_id is not None:
            self._add_reply(account, root, conv, event, seconds)

    def _open_conversation(
        self, account: _Account, root: _Id, event: MatchEvent, seconds: float
    ) -> _Conversation | None:
        """Open the conversation ``root``: with ``event`` when it is a citizen's message (then None), else empty."""
        self._open += 1
        until = self._enter(account, root, seconds)
        if event.type == "change" or event.author_role != _CITIZEN:
            conv = account.conversations[root] = _Conversation(None, 0.0, None, _NO_PROFILE, None, until)
            return conv
        text = event.message_id
        if text == event.root_id:
            message_id: _Id = root
        else:
            message_id = (
                int(text) if len(text) <= _INT_DIGITS and text.isdigit() and text.isascii() and text[0] != "0" else text
            )
        profile = account.profiles.get(event.kind) if event.agency_id == account.agency_id else None
        author = _packed(event.author_id)
        profile = profile or self._profile(account, event)
        account.conversations[root] = _Conversation(message_id, seconds, author, profile, None, until)
        if self._news is not None:
            self._news.asked.append(event)
        return None

    def _account(self, event: MatchEvent) -> _Account:
        key = (_platform_name(event.platform), event.account_id)
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = _Account(key[0], key[1], event.agency_id)
        return account

    def _profile(self, account: _Account, event: MatchableInteraction) -> _Profile:
        """The shared (agency, kind) pair of ``event``."""
        agency, kind = event.agency_id, event.kind
        profiles = account.profiles if agency == account.agency_id else self._profiles.setdefault(agency, {})
        profile = profiles.get(kind)
        if profile is None:
            profile = profiles[kind] = (account.agency_id if agency == account.agency_id else agency, kind)
        return profile

    def _add_citizen(
        self, account: _Account, root: _Id, conv: _Conversation, event: MatchableInteraction, at: float
    ) -> None:
        message_id = root if event.message_id == event.root_id else _held_id(event.message_id)
        if conv.id is None:  # the conversation's first message, after events that named none
            conv.id, conv.at, conv.author = message_id, at, _packed(event.author_id)
            conv.profile = self._profile(account, event)
            if self._news is not None:
                self._news.asked.append(event)
            return
        message = _find(conv, message_id)
        if message is not None and message.author is not None:
            return  # met before
        author = _packed(event.author_id)
        peers = _of_author(conv, author)
        if message is None:
            message = _Message(message_id, at, author, self._profile(account, event))
            _with(conv, message)
        else:  # a ghost: what waited for it closes it now
            message.at, message.author, message.profile = at, author, self._profile(account, event)
            if isinstance(conv.more, _Index):
                conv.more.add(message)
        if self._news is not None:
            self._news.asked.append(event)
        self._meet(account, event, message, peers)

    def _meet(self, account: _Account, event: MatchableInteraction, message: _Message, peers: list[_Message]) -> None:
        """Close the newly met ``message`` (of ``event``) as what waited for it and its author's later ones say."""
        waited, message.closed = message.closed, None
        # Its own earliest reply (a ghost's) answers the author's earlier messages; the replies to their later
        # ones answer it. A message of the same instant is neither earlier nor later.
        direct = _replied(waited)
        replied = direct
        for peer in peers:
            message.author = peer.author  # one object for the author's messages
            if peer.at > message.at:
                replied = _earliest(replied, _replied(peer.closed))
            elif peer.at < message.at and direct is not None:
                self._answer(account, event.root_id, peer, direct, None)
        removed = None if waited is None or isinstance(waited, bytes) else waited.removed
        first = _earliest(replied, removed)
        if first is not None:
            self._emit(account, event.root_id, message, event.message_id, first, None)
        # A removal later than a reply can never be the first closure (replies only come earlier): not kept.
        message.closed = replied if first is replied else _Closed(replied, removed)  # type: ignore[arg-type]

    def _add_reply(
        self, account: _Account, root: _Id, conv: _Conversation, event: MatchableInteraction, seconds: float
    ) -> None:
        text: str = event.parent_id  # type: ignore[assignment]  # not None: the caller made sure
        if text == event.root_id:
            parent_id: _Id = root
        else:
            parent_id = (
                int(text) if len(text) <= _INT_DIGITS and text.isdigit() and text.isascii() and text[0] != "0" else text
            )
        parent = _find(conv, parent_id) or _ghost(conv, parent_id)
        reply = _closure(event.created_at, seconds, event.message_id)
        closed = parent.closed
        replied = closed if closed is None or isinstance(closed, bytes) else closed.replied
        if replied is not None and replied <= reply:
            return  # it, and every message it answers, has an earlier answer already
        if parent.author is None:  # a ghost: the reply waits for its message
            if closed is None or isinstance(closed, bytes):
                parent.closed = reply
            else:
                closed.replied = reply
            return
        self._answer(account, event.root_id, parent, reply, text)
        if conv.more is not None:
            for earlier in _of_author(conv, parent.author):
                if earlier.at < parent.at:
                    self._answer(account, event.root_id, earlier, reply, None)

    def _add_removal(self, account: _Account, root_id: str, conv: _Conversation, target: _Id, removal: bytes) -> None:
        # It closes the removed message only: unlike a reply, it says nothing about the author's other messages.
        message = _find(conv, target) or _ghost(conv, target)
        closed = message.closed
        if message.author is not None:
            first = _first(closed)
            if first is not None and first <= removal:
                return
            self._emit(account, root_id, message, None, removal, first)
        if closed is None or isinstance(closed, bytes):
            message.closed = _Closed(closed, removal)
        else:  # earlier than the removal it keeps (a met message's was later than its first closure)
            closed.removed = min(closed.removed, removal)

    def _answer(self, account: _Account, root_id: str, message: _Message, reply: bytes, text: str | None) -> None:
        """``reply`` answers the met ``message`` (its parent's, or an earlier one of its author); ``text``: its id."""
        closed = message.closed
        if closed is None or isinstance(closed, bytes):
            if closed is None or reply < closed:
                self._emit(account, root_id, message, text, reply, closed)
                message.closed = reply
            return
        if closed.replied is not None and closed.replied <= reply:
            return
        if reply < closed.removed:
            self._emit(account, root_id, message, text, reply, closed.removed)
        closed.replied = reply

    def _emit(  # noqa: PLR0913 - the hot path passes what it has rather than look it up again
        self,
        account: _Account,
        root_id: str,
        message: _Message,
        text: str | None,
        closure: bytes,
        first: bytes | None,
    ) -> None:
        """Collect the fact of ``message``'s (id ``text``, when at hand) new first ``closure``; it was ``first``.

        Before the state records it: making the fact may raise (business time), and the state must never hold a
        first closure that was not emitted.
        """
        asked_at = datetime.fromtimestamp(message.at, UTC)  # what _datetime does, inlined (a fact per 3 events)
        # Microseconds / 1e6 is the float ``timestamp()`` gave (both round the exact quotient): the same datetime.
        answered_at = datetime.fromtimestamp((_TIME.unpack_from(closure)[0] - _MICROS_OFFSET) / 1e6, UTC)
        reply_id = closure[_TIME_BYTES:].decode("utf-8", "surrogatepass")
        agency, kind = message.profile
        author = message.author
        fact = ResponseFact(  # positional, in the fields' order: a third faster than by keyword
            str(message.id) if text is None else text,  # message_id
            account.platform,
            agency,  # agency_id
            account.account_id,
            root_id,
            # citizen_id: a pseudonym spelled back ("": a ghost's, never asked for)
            PREFIX + author.to_bytes(_PSEUDONYM_BYTES).hex() if isinstance(author, int) else author or "",
            str(kind),
            asked_at,
            answered_at,
            reply_id,
            max((answered_at - asked_at).total_seconds(), 0.0),  # response_seconds(), inlined
            self._business(agency, asked_at, answered_at),  # business_seconds
            CLOSED_BY_REPLY if reply_id else CLOSED_BY_REMOVAL,  # closed_by
        )
        self._facts[message.id] = fact  # type: ignore[index]  # a met message has an id
        if first is None and self._news is not None:
            self._news.answered.append(fact)

    # --- eviction -------------------------------------------------------------------------------------------

    def _hour(self, number: int) -> _Hour:
        """The hour ``number`` (since the epoch), registered for eviction when new."""
        hour = self._by_hour[number] = _Hour(float((number + 1) * _HOUR_SECONDS))
        heapq.heappush(self._hours, number)
        return hour

    def _enter(self, account: _Account, root: _Id, seconds: float) -> float:
        """Enter the conversation in the hour of ``seconds``; return the hour's end (shared by its entries)."""
        number = int(seconds // _HOUR_SECONDS)
        hour = self._by_hour.get(number) or self._hour(number)
        hour.accounts.append(account)
        hour.roots.append(root)
        return hour.end

    def _drop_idle(self, horizon: float, keep: Container[ConversationKey]) -> int:
        dropped, kept = 0, []
        while self._hours and self._by_hour[self._hours[0]].end <= horizon:
            hour = self._by_hour.pop(heapq.heappop(self._hours))
            for account, root in zip(hour.accounts, hour.roots, strict=True):
                conv = account.conversations[root]
                if conv.until != hour.end:  # a later event moved it on: into that hour (visited later if due)
                    self._enter(account, root, conv.until - _HOUR_SECONDS)
                elif (account.platform, account.account_id, str(root)) in keep:
                    kept.append((account, root, conv))
                else:
                    del account.conversations[root]
                    dropped += 1
        for account, root, conv in kept:  # still due: looked at again on the next call
            self._enter(account, root, conv.until - _HOUR_SECONDS)
        self._open -= dropped
        return dropped

    def _drop_oldest(self, excess: int, keep: Container[ConversationKey]) -> int:
        dropped, visited = 0, []
        while dropped < excess and self._hours:
            number = heapq.heappop(self._hours)
            hour = self._by_hour[number]
            remaining: list[tuple[_Account, _Id]] = []
            for account, root in zip(hour.accounts, hour.roots, strict=True):
                conv = account.conversations[root]
                if conv.until != hour.end:  # moved on: into its later hour (still in the heap, or new)
                    self._enter(account, root, conv.until - _HOUR_SECONDS)
                elif dropped == excess or (account.platform, account.account_id, str(root)) in keep:
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
