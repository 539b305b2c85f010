"""Reply matching: which agency reply first answers each citizen message. Pure, framework-free.

The rule (DOMAIN.md): an agency reply R whose parent P is a citizen message answers P and every
still-unanswered message that P's author created before P in the same conversation. A message's first
response is the earliest reply that answers it (ties: the smaller reply id).

Because "earliest answering reply" is a minimum over a set, the result depends only on the set of
messages seen, never on arrival order or duplicates: each new message can only *improve* (make earlier)
the first response of some messages, and every improvement is emitted as an updated fact.
Conversations idle (in event time) for longer than the lateness are evicted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.events import AuthorRole, Interaction

__all__ = ["Matcher", "ResponseFact"]

BusinessSeconds = Callable[[str, datetime, datetime], float]


@dataclass(frozen=True, slots=True)
class ResponseFact:
    """The first response to one citizen message (an updatable fact: a later-arriving, earlier reply wins)."""

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


@dataclass
class _Conversation:
    citizen: dict[str, Interaction] = field(default_factory=dict)
    by_author: dict[str, list[Interaction]] = field(default_factory=dict)
    replies_to: dict[str, dict[str, Interaction]] = field(default_factory=dict)
    first: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    last_event_at: datetime | None = None


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
        self._conversations: dict[tuple[str, str, str], _Conversation] = {}
        self.watermark: datetime | None = None

    def __len__(self) -> int:
        return len(self._conversations)

    def add(self, events: Iterable[Interaction]) -> list[ResponseFact]:
        """Feed interactions (any order, duplicates allowed); return new or improved facts."""
        improved: dict[str, ResponseFact] = {}
        for event in events:
            for fact in self._add_one(event):
                improved[fact.message_id] = fact
        return list(improved.values())

    def evict(self) -> int:
        """Drop conversations idle for longer than the lateness before the watermark; return how many."""
        if self.watermark is None:
            return 0
        horizon = self.watermark - self._lateness
        stale = [key for key, conv in self._conversations.items()
                 if conv.last_event_at is not None and conv.last_event_at < horizon]
        for key in stale:
            del self._conversations[key]
        return len(stale)

    def _add_one(self, event: Interaction) -> list[ResponseFact]:
        key = (event.platform.value, event.account_id, event.root_id)
        conv = self._conversations.setdefault(key, _Conversation())
        if conv.last_event_at is None or event.created_at > conv.last_event_at:
            conv.last_event_at = event.created_at
        if self.watermark is None or event.created_at > self.watermark:
            self.watermark = event.created_at
        if event.author_role is AuthorRole.CITIZEN:
            return self._add_citizen(conv, event)
        if event.author_role is AuthorRole.AGENCY and event.parent_id is not None:
            return self._add_reply(conv, event)
        return []

    def _add_citizen(self, conv: _Conversation, message: Interaction) -> list[ResponseFact]:
        if message.message_id in conv.citizen:
            return []
        conv.citizen[message.message_id] = message
        conv.by_author.setdefault(message.author_id, []).append(message)
        facts = []
        # Replies that were waiting for this message answer it and its author's earlier messages.
        for reply in conv.replies_to.get(message.message_id, {}).values():
            for target in [message, *self._earlier_by_same_author(conv, message)]:
                facts.extend(self._offer(conv, target, reply))
        # Replies to a later message by the same citizen answer this one too.
        for parent in self._later_by_same_author(conv, message):
            for reply in conv.replies_to.get(parent.message_id, {}).values():
                facts.extend(self._offer(conv, message, reply))
        return facts

    def _add_reply(self, conv: _Conversation, reply: Interaction) -> list[ResponseFact]:
        assert reply.parent_id is not None
        replies = conv.replies_to.setdefault(reply.parent_id, {})
        if reply.message_id in replies:
            return []
        replies[reply.message_id] = reply
        parent = conv.citizen.get(reply.parent_id)
        if parent is None:
            return []
        facts = []
        for message in [parent, *self._earlier_by_same_author(conv, parent)]:
            facts.extend(self._offer(conv, message, reply))
        return facts

    @staticmethod
    def _later_by_same_author(conv: _Conversation, message: Interaction) -> list[Interaction]:
        return [m for m in conv.by_author[message.author_id] if m.created_at > message.created_at]

    @staticmethod
    def _earlier_by_same_author(conv: _Conversation, parent: Interaction) -> list[Interaction]:
        return [m for m in conv.by_author[parent.author_id] if m.created_at < parent.created_at]

    def _offer(self, conv: _Conversation, message: Interaction, reply: Interaction) -> list[ResponseFact]:
        candidate = (reply.created_at, reply.message_id)
        current = conv.first.get(message.message_id)
        if current is not None and current <= candidate:
            return []
        conv.first[message.message_id] = candidate
        return [self._fact(message, reply)]

    def _fact(self, message: Interaction, reply: Interaction) -> ResponseFact:
        wall = max((reply.created_at - message.created_at).total_seconds(), 0.0)
        business = self._business(message.agency_id, message.created_at, reply.created_at)
        return ResponseFact(
            message_id=message.message_id, platform=message.platform.value, agency_id=message.agency_id,
            account_id=message.account_id, root_id=message.root_id, citizen_id=message.author_id,
            kind=message.kind.value, asked_at=message.created_at, answered_at=reply.created_at,
            reply_id=reply.message_id, response_seconds=wall, business_seconds=business,
        )
