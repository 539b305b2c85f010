"""The matcher alone: memory per open conversation and CPU per event, on realistic conversations.

Realistic means what the worker holds in production: platform-like ids (19-digit snowflakes, ``ps1:`` pseudonyms
of 36 characters), one to three citizen messages per conversation (double questions by the same author a few
minutes apart), most answered by one agency reply minutes to days later (some later than the lateness), a few
removals and agency notes that answer nobody. Every string and time is a fresh object per event, as decoding
makes them, so what the matcher keeps is what tracemalloc counts.

:func:`bytes_per_conversation` builds conversations of fixed shapes (and the realistic mix) through
:meth:`Matcher.add` under ``tracemalloc`` and divides the memory the matcher keeps by the conversations it holds;
:func:`matching_us_per_event` times :meth:`Matcher.add` and :meth:`Matcher.evict` per chunk, as the processor
calls them, on a stream of several days of event time (so eviction runs). :func:`bench_data_bytes` gives the
memory on ``serambi bench``'s own traffic (:mod:`pipeline.bench.data`), per open conversation and per held message.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.bench.data import SyntheticEvents
from pipeline.bench.hotpath import CHUNK_RECORDS
from pipeline.domain.matching import Matchable, Matcher, conversation_key
from pipeline.runtime.gctune import WORKER_GC_THRESHOLDS
from schemas.events import EVENT_ADAPTER, AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform
from schemas.fastdecode import HotMatchable
from schemas.records import decode_record

__all__ = [
    "SHAPES",
    "Shape",
    "bench_data_bytes",
    "bytes_per_conversation",
    "matching_us_per_event",
    "realistic_stream",
    "shaped_conversations",
]

_START = datetime(2026, 11, 2, tzinfo=UTC)
_ACCOUNTS = 48  # agency accounts the conversations spread over


@dataclass(frozen=True)
class Shape:
    """A conversation's shape: citizen messages (by how many authors), agency replies, removals.

    The first author asks twice a few minutes apart when ``questions`` > ``authors`` (a double question); the
    replies answer the first author's latest message, ``reply_after`` later.
    """

    questions: int = 1
    authors: int = 1
    replies: int = 0
    removals: int = 0
    reply_after: timedelta = timedelta(hours=2)


SHAPES: dict[str, Shape] = {
    "question": Shape(),
    "question+reply": Shape(replies=1),
    "double question": Shape(questions=2),
    "double question+reply": Shape(questions=2, replies=1),
    "two citizens+reply": Shape(questions=2, authors=2, replies=1),
    "three questions+reply": Shape(questions=3, authors=2, replies=1),
    "question+removal": Shape(removals=1),
}
"""The fixed shapes :func:`bytes_per_conversation` measures (besides the realistic mix, ``"mix"``)."""


class _Ids:
    """Platform-like ids, each a fresh string (as a decoder makes them)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.accounts = [(f"agency{i:02d}", str(1_000_000_000 + 7919 * i)) for i in range(_ACCOUNTS)]

    def snowflake(self) -> str:
        return str(1_850_000_000_000_000_000 + self._rng.getrandbits(56))

    def pseudonym(self) -> str:
        return f"ps1:{self._rng.getrandbits(128):032x}"


def _interaction(
    head: tuple[str, str, str],
    at: datetime,
    message_id: str,
    author: tuple[str, AuthorRole],
    parent_id: str | None,
) -> Interaction:
    agency_id, account_id, root = head
    author_id, role = author
    return Interaction(
        event_id=f"x:{message_id}",
        platform=Platform.X,
        agency_id=agency_id,
        account_id=account_id,
        created_at=at,
        source="bench",
        kind=InteractionKind.REPLY if role is AuthorRole.AGENCY else InteractionKind.COMMENT,
        message_id=message_id,
        root_id=root,
        parent_id=parent_id,
        author_id=author_id,
        author_role=role,
    )


def _removal(head: tuple[str, str, str], at: datetime, target: str) -> Change:
    agency_id, account_id, root = head
    return Change(
        event_id=f"x:{target}:remove",
        platform=Platform.X,
        agency_id=agency_id,
        account_id=account_id,
        created_at=at,
        source="bench",
        op=ChangeOp.REMOVE,
        target_id=target,
        root_id=root,
    )


def _conversation(ids: _Ids, rng: random.Random, start: datetime, shape: Shape) -> list[Matchable]:
    agency_id, account_id = ids.accounts[rng.randrange(_ACCOUNTS)]
    root = ids.snowflake()
    head = (agency_id, account_id, root)
    authors = [ids.pseudonym() for _ in range(shape.authors)]
    events: list[Matchable] = []
    at = start
    for i in range(shape.questions):
        # The first author asks again a few minutes later (a double question); the others come within hours.
        author = authors[0] if i < shape.questions - shape.authors + 1 else authors[i - shape.questions + shape.authors]
        at += timedelta(minutes=rng.randint(2, 9) if author == authors[0] else rng.randint(10, 240))
        events.append(_interaction(head, at, ids.snowflake(), (author, AuthorRole.CITIZEN), root))
    asked = [e for e in events if isinstance(e, Interaction)]
    latest_of_first = [e for e in asked if e.author_id == authors[0]][-1]
    for _ in range(shape.replies):
        reply_at = latest_of_first.created_at + shape.reply_after + timedelta(seconds=rng.randint(0, 600))
        events.append(
            _interaction(head, reply_at, ids.snowflake(), (account_id, AuthorRole.AGENCY), latest_of_first.message_id)
        )
    for _ in range(shape.removals):
        target = rng.choice(asked)
        events.append(_removal(head, target.created_at + timedelta(minutes=rng.randint(5, 600)), target.message_id))
    return events


def _realistic_shape(rng: random.Random) -> Shape:
    """One conversation of the mix: 60 % one question, 28 % two, 12 % three; 55 % answered, 4 % removed."""
    roll = rng.random()
    questions = 1 if roll < 0.60 else 2 if roll < 0.88 else 3
    # Of several questions, 60 % begin with a double question by the first author; the others, all different.
    authors = 1 if questions == 1 else questions - 1 if rng.random() < 0.6 else questions
    # Reply delays: minutes to hours mostly, 15 % over a day, 3 % over the default lateness (7 days).
    hours = min(rng.lognormvariate(0.7, 1.6), 24 * 7.2) if rng.random() < 0.97 else rng.uniform(24 * 7.1, 24 * 12)
    return Shape(
        questions=questions,
        authors=authors,
        replies=1 if rng.random() < 0.55 else 0,
        removals=1 if rng.random() < 0.04 else 0,
        reply_after=timedelta(hours=hours),
    )


def shaped_conversations(
    count: int, shape: Shape | None = None, seed: int = 7, days: float = 2.0
) -> Iterator[list[Matchable]]:
    """``count`` conversations (their events, in event order), started over ``days`` of event time.

    ``shape`` ``None`` gives the realistic mix; a conversation that the agency notes on (3 % of the mix) also
    gets an agency comment on the post itself, which answers nobody (it waits in the conversation).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible load, not cryptography
    ids = _Ids(rng)
    span = days * 86_400_000
    for _ in range(count):
        start = _START + timedelta(milliseconds=int(rng.random() * span))
        events = _conversation(ids, rng, start, shape or _realistic_shape(rng))
        if shape is None and rng.random() < 0.03:
            first = events[0]
            head = (first.agency_id, first.account_id, first.root_id)
            note = _interaction(head, start, ids.snowflake(), (first.account_id, AuthorRole.AGENCY), first.root_id)
            events.append(note)
        yield sorted(events, key=lambda event: event.created_at)


def realistic_stream(conversations: int, seed: int = 7, days: float = 10.0) -> list[Matchable]:
    """The events of ``conversations`` realistic conversations over ``days`` of event time, in event order."""
    events = [event for conversation in shaped_conversations(conversations, None, seed, days) for event in conversation]
    events.sort(key=lambda event: event.created_at)
    return events


def _no_business(_agency: str, _start: datetime, _end: datetime) -> float:
    return 0.0


def _matcher() -> Matcher:
    return Matcher(business=_no_business)


def bytes_per_conversation(
    conversations: int = 20_000,
    shapes: Sequence[str] | None = None,
    seed: int = 7,
    matcher: Callable[[], Matcher] = _matcher,
) -> dict[str, float]:
    """Bytes the matcher keeps per open conversation, per shape (:data:`SHAPES` names, and ``"mix"``).

    For each shape, ``conversations`` conversations are built and added under ``tracemalloc``; the events are
    dropped, and the traced memory still allocated, divided by the conversations held, is the figure.
    ``shapes`` default: every shape and the mix. ``matcher`` makes the (empty) matcher to measure.
    """
    names = [*SHAPES, "mix"] if shapes is None else list(shapes)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        return {name: _traced_bytes(conversations, SHAPES.get(name), seed, matcher) for name in names}
    finally:
        if started:
            tracemalloc.stop()


def _traced_bytes(conversations: int, shape: Shape | None, seed: int, make: Callable[[], Matcher]) -> float:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    matcher = make()
    for events in shaped_conversations(conversations, shape, seed):
        matcher.add(events)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    return round(kept / max(len(matcher), 1), 1)


def matching_us_per_event(
    conversations: int = 50_000,
    chunk: int = 2_000,
    seed: int = 7,
    limit: int | None = None,
    matcher: Callable[[], Matcher] = _matcher,
) -> dict[str, float]:
    """CPU microseconds per event of :meth:`Matcher.add` and :meth:`Matcher.evict` on the realistic stream.

    The stream spans 10 days of event time (the default lateness is 7), in chunks of ``chunk`` events, each
    decoded from JSON just before it is matched (as the worker does: its events are fresh, in the CPU's caches);
    after each chunk, eviction at the matcher's watermark keeps the chunk's conversations, as the processor
    does (``limit``: its cap). Also returns the events, the facts found, the conversations evicted and left open.
    """
    encoded = [event.model_dump_json().encode() for event in realistic_stream(conversations, seed)]
    chunks = [encoded[i : i + chunk] for i in range(0, len(encoded), chunk)]
    # The worker's collector thresholds, and what the benchmark prepared out of the collector's sight: the
    # worker holds the chunk at hand, not a stream, so collections traverse the matcher's state, not the input.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    try:
        return _timed(chunks, limit, matcher())
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _timed(chunks: list[list[bytes]], limit: int | None, held: Matcher) -> dict[str, float]:
    add_seconds = evict_seconds = 0.0
    events = facts = evicted = 0
    for raw in chunks:
        part = [event for event in map(EVENT_ADAPTER.validate_json, raw) if isinstance(event, Interaction | Change)]
        keep = {conversation_key(event) for event in part}
        started = time.process_time()
        facts += len(held.add(part))
        added = time.process_time()
        evicted += held.evict(held.watermark, keep) if limit is None else held.evict(held.watermark, keep, limit)
        evict_seconds += time.process_time() - added
        add_seconds += added - started
        events += len(part)
    return {
        "events": events,
        "add_us_per_event": round(add_seconds / events * 1e6, 3),
        "evict_us_per_event": round(evict_seconds / events * 1e6, 3),
        "facts": facts,
        "evicted": evicted,
        "open_conversations": len(held),
    }


def bench_data_bytes(
    events: int = 200_000,
    seed: int = 1,
    partitions: int = 12,
    matcher: Callable[[], Matcher] = _matcher,
) -> dict[str, float]:
    """Bytes the matcher keeps on ``serambi bench``'s traffic, per open conversation and per held message.

    The events of the bench's hot path (:mod:`pipeline.bench.data`, same defaults) go through :meth:`Matcher.add`
    40 records at a time, each chunk followed by :meth:`Matcher.evict` at the matcher's watermark that keeps the
    chunk's conversations (as the processor does, without its cap), under ``tracemalloc``. A post there gathers
    many comments, so a conversation holds thousands of bytes; per held message (citizen messages, and ghosts:
    messages named before they were met) is the figure to compare with the realistic mix's. Also returns how many
    conversations and messages are held at the end.
    """
    records = SyntheticEvents(partitions, 500, seed, events=events).batch_records(events)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        held, part = matcher(), []
        for first in range(0, len(records), CHUNK_RECORDS):
            part = [
                event
                for _, value in records[first : first + CHUNK_RECORDS]
                for event in _matchable(decode_record(value).events)
            ]
            held.add(part)
            held.evict(held.watermark, {conversation_key(event) for event in part})
        del part
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        if started:
            tracemalloc.stop()
    conversations, messages = len(held), held.held_messages()
    return {
        "bytes_per_conversation": round(kept / max(conversations, 1), 1),
        "bytes_per_message": round(kept / max(messages, 1), 1),
        "conversations": conversations,
        "messages": messages,
    }


def _matchable(events: Sequence[object]) -> Iterator[HotMatchable]:
    """The interactions and changes of ``events`` (what the matcher takes; posts and reactions are not)."""
    for event in events:
        if getattr(event, "type", None) in ("interaction", "change"):
            yield event  # type: ignore[misc]
