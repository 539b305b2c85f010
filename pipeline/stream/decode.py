"""Decoding: batch records from the events topic become raw-table rows, interactions and dead letters.

Pure and framework-free: :func:`decode` takes :class:`Record` s and returns the JSONEachRow line of every
valid event (grouped by raw table), the interactions among them for the matcher, and a
:class:`DeadLetterRow` for everything that cannot be stored. It is the hot path of the worker, so it does
as little per event as it can: one validation, one privacy check, one serialisation, all but the privacy check in
C (msgspec, :mod:`schemas.fastdecode`). Events are read by attribute and told apart by ``type``: they are msgspec
Structs, or pydantic models for a record msgspec left to pydantic.

Each interaction row also carries where it was read (``kafka_partition``) and the needs-a-reply verdict of a
citizen's message (:func:`pipeline.domain.needs_reply.classify`: ``needs_reply``, ``needs_reply_reason``,
``language``; agency rows: false with no reason or language), appended to the event's JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pipeline.domain.needs_reply import Verdict, classify
from schemas.errors import RecordError
from schemas.events import AuthorRole, ChangeOp
from schemas.fastdecode import HotEvent, HotMatchable, event_dict, event_json
from schemas.privacy import PREFIX
from schemas.records import POISON, CursorMark, decode_record, poison_reason
from schemas.tables import INTERACTIONS, KAFKA_PARTITION, LANGUAGE, NEEDS_REPLY, NEEDS_REPLY_REASON, TABLE_OF_EVENT
from schemas.timeutil import EventBounds

__all__ = ["Accepted", "DeadLetterRow", "Decoded", "Record", "decode", "verdict_json"]

IsAgencyAccount = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record of the events topic, as the worker sees it."""

    partition: int
    offset: int
    value: bytes
    timestamp_ms: int = 0

    @property
    def where(self) -> str:
        """Where the record is, as a dead letter's ``source``: ``worker:events/p<partition>@<offset>``."""
        return f"worker:events/p{self.partition}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Accepted:
    """The event times the worker stores, fixed for one :func:`decode` call: ``bounds`` at the clock's ``now``.

    Two comparisons per event on the hot path; the reason is written only for an event refused.
    """

    bounds: EventBounds
    now: datetime
    earliest: datetime = field(init=False)
    latest: datetime = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "earliest", self.bounds.earliest)
        object.__setattr__(self, "latest", self.bounds.latest(self.now))

    def reason(self, event: HotEvent) -> str:
        """Why ``event`` is outside the window (only called for one that is)."""
        return self.bounds.reason(event.created_at, self.now) or "created_at is out of range"


@dataclass(frozen=True)
class DeadLetterRow:
    """A failed input the worker found; the agent sends it to the dead-letter topic."""

    error_type: str
    reason: str
    raw: Any
    source: str


@dataclass(frozen=True)
class Decoded:
    """What :func:`decode` made of some records.

    ``rows``: JSONEachRow lines per raw table (every raw table is a key); ``interactions``: the valid interactions
    and removals (what the matcher takes), in record order; ``failures``: what could not be stored; ``latest``: per
    partition, the latest interaction time not after the ceiling; ``kinds``: the valid events per (kind, platform),
    kind being an interaction's kind or the event type of the others (counted here, where each event is at hand).
    """

    rows: dict[str, list[bytes]]
    interactions: list[HotMatchable]
    failures: list[DeadLetterRow]
    latest: dict[int, datetime]
    kinds: dict[tuple[str, str], int] = field(default_factory=dict)
    cursors: list[CursorMark] = field(default_factory=list)

    @classmethod
    def poison(cls, record: Record, exc: BaseException) -> Decoded:
        """Nothing stored from ``record``: one :data:`schemas.records.POISON` failure saying what it raised."""
        failure = DeadLetterRow(POISON, poison_reason(exc), record.value, record.where)
        return cls({table: [] for table in TABLE_OF_EVENT.values()}, [], [failure], {}, {})

    def then(self, later: Decoded) -> Decoded:
        """Both results in record order: ``later`` is what the records after these gave."""
        rows = {table: lines + later.rows.get(table, []) for table, lines in self.rows.items()}
        latest = dict(self.latest)
        for partition, moment in later.latest.items():
            latest[partition] = max(moment, latest.get(partition, moment))
        kinds = dict(self.kinds)
        for key, count in later.kinds.items():
            kinds[key] = kinds.get(key, 0) + count
        interactions, failures = self.interactions + later.interactions, self.failures + later.failures
        return Decoded(rows, interactions, failures, latest, kinds, self.cursors + later.cursors)


def decode(
    records: Iterable[Record],
    *,
    ceiling: datetime,
    is_agency_account: IsAgencyAccount,
    accepted: Accepted | None = None,
) -> Decoded:
    """Rows of every valid event in ``records``; a failure for everything else.

    ``ceiling`` bounds ``latest``: an interaction stamped after it (a clock from the future) is stored and
    matched, but must not move the watermarks that decide eviction. ``is_agency_account(platform, id)``
    says which ids may stay in clear (agencies' own accounts); every other person id must be a pseudonym.
    ``accepted`` (default: only the schema's bounds) is the worker's :class:`Accepted` window: an event outside
    it is an ``out_of_range`` failure, whoever produced it (the publisher checks the same bounds, but a record
    may come from any producer, or have waited on the topic while the bounds changed).
    """
    rows: dict[str, list[bytes]] = {table: [] for table in TABLE_OF_EVENT.values()}
    failures: list[DeadLetterRow] = []
    interactions: list[HotMatchable] = []
    latest: dict[int, datetime] = {}
    kinds: dict[tuple[str, str], int] = {}
    cursors: list[CursorMark] = []
    for record in records:
        try:
            events, bad, mark, cursor_error = decode_record(record.value)
        except RecordError as exc:
            failures.append(DeadLetterRow("undecodable", str(exc), record.value, record.where))
            continue
        except Exception as exc:  # a poison record costs itself, never the worker
            failures.append(DeadLetterRow(POISON, poison_reason(exc), record.value, record.where))
            continue
        failures.extend(DeadLetterRow(f.error_type, f.reason, f.raw, record.where) for f in bad)
        if cursor_error is not None:  # the events are stored; without its cursor the connector fetches the page again
            failures.append(DeadLetterRow("undecodable", cursor_error, record.value, record.where))
        if mark is not None:
            cursors.append(mark)
        first = len(interactions)
        # Where the record was read, on each interaction row (one JSON object: its closing brace is replaced).
        where = b',"' + KAFKA_PARTITION.encode() + b'":%d' % record.partition
        for event in events:
            if accepted is not None and not accepted.earliest <= event.created_at <= accepted.latest:
                raw = event_dict(event)
                failures.append(DeadLetterRow("out_of_range", accepted.reason(event), raw, record.where))
                continue
            if _clear_citizen(event, is_agency_account):
                raw = event_dict(event)
                failures.append(DeadLetterRow("not_pseudonymised", _CLEAR_REASON, raw, record.where))
                continue
            line = event_json(event)
            if event.type == "interaction":
                citizen = event.author_role is AuthorRole.CITIZEN
                tail = verdict_json(classify(event.text)) if citizen else _AGENCY_TAIL
                rows[INTERACTIONS].append(line[:-1] + where + tail)
                interactions.append(event)
                key: tuple[str, str] = (event.kind, event.platform)
            else:
                rows[TABLE_OF_EVENT[event.type]].append(line)
                if event.type == "change" and event.op is ChangeOp.REMOVE:
                    interactions.append(event)
                key = (event.type, event.platform)
            kinds[key] = kinds.get(key, 0) + 1
        _track_latest(latest, record.partition, interactions[first:], ceiling)
    # Counted by enum member (``.value`` is a slow property, per event): the keys become plain text once, here.
    plain = {(str(kind), str(platform)): count for (kind, platform), count in kinds.items()}
    return Decoded(rows, interactions, failures, latest, plain, cursors)


def verdict_json(verdict: Verdict) -> bytes:
    """The verdict's columns as the end of an interaction's JSON object: ``,"needs_reply":...,"language":"ms"}``.

    Kept per verdict (there are few: reasons come from the lexicons), so a message costs one dictionary lookup.
    """
    tail = _TAILS.get(verdict)
    if tail is None:
        if len(_TAILS) >= _TAILS_LIMIT:  # cannot happen with the lexicons' reasons; bounded all the same
            _TAILS.clear()
        tail = _TAILS[verdict] = _tail(verdict.needs_reply, verdict.reason, verdict.language)
    return tail


def _tail(needs_reply: bool, reason: str, language: str) -> bytes:
    # orjson escapes the reason (quotes, backslashes, control characters); the keys are plain column names.
    fields = {NEEDS_REPLY: needs_reply, NEEDS_REPLY_REASON: reason, LANGUAGE: language}
    return b"," + orjson.dumps(fields)[1:]


_TAILS: dict[Verdict, bytes] = {}
_TAILS_LIMIT = 10_000
# Agency-authored (and other agencies') interactions ask nothing of the agency: never counted as needing a reply.
_AGENCY_TAIL = _tail(False, "", "")


def _track_latest(latest: dict[int, datetime], partition: int, events: list[HotMatchable], ceiling: datetime) -> None:
    times = [e.created_at for e in events if e.created_at <= ceiling]
    if times:
        newest = max(times)
        if partition not in latest or newest > latest[partition]:
            latest[partition] = newest


_CLEAR_REASON = (
    "a citizen id (author_id, parent_author_id, reaction or change author) is not a pseudonym: "
    "the producer must use connectors.core.publisher.Publisher"
)


def _clear_citizen(event: HotEvent, is_agency_account: IsAgencyAccount) -> bool:
    # Defence in depth: a producer that bypassed the Publisher must not put citizen ids in ClickHouse.
    if event.type == "interaction":
        if event.author_role is AuthorRole.CITIZEN and not event.author_id.startswith(PREFIX):
            return True
        person = event.parent_author_id
    elif event.type == "post":
        return False
    else:  # a reaction or a change
        person = event.author_id
    return person is not None and not person.startswith(PREFIX) and not is_agency_account(event.platform, person)
