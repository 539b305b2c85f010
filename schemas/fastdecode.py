"""The worker's hot path: msgspec twins of the canonical events, decoded, validated and encoded in C.

:mod:`schemas.events` (pydantic) stays the definition of the events: their JSON Schema, every producer, and the
precise error messages of dead letters. Validating each event with it costs the worker more than anything else
per event, so :func:`decode_batch` reads a whole batch record into the msgspec Structs below instead, which have
the same fields, the same constraints, the same enums and the same values (``created_at`` in UTC, whole
milliseconds, :data:`~schemas.timeutil.EARLIEST_EVENT` <= t < :data:`~schemas.timeutil.LATEST_EVENT`).

The contract, tested by a property test against pydantic: an event these Structs accept, pydantic accepts, with
equal field values; an event pydantic refuses, they refuse. They also refuse the rare spellings that pydantic's
*lax* mode coerces (``"count": "1"``, ``true`` for ``1``, times without seconds, epoch seconds or a comma in text,
``_`` between date and time): :func:`schemas.records.decode_record` then decodes the record with pydantic, as it
did before, so every record gives exactly the events, failures and cursor it gave before.

Consumers use the attributes only, never ``isinstance`` of the pydantic classes: ``type`` tells events apart.
:func:`event_json` gives the row line of either kind and :func:`event_dict` its ``model_dump(mode="json")``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import Meta

from schemas.events import (
    EVENT_ADAPTER,
    MAX_TEXT_CHARS,
    AuthorRole,
    Change,
    ChangeOp,
    Event,
    Interaction,
    InteractionKind,
    Platform,
    ReactionMode,
)
from schemas.timeutil import EARLIEST_EVENT, LATEST_EVENT, event_time

__all__ = [
    "FastBatch",
    "FastChange",
    "FastEvent",
    "FastInteraction",
    "FastPost",
    "FastReaction",
    "HotEvent",
    "HotMatchable",
    "decode_batch",
    "event_dict",
    "event_json",
    "needs_pydantic",
]

_FIRST_YEAR: Final = EARLIEST_EVENT.year
_END_YEAR: Final = LATEST_EVENT.year
_MAX_COUNT: Final = 2**64 - 1
_NULL: Final = b"null"
# msgspec rounds a fraction past microseconds where pydantic truncates it (".0009999" is 1 ms for msgspec, 0 ms
# for pydantic once cut to milliseconds); escaped characters could spell such a fraction out of sight. Records
# with either take the pydantic path: canonical producers write neither (times have at most 6 digits).
_LONG_FRACTION: Final = re.compile(rb"\.[0-9]{7}")
_ESCAPED_DIGIT: Final = re.compile(rb"\\u00[23]")  # also "." and the rest of U+0020..U+003F
# The pattern of schemas.events._EventBase.event_id; the names of the platforms match it (the common case).
_EVENT_ID: Final = re.compile(r"^[a-z]+:.+")
_PLATFORMS: Final = frozenset(p.value for p in Platform)

_Text = Annotated[str, Meta(max_length=MAX_TEXT_CHARS)]
_Id = Annotated[str, Meta(min_length=1)]


class _Base(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", gc=False):
    # gc=False: an event holds only strings, enum members, ints, a datetime and a tuple of strings, so it can be
    # part of no reference cycle; untracked, the ~100k events/s the worker decodes cost the cyclic GC nothing.
    schema_version: Literal[1, 2] = 2
    event_id: Annotated[str, Meta(min_length=3, max_length=512)]  # and _EVENT_ID, checked in __post_init__
    platform: Platform
    agency_id: Annotated[str, Meta(min_length=1, max_length=64)]
    account_id: Annotated[str, Meta(min_length=1, max_length=256)]
    created_at: datetime
    source: Annotated[str, Meta(max_length=64)] = "unknown"

    def __post_init__(self) -> None:
        # The event id's pattern: a msgspec ``pattern`` costs a regex search per event (~40 % of the decoding);
        # the common case, a platform name before the colon, is a set lookup. ``.`` is any character but "\n".
        head, _, rest = self.event_id.partition(":")
        if head not in _PLATFORMS or not rest or rest[0] == "\n":
            _check_event_id(self.event_id)
        # What schemas.events._EventBase._to_utc does, with its common case first: msgspec reads "Z" and
        # "+00:00" as the timezone.utc singleton, so one identity test stands for "aware, offset zero".
        at = self.created_at
        if at.tzinfo is UTC and not at.microsecond % 1000 and _FIRST_YEAR <= at.year < _END_YEAR:
            return
        msgspec.structs.force_setattr(self, "created_at", _to_utc(at))


def _check_event_id(event_id: str) -> None:
    if _EVENT_ID.search(event_id) is None:
        msg = f"event_id must match {_EVENT_ID.pattern!r}"
        raise ValueError(msg)


def _to_utc(at: datetime) -> datetime:
    # ValueError (msgspec makes it a ValidationError) for a naive time or one out of range, never OverflowError.
    utc = event_time(at)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


class FastPost(_Base, frozen=True, kw_only=True, tag="post"):
    """:class:`schemas.events.Post` on the hot path."""

    type: ClassVar[Literal["post"]] = "post"
    post_id: _Id
    text: _Text | None = None
    links: tuple[str, ...] = ()


class FastInteraction(_Base, frozen=True, kw_only=True, tag="interaction"):
    """:class:`schemas.events.Interaction` on the hot path."""

    type: ClassVar[Literal["interaction"]] = "interaction"
    kind: InteractionKind
    message_id: _Id
    root_id: _Id
    parent_id: str | None = None
    author_id: _Id
    author_role: AuthorRole
    parent_author_id: str | None = None
    text: _Text | None = None
    links: tuple[str, ...] = ()


class FastReaction(_Base, frozen=True, kw_only=True, tag="reaction"):
    """:class:`schemas.events.Reaction` on the hot path."""

    type: ClassVar[Literal["reaction"]] = "reaction"
    mode: ReactionMode = ReactionMode.EVENT
    target_id: _Id
    root_id: _Id
    reaction_type: Annotated[str, Meta(min_length=1, max_length=32)]
    count: Annotated[int, Meta(ge=0)] = 1
    author_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.count > _MAX_COUNT:  # msgspec bounds stop at int64: ClickHouse's UInt64 goes to 2**64 - 1
            msg = f"count must be at most {_MAX_COUNT}"
            raise ValueError(msg)


class FastChange(_Base, frozen=True, kw_only=True, tag="change"):
    """:class:`schemas.events.Change` on the hot path."""

    type: ClassVar[Literal["change"]] = "change"
    schema_version: Literal[2] = 2
    op: ChangeOp
    target_id: _Id
    root_id: _Id
    author_id: str | None = None
    author_role: AuthorRole | None = None
    text: _Text | None = None


FastEvent = FastPost | FastInteraction | FastReaction | FastChange
"""Any event decoded on the hot path."""
HotEvent = Event | FastEvent
"""An event as the worker's consumers see it: a pydantic model or its msgspec twin (same attributes)."""
HotMatchable = Interaction | Change | FastInteraction | FastChange
"""What the matcher takes, of either kind: interactions and changes."""


class FastBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """:class:`schemas.records.EventBatch` on the hot path.

    ``cursor`` is kept as its JSON text: :func:`schemas.records.decode_record` validates it with
    :class:`schemas.records.CursorMark` (one per record, so no hot path), whose lax time parsing msgspec lacks.
    """

    events: list[FastEvent]
    format: Literal["serambi.batch/1"] = "serambi.batch/1"
    cursor: msgspec.Raw = msgspec.Raw(_NULL)

    @property
    def cursor_json(self) -> bytes | None:
        """The cursor's JSON text; ``None`` when the record has none (absent, or ``null``)."""
        raw = bytes(self.cursor)
        return None if raw == _NULL else raw


_DECODER: Final = msgspec.json.Decoder(FastBatch)
_ENCODER: Final = msgspec.json.Encoder()


def needs_pydantic(value: bytes) -> bool:
    """True when ``value`` may spell a time msgspec reads otherwise than pydantic (7+ fraction digits, escapes).

    msgspec rounds such a fraction where pydantic truncates it; escaped characters could spell one out of sight.
    """
    # Two searches with a literal prefix each: an alternation of both costs ~8x more (no prefix to skip by).
    return _LONG_FRACTION.search(value) is not None or (b"\\" in value and _ESCAPED_DIGIT.search(value) is not None)


def decode_batch(value: bytes) -> FastBatch:
    """The batch record ``value`` with every event valid; ``ValueError`` saying why it is not.

    Refused as well: what pydantic accepts only in lax mode, and records whose times may have more than 6
    fractional digits. The caller then decodes the record with pydantic (:func:`schemas.records.decode_record`).
    """
    if needs_pydantic(value):
        msg = "a fraction of more than 6 digits, or an escaped digit or dot: for pydantic to decide"
        raise ValueError(msg)
    try:
        return _DECODER.decode(value)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise ValueError(str(exc)) from exc


def event_json(event: HotEvent) -> bytes:
    """The event as one JSON object: its raw table's JSONEachRow line (the field names are the columns).

    Both kinds give the same column values (the keys may come in another order).
    """
    if isinstance(event, _Base):
        return _ENCODER.encode(event)
    return event.__pydantic_serializer__.to_json(event)


def event_dict(event: HotEvent) -> dict[str, Any]:
    """The event as JSON-ready builtins: ``model_dump(mode="json")`` of the pydantic model it stands for."""
    if isinstance(event, _Base):
        # Through the pydantic model (dead letters only: no hot path), so the keys come in the model's order: a
        # dead letter's id hashes its raw text, and the same event must give the same id whichever path decoded
        # it, or a replay would store a second dead letter.
        line = _ENCODER.encode(event)
        try:
            return EVENT_ADAPTER.validate_json(line).model_dump(mode="json")
        except ValueError:  # cannot happen for an event msgspec accepted; the content matters more than order
            data: dict[str, Any] = msgspec.json.decode(line)
            return data
    return event.model_dump(mode="json")
