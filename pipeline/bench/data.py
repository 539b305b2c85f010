"""Synthetic benchmark traffic that behaves like life: conversations with replies, as batch records, fast to make.

Each conversation (a post of an agency account, or a private-message thread) lives in one partition, keyed like
:class:`connectors.core.publisher.Publisher` keys it (``partition_for(conversation_key)``). Citizens write in it;
about a quarter of their messages are answered by the agency in the same conversation, most within the hour, some
hours or days later, one in a hundred after more than the matcher's default lateness (7 days); some citizens ask
twice before the one reply that answers both; a few remove their message; a few replies are delivered late, after
a later reply to the same message (the earlier one then improves the fact). Reactions, edits and the agency's own
comments make up the rest. About 15 % of the events produce or update a response fact (the matcher's, measured in
the tests). Event time runs evenly over ``span`` (default :data:`DEFAULT_SPAN`, 10 days: longer than the lateness,
so eviction runs) and ends at a fixed moment in the past, inside the worker's accepted time window; the same seed
gives the same bytes.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaProducer

from schemas.records import BATCH_FORMAT
from schemas.topics import EVENTS, partition_for

__all__ = ["DEFAULT_SPAN", "SyntheticEvents"]

DEFAULT_SPAN = timedelta(days=10)
"""Event time the planned events spread over: longer than the matcher's 7-day lateness, so eviction runs."""
_END = datetime(2026, 11, 2, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXTS = (
    "Bila jalan ini akan dibaiki?",
    "Is the clinic open on Saturday?",
    "Terima kasih atas makluman.",
    "Where do I renew my passport?",
)
# Twelve agencies, each with an account on each of three platforms: 36 accounts.
_ACCOUNTS = tuple(
    (platform, f"bench{agency}", f"9{agency:03d}{index}")
    for agency in range(12)
    for index, platform in enumerate(("x", "facebook", "instagram"))
)
_CITIZENS = 200_000
# What an idle slot does (cumulative thresholds): open a conversation, a citizen message, a reaction, an edit;
# the rest are the agency's own comments under its posts (they answer nobody).
_NEW, _CITIZEN, _REACTION, _EDIT = 0.08, 0.63, 0.96, 0.97
_DM_SHARE = 0.55  # conversations that are private-message threads: no post, one or two citizen messages
_POST_LIFE_S = 6 * 3600.0  # mean time a post thread keeps getting comments and reactions
# The fate of a citizen message (cumulative): answered, asked again then answered once, removed; else unanswered.
_ANSWERED, _DOUBLE, _REMOVED = 0.26, 0.29, 0.31
_LATE_DELIVERY = 0.04  # of answered messages: an earlier reply arrives after a later one
# Reply delays (cumulative share, shortest, longest in seconds): minutes, hours, a day or two, days, > lateness.
_DELAYS = (
    (0.50, 60.0, 3600.0),
    (0.80, 3600.0, 8 * 3600.0),
    (0.95, 8 * 3600.0, 48 * 3600.0),
    (0.99, 2 * 86400.0, 6 * 86400.0),
    (1.00, 7.2 * 86400.0, 9 * 86400.0),
)
# The seconds of a minute as event times end (ClickHouse stores milliseconds): "06.864000Z" at 6,864 ms.
_SECONDS = tuple(f"{ms // 1000:02d}.{ms % 1000:03d}000Z" for ms in range(60_000))
# Deferred actions.
_REPLY, _FOLLOW_UP, _REMOVE = 0, 1, 2


class _Conversation:
    """One conversation: its account, root, partition, and the last citizen message (for reactions and edits)."""

    __slots__ = ("account_id", "dm", "head", "last_author", "last_message", "partition", "platform", "root")

    def __init__(self, number: int, partitions: int, dm: bool, account: tuple[str, str, str]) -> None:
        platform, agency_id, account_id = account
        self.platform, self.account_id = platform, account_id
        self.dm = dm
        self.root = f"t{number}" if dm else f"p{number}"
        self.partition = partition_for(f"{platform}:{account_id}:{self.root}", partitions)
        self.head = {"schema_version": 1, "platform": platform, "agency_id": agency_id, "account_id": account_id}
        self.last_message: str | None = None
        self.last_author = ""


class SyntheticEvents:
    """Realistic conversations (see the module), grouped per partition into batch records as the Publisher sends them.

    Args:
        partitions: partitions of the events topic.
        batch_events: events per batch record (500, as connectors send them).
        seed: the same seed gives the same events.
        events: how many events the run plans (their event times spread evenly over ``span``); more may be taken,
            their time goes on at the same pace.
        span: event time the planned events cover (default :data:`DEFAULT_SPAN`); it ends on 2026-11-02.
    """

    def __init__(
        self,
        partitions: int,
        batch_events: int,
        seed: int,
        *,
        events: int = 1_000_000,
        span: timedelta = DEFAULT_SPAN,
    ) -> None:
        self._partitions = partitions
        self._batch = batch_events
        self._rng = random.Random(seed)  # noqa: S311 - reproducible load, not cryptography
        self._n = 0
        self._step_s = span.total_seconds() / max(events, 1)
        self._planned = max(events, 1)
        self._span_ms = span // timedelta(milliseconds=1)
        self._start_ms = (_END - span - _EPOCH) // timedelta(milliseconds=1)
        self._minute = -1
        self._minute_prefix = ""
        self._pool: list[_Conversation] = []
        self._pool_size = max(4, round(_POST_LIFE_S / self._step_s * _NEW * (1 - _DM_SHARE)))
        self._conversations = 0
        self._due: list[tuple[int, int, tuple[Any, ...]]] = []
        self._deferrals = 0
        self._live_rng = random.Random(seed)  # noqa: S311 - reproducible load, not cryptography
        self._live_n = 0

    def produce(self, bootstrap: str, events: int) -> None:
        """Send ``events`` events as fast as Kafka takes them."""
        producer = _producer(bootstrap)
        sent = 0
        while sent < events:
            sent += self._send(producer, min(self._batch * self._partitions, events - sent))
        producer.flush()
        producer.close()

    def produce_paced(self, bootstrap: str, rate: int, seconds: float) -> None:
        """Send ``rate`` events/s for ``seconds``, in small records every 20 ms."""
        producer = _producer(bootstrap)
        step, started, sent = 0.02, time.monotonic(), 0
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started + step) * rate)
            if due > sent:
                sent += self._send(producer, due - sent)
                producer.flush()
            time.sleep(max(0.0, step - (time.monotonic() - now)))  # pacing the load, by design
        producer.close()

    def batch_records(self, count: int) -> list[tuple[int, bytes]]:
        """The next ``count`` events as ``(partition, batch record value)`` pairs, as a connector sends them."""
        per_partition: dict[int, list[dict[str, Any]]] = {}
        for partition, event in self.take(count):
            per_partition.setdefault(partition, []).append(event)
        return [
            (partition, orjson.dumps({"format": BATCH_FORMAT, "events": events[i : i + self._batch]}))
            for partition, events in per_partition.items()
            for i in range(0, len(events), self._batch)
        ]

    def take(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        """The next ``count`` events in arrival order, each with the partition of its conversation."""
        out: list[tuple[int, dict[str, Any]]] = []
        due = self._due
        for _ in range(count):
            n = self._n
            self._n += 1
            if due and due[0][0] <= n:
                out.append(self._deferred(n, heapq.heappop(due)[2]))
            else:
                out.append(self._spontaneous(n))
        return out

    def live_events(
        self, accounts: Sequence[tuple[str, str, str]], clock: Callable[[], datetime]
    ) -> Iterator[dict[str, Any]]:
        """A simple mix, endless, one event at a time, as a connector sees live traffic (for a paced run).

        Posts (10 %), citizen comments (50 %), agency replies to a recent comment (15 %), reactions (25 %).

        Args:
            accounts: ``(platform, agency id, account id)`` triples, e.g. from the agency directory, so the
                publisher knows every account; conversation ``c`` belongs to ``accounts[c % len(accounts)]``.
            clock: each event's time (e.g. ``lambda: datetime.now(UTC)``), so event time moves as live data's.
        """
        while True:
            self._live_n += 1
            n, roll = self._live_n, self._live_rng.random()
            platform, agency_id, account_id = accounts[(n // 40) % len(accounts)]
            head = {
                "schema_version": 1,
                "platform": platform,
                "agency_id": agency_id,
                "account_id": account_id,
                "created_at": clock().isoformat(),
                "source": "bench",
            }
            yield self._live_shaped(n, roll, head)

    def _send(self, producer: KafkaProducer, count: int) -> int:
        for partition, value in self.batch_records(count):
            producer.send(EVENTS.name, value=value, partition=partition)
        return count

    # The conversations.

    def _spontaneous(self, n: int) -> tuple[int, dict[str, Any]]:
        roll = self._rng.random()
        pool = self._pool
        if roll < _NEW or not pool:
            return self._open(n)
        conv = pool[int(self._rng.random() * len(pool))]
        if roll < _CITIZEN:
            return conv.partition, self._citizen(n, conv, self._author(), self._parent(conv))
        if roll < _REACTION:
            # About half the reactions like the last citizen message, the others the root.
            on_message = conv.last_message is not None and roll < (_CITIZEN + _REACTION) / 2
            target = conv.last_message if on_message and conv.last_message is not None else conv.root
            return conv.partition, self._reaction(n, conv, target)
        if roll < _EDIT and conv.last_message is not None:
            return conv.partition, self._change(n, n, conv, "edit", conv.last_message, conv.last_author)
        # The agency comments under its own post (or writes in its thread): it answers nobody.
        return conv.partition, self._interaction(n, n, conv, conv.root, conv.account_id, "agency")

    def _open(self, n: int) -> tuple[int, dict[str, Any]]:
        rng, number = self._rng, self._conversations
        self._conversations += 1
        dm = rng.random() < _DM_SHARE
        conv = _Conversation(number, self._partitions, dm, _ACCOUNTS[int(rng.random() * len(_ACCOUNTS))])
        if dm:  # a private thread: one message, perhaps a second, and the agency's answer (or none)
            return conv.partition, self._citizen(n, conv, self._author(), None)
        if len(self._pool) < self._pool_size:
            self._pool.append(conv)
        else:  # a random one leaves the pool: post threads live on for an exponentially distributed time
            self._pool[int(rng.random() * self._pool_size)] = conv
        event = {
            **conv.head,
            "created_at": self._iso(n),
            "source": "bench",
            "type": "post",
            "event_id": f"{conv.platform}:e{n}",
            "post_id": conv.root,
            "text": _TEXTS[2],
            "links": ["https://bench.gov.my/x"],
        }
        return conv.partition, event

    def _citizen(
        self, n: int, conv: _Conversation, author: str, parent: str | None, fate: float = -1.0
    ) -> dict[str, Any]:
        """A citizen message; its fate (answered, asked again, removed, or none) is drawn and scheduled now."""
        event = self._interaction(n, n, conv, parent or conv.root, author, "citizen")
        message = event["message_id"]
        conv.last_message, conv.last_author = message, author
        roll = self._rng.random() if fate < 0 else fate
        if roll < _ANSWERED:
            self._answer(n, conv, message, author)
        elif roll < _DOUBLE:  # the same citizen asks again within half an hour; one reply answers both
            self._defer(n, 60.0 + self._rng.random() * 1740.0, (_FOLLOW_UP, conv, author))
        elif roll < _REMOVED:  # the citizen removes the message before any answer
            self._defer(n, 300.0 + self._rng.random() * 172_800.0, (_REMOVE, conv, message, author))
        return event

    def _answer(self, n: int, conv: _Conversation, message: str, author: str) -> None:
        delay_s = self._delay_s()
        due = self._defer(n, delay_s, (_REPLY, conv, message, author, None))
        if self._rng.random() < _LATE_DELIVERY:
            # An earlier reply, stamped halfway, reaches the worker only after the later one: it improves the fact.
            stamp = n + (due - n) // 2
            self._defer(due, 1.0 + self._rng.random() * 600.0, (_REPLY, conv, message, author, stamp))

    def _deferred(self, n: int, action: tuple[Any, ...]) -> tuple[int, dict[str, Any]]:
        conv: _Conversation = action[1]
        if action[0] == _REPLY:
            _, _, message, author, stamp = action
            reply = self._interaction(n, n if stamp is None else stamp, conv, message, conv.account_id, "agency")
            reply["parent_author_id"] = author
            return conv.partition, reply
        if action[0] == _FOLLOW_UP:
            return conv.partition, self._citizen(n, conv, action[2], None, fate=0.0)
        return conv.partition, self._change(n, n, conv, "remove", action[2], action[3])

    def _defer(self, n: int, delay_s: float, action: tuple[Any, ...]) -> int:
        due = n + max(1, int(delay_s / self._step_s))
        self._deferrals += 1  # unique: ties on the due slot never compare the actions
        heapq.heappush(self._due, (due, self._deferrals, action))
        return due

    def _delay_s(self) -> float:
        roll = self._rng.random()
        low_share = 0.0
        for share, shortest, longest in _DELAYS:
            if roll < share:
                return shortest + (roll - low_share) / (share - low_share) * (longest - shortest)
            low_share = share
        return _DELAYS[-1][2]

    def _author(self) -> str:
        return f"ps1:{int(self._rng.random() * _CITIZENS):032x}"

    def _parent(self, conv: _Conversation) -> str | None:
        # Some citizens answer each other (a reply to the last message); the others comment on the root.
        if conv.last_message is not None and self._rng.random() < 0.15:
            return conv.last_message
        return None

    # The events' JSON.

    def _interaction(  # noqa: PLR0913 - the event's fields
        self, n: int, stamp: int, conv: _Conversation, parent: str, author: str, role: str
    ) -> dict[str, Any]:
        kind = "message" if conv.dm else "comment" if parent == conv.root else "reply"
        return {
            **conv.head,
            "created_at": self._iso(stamp),
            "source": "bench",
            "type": "interaction",
            "event_id": f"{conv.platform}:e{n}",
            "kind": kind,
            "message_id": f"m{n}",
            "root_id": conv.root,
            "parent_id": parent,
            "author_id": author,
            "author_role": role,
            "text": _TEXTS[n % 4] if role == "citizen" else _TEXTS[2],
        }

    def _reaction(self, n: int, conv: _Conversation, target: str) -> dict[str, Any]:
        return {
            **conv.head,
            "created_at": self._iso(n),
            "source": "bench",
            "type": "reaction",
            "event_id": f"{conv.platform}:e{n}",
            "target_id": target,
            "root_id": conv.root,
            "reaction_type": "like",
            "author_id": self._author(),
        }

    def _change(  # noqa: PLR0913 - the event's fields
        self, n: int, stamp: int, conv: _Conversation, op: str, target: str, author: str
    ) -> dict[str, Any]:
        event = {
            **conv.head,
            "schema_version": 2,
            "created_at": self._iso(stamp),
            "source": "bench",
            "type": "change",
            "event_id": f"{conv.platform}:e{n}",
            "op": op,
            "target_id": target,
            "root_id": conv.root,
            "author_id": author,
            "author_role": "citizen",
        }
        if op == "edit":
            event["text"] = _TEXTS[n % 4]
        return event

    def _iso(self, slot: int) -> str:
        """Event time of ``slot`` as the Publisher writes it (``...T04:05:06.864000Z``); formatting is cached."""
        ms = self._start_ms + slot * self._span_ms // self._planned
        minute, rest = divmod(ms, 60_000)
        if minute != self._minute:
            self._minute = minute
            self._minute_prefix = (_EPOCH + timedelta(minutes=minute)).isoformat()[:17]
        return self._minute_prefix + _SECONDS[rest]

    # The live mix (pipeline.bench.soak): simple, with the wall clock's time.

    def _live_shaped(self, n: int, roll: float, head: dict[str, Any]) -> dict[str, Any]:
        """Event ``n`` of the live mix (``roll`` picks its type) on ``head``'s account and time."""
        conversation = n // 40
        root = f"p{conversation}"
        platform = head["platform"]
        if roll < 0.10:
            return {
                **head,
                "type": "post",
                "event_id": f"{platform}:e{n}",
                "post_id": f"b{n}",
                "text": _TEXTS[2],
                "links": ["https://bench.gov.my/x"],
            }
        if roll < 0.60:
            return {
                **head,
                "type": "interaction",
                "event_id": f"{platform}:e{n}",
                "kind": "comment",
                "message_id": f"m{n}",
                "root_id": root,
                "parent_id": root,
                "author_id": f"ps1:{n % 5000:032x}",
                "author_role": "citizen",
                "text": _TEXTS[n % 4],
            }
        if roll < 0.75:
            return {
                **head,
                "type": "interaction",
                "event_id": f"{platform}:e{n}",
                "kind": "reply",
                "message_id": f"m{n}",
                "root_id": root,
                "parent_id": f"m{max(n - self._live_rng.randint(1, 30), conversation * 40)}",
                "author_id": head["account_id"],
                "author_role": "agency",
                "text": _TEXTS[2],
            }
        return {
            **head,
            "type": "reaction",
            "event_id": f"{platform}:e{n}",
            "target_id": root,
            "root_id": root,
            "reaction_type": "like",
            "author_id": f"ps1:{n % 7000:032x}",
        }


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * 1024 * 1024, batch_size=1024 * 1024
    )
