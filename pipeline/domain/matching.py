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
of messages, a reloaded conversation matches exactly as one that never left memory.

A fact is computed (business time included) before the state that records it is written, and collected as
soon as it is, so an interaction that raises midway never leaves a first response recorded but not emitted:
re-adding interactions that were added before is then harmless (they change nothing and emit nothing).

A removal (:class:`~schemas.events.Change` with ``op=remove``) closes the citizen message it removes as a reply
would, and only that message: a fact is the message's first *closure*, by reply or by removal, whichever came
first in event time (``closed_by`` tells which). A removal met before its message waits in the conversation, so
the result still depends only on the set of events.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.events import AuthorRole, Change, ChangeOp, Interaction

__all__ = [
    "CLOSED_BY_REMOVAL",
    "CLOSED_BY_REPLY",
    "ConversationKey",
    "Matchable",
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
"""What the matcher takes: interactions, and changes (only removals matter; edits change nothing)."""
# The reply id of a removal's closure: no message id is empty, so it never collides with a reply's.
_REMOVAL_ID = ""

BusinessSeconds = Callable[[str, datetime, datetime], float]
# (platform, account_id, root_id): the conversation an interaction belongs to.
ConversationKey = tuple[str, str, str]
_Facts = dict[str, "ResponseFact"]


def conversation_key(event: Matchable) -> ConversationKey:
    """The key of the conversation ``event`` belongs to: ``(platform, account_id, root_id)``."""
    return (event.platform.value, event.account_id, event.root_id)


def response_seconds(asked_at: datetime, answered_at: datetime) -> float:
    """Wall-clock seconds from a message to its first response (never negative: clocks disagree)."""
    return max((answered_at - asked_at).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class ResponseFact:
    """The first closure of one citizen message (an updatable fact: a later-arriving, earlier one wins).

    ``closed_by`` is :data:`CLOSED_BY_REPLY` (``reply_id`` answered it) or :data:`CLOSED_BY_REMOVAL` (it was
    removed first; ``answered_at`` is then the removal's time and ``reply_id`` is empty).
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


# Compact state, plain tuples of str/datetime (no text, no models): a fraction of the memory, and the
# garbage collector stops tracking such tuples, which keeps its pauses short with millions of messages.
# citizen message: (created_at, author_id, kind, agency_id); reply: created_at.
_Citizen = tuple[datetime, str, str, str]


@dataclass
class _Conversation:
    citizen: dict[str, _Citizen] = field(default_factory=dict)
    by_author: dict[str, list[str]] = field(default_factory=dict)
    replies_to: dict[str, dict[str, datetime]] = field(default_factory=dict)
    first: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    removed: dict[str, datetime] = field(default_factory=dict)
    last_event_at: datetime | None = None


@dataclass(slots=True)
class MatchNews:
    """What one :meth:`Matcher.add` changed: citizen messages met first, messages closed first (answered or removed)."""

    asked: list[Interaction] = field(default_factory=list)
    answered: list[ResponseFact] = field(default_factory=list)


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
        self._conversations: dict[ConversationKey, _Conversation] = {}
        self.watermark: datetime | None = None
        self._news: MatchNews | None = None

    def __len__(self) -> int:
        return len(self._conversations)

    def holds(self, key: ConversationKey) -> bool:
        """True when the conversation ``key`` is in memory (seen and not evicted since)."""
        return key in self._conversations

    def add(
        self,
        events: Iterable[Matchable],
        failed: list[tuple[Matchable, Exception]] | None = None,
        news: MatchNews | None = None,
    ) -> list[ResponseFact]:
        """Feed interactions and removals (any order, duplicates allowed); return new or improved facts.

        ``failed`` (default ``None``: the first error propagates) collects each interaction that raised
        (e.g. business time could not be counted) with its exception, and the others go on; the facts
        found before and after it are returned. ``news`` collects the citizen messages met for the first
        time and the facts of messages answered for the first time (not improvements), for the surge counts.
        """
        improved: _Facts = {}
        self._news = news
        try:
            for event in events:
                try:
                    self._add_one(event, improved)
                except Exception as exc:
                    if failed is None:
                        raise
                    failed.append((event, exc))
        finally:
            self._news = None
        return list(improved.values())

    def evict(self, watermark: datetime | None = None, keep: Container[ConversationKey] = ()) -> int:
        """Drop conversations idle for longer than the lateness before ``watermark``; return how many.

        The caller passes the watermark that is safe for every partition it consumes (the slowest one);
        without it the matcher's own (the latest event seen) is used. Conversations in ``keep`` stay
        whatever their age: e.g. those whose latest messages are not yet durable, so could not be reloaded.
        """
        watermark = watermark or self.watermark
        if watermark is None:
            return 0
        horizon = watermark - self._lateness
        stale = [
            key
            for key, conv in self._conversations.items()
            if conv.last_event_at is not None and conv.last_event_at < horizon and key not in keep
        ]
        for key in stale:
            del self._conversations[key]
        return len(stale)

    def unanswered(self, keys: Iterable[ConversationKey] | None = None) -> list[tuple[str, str, str, datetime]]:
        """``(agency_id, platform, message_id, created_at)`` of each citizen message held and not closed yet.

        Of the conversations ``keys`` (default: all held), oldest first: what a worker that took over these
        conversations counts as its backlog (:meth:`pipeline.domain.tally.UnansweredTally.seed`).
        """
        held = self._conversations
        chosen = held.items() if keys is None else [(key, held[key]) for key in set(keys) if key in held]
        found = [
            (agency_id, key[0], message_id, at)
            for key, conv in chosen
            for message_id, (at, _author, _kind, agency_id) in conv.citizen.items()
            if message_id not in conv.first
        ]
        found.sort(key=lambda message: message[3])
        return found

    def _add_one(self, event: Matchable, out: _Facts) -> None:
        key = conversation_key(event)
        conv = self._conversations.get(key)
        if conv is None:
            conv = self._conversations[key] = _Conversation()
        at = event.created_at
        if conv.last_event_at is None or at > conv.last_event_at:
            conv.last_event_at = at
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        if isinstance(event, Change):
            if event.op is ChangeOp.REMOVE:
                self._add_removal(key, conv, event.target_id, at, out)
        elif event.author_role is AuthorRole.CITIZEN:
            self._add_citizen(key, conv, event, out)
        elif event.author_role is AuthorRole.AGENCY and event.parent_id is not None:
            self._add_reply(key, conv, (event.parent_id, event.message_id, at), out)

    def _add_citizen(self, key: ConversationKey, conv: _Conversation, message: Interaction, out: _Facts) -> None:
        message_id = message.message_id
        if message_id in conv.citizen:
            return
        conv.citizen[message_id] = (message.created_at, message.author_id, message.kind.value, message.agency_id)
        if self._news is not None:
            self._news.asked.append(message)
        conv.by_author.setdefault(message.author_id, []).append(message_id)
        # Replies that were waiting for this message answer it and its author's earlier messages.
        for reply_id, replied_at in conv.replies_to.get(message_id, {}).items():
            for target in [message_id, *self._by_same_author(conv, message_id, earlier=True)]:
                self._offer(key, conv, target, (reply_id, replied_at), out)
        # Replies to a later message by the same citizen answer this one too.
        for parent in self._by_same_author(conv, message_id, earlier=False):
            for reply_id, replied_at in conv.replies_to.get(parent, {}).items():
                self._offer(key, conv, message_id, (reply_id, replied_at), out)
        # A removal met before the message closes it now.
        removed_at = conv.removed.get(message_id)
        if removed_at is not None:
            self._offer(key, conv, message_id, (_REMOVAL_ID, removed_at), out)

    def _add_removal(self, key: ConversationKey, conv: _Conversation, target: str, at: datetime, out: _Facts) -> None:
        # The earliest removal counts (a redelivered or repeated removal changes nothing). It closes the removed
        # message only: unlike a reply, it says nothing about the author's other messages.
        current = conv.removed.get(target)
        if current is not None and current <= at:
            return
        conv.removed[target] = at
        if target in conv.citizen:
            self._offer(key, conv, target, (_REMOVAL_ID, at), out)

    def _add_reply(
        self, key: ConversationKey, conv: _Conversation, reply: tuple[str, str, datetime], out: _Facts
    ) -> None:
        parent_id, reply_id, replied_at = reply
        replies = conv.replies_to.setdefault(parent_id, {})
        if reply_id in replies:
            return
        replies[reply_id] = replied_at
        if parent_id not in conv.citizen:
            return
        for target in [parent_id, *self._by_same_author(conv, parent_id, earlier=True)]:
            self._offer(key, conv, target, (reply_id, replied_at), out)

    @staticmethod
    def _by_same_author(conv: _Conversation, message_id: str, *, earlier: bool) -> list[str]:
        at, author = conv.citizen[message_id][:2]
        return [
            other
            for other in conv.by_author[author]
            if (conv.citizen[other][0] < at if earlier else conv.citizen[other][0] > at)
        ]

    def _offer(
        self, key: ConversationKey, conv: _Conversation, message_id: str, reply: tuple[str, datetime], out: _Facts
    ) -> None:
        reply_id, replied_at = reply
        candidate = (replied_at, reply_id)
        current = conv.first.get(message_id)
        if current is not None and current <= candidate:
            return
        # The fact first (it may raise): the state must never hold a first response that was not emitted.
        fact = self._fact(key, message_id, conv.citizen[message_id], reply_id, replied_at)
        conv.first[message_id] = candidate
        out[message_id] = fact
        if current is None and self._news is not None:
            self._news.answered.append(fact)

    def _fact(
        self, key: ConversationKey, message_id: str, message: _Citizen, reply_id: str, replied_at: datetime
    ) -> ResponseFact:
        asked_at, author_id, kind, agency_id = message
        platform, account_id, root_id = key
        return ResponseFact(
            message_id=message_id,
            platform=platform,
            agency_id=agency_id,
            account_id=account_id,
            root_id=root_id,
            citizen_id=author_id,
            kind=kind,
            asked_at=asked_at,
            answered_at=replied_at,
            reply_id=reply_id,
            response_seconds=response_seconds(asked_at, replied_at),
            business_seconds=self._business(agency_id, asked_at, replied_at),
            closed_by=CLOSED_BY_REMOVAL if reply_id == _REMOVAL_ID else CLOSED_BY_REPLY,
        )
