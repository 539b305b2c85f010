"""Wire format of the Kafka topics: batch records of events (with a connector's cursor), and dead letters.

One Kafka record on the events topic carries a *batch* of canonical events bound for the same
partition (JSON ``{"format": "serambi.batch/1", "events": [...]}``), because a Faust worker pays
~160 us per record: batching many events per record is what makes tens of thousands of events/s
possible. Every event in a batch is validated on its own, so one bad event never costs its neighbours.

A polling or streaming connector's page also carries its :class:`CursorMark`: the cursor after the page, split
in ``parts`` (one per record the page needed). The worker stores each part in the same write as the events of its
record, so a cursor whose parts are all stored stands for a page whose events are all stored: the connector
resumes from there, and nothing it fetched before is lost, whatever crashed (see ``serambi connect``).

The worker decodes a record with :func:`decode_record`: msgspec first (:mod:`schemas.fastdecode`, ~3x faster), and
pydantic when msgspec refuses anything in the record, which gives exactly the same events, and the precise reason
of every failure.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NamedTuple

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas import fastdecode
from schemas.errors import RecordError
from schemas.events import EVENT_ADAPTER, Event, TaggedEvent
from schemas.fastdecode import HotEvent
from schemas.privacy import Pseudonymizer

__all__ = [
    "BATCH_FORMAT",
    "POISON",
    "CursorMark",
    "DeadLetter",
    "DecodedRecord",
    "EventBatch",
    "EventFailure",
    "decode_batch",
    "decode_record",
    "encode_batch",
    "make_dead_letter",
    "poison_reason",
    "validation_reason",
]

# Dead letters keep at most this much of the failed input (scrubbed); the original stays at its source.
_RAW_LIMIT = 64 * 1024
BATCH_FORMAT: Final = "serambi.batch/1"
POISON: Final = "poison"
"""``error_type`` of an input that failed for an unexpected reason (a bug, or a case validation missed)."""


class CursorMark(BaseModel):
    """One part of the cursor a connector reached after a page (stored with the events of its record).

    Args:
        source: the connector, e.g. ``poll:youtube``.
        account: what the cursor is of, e.g. ``youtube:UC...`` (or ``*`` for a stream of every account).
        seq: the page's number, increasing per source and account (nanoseconds of the publishing clock).
        part: this record's part of the page, ``0 <= part < parts``.
        parts: how many records the page was sent in (every part stored = the whole page stored).
        state: the cursor, JSON text, as the connector's ``snapshot()`` gave it.
        fetched_at: when the page was fetched.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Annotated[str, Field(min_length=1, max_length=64)]
    account: Annotated[str, Field(min_length=1, max_length=512)]
    seq: Annotated[int, Field(ge=0)]
    part: Annotated[int, Field(ge=0)]
    parts: Annotated[int, Field(ge=1)]
    state: Annotated[str, Field(max_length=256 * 1024)]
    fetched_at: AwareDatetime

    @model_validator(mode="after")
    def _part_in_range(self) -> CursorMark:
        if self.part >= self.parts:
            msg = f"part {self.part} of {self.parts}: a part is below the number of parts"
            raise ValueError(msg)
        return self


class EventBatch(BaseModel):
    """Value of one record on the events topic: events that share a partition, in order, and maybe a cursor.

    A record without events carries a cursor (a page that found nothing new still moves its connector on).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["serambi.batch/1"] = BATCH_FORMAT
    events: tuple[TaggedEvent, ...]
    cursor: CursorMark | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> EventBatch:
        if not self.events and self.cursor is None:
            msg = "a batch without a cursor has at least one event"
            raise ValueError(msg)
        return self


class DeadLetter(BaseModel):
    """Value of one record on the dead-letter topic: what failed, why, where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: Annotated[str, Field(max_length=128)]
    stage: Literal["connector", "worker"]
    error_type: str
    reason: str
    raw: str
    received_at: AwareDatetime

    @staticmethod
    def make_id(source: str, raw: str, reason: str) -> str:
        """Deterministic id, so a redelivered dead letter is stored once."""
        digest = hashlib.sha256(f"{source}\x00{reason}\x00{raw}".encode()).hexdigest()
        return digest[:32]


class EventFailure(NamedTuple):
    """One event of a batch that cannot be used: why, the event as read, and the dead letter's ``error_type``."""

    reason: str
    raw: Any
    error_type: str = "schema"


def encode_batch(events: list[Event], cursor: CursorMark | None = None) -> bytes:
    """Serialise events (already validated), and a connector's cursor part, into one batch record value."""
    payload: dict[str, Any] = {"format": BATCH_FORMAT, "events": [e.model_dump(mode="json") for e in events]}
    if cursor is not None:
        payload["cursor"] = cursor.model_dump(mode="json")
    return orjson.dumps(payload)


def validation_reason(exc: ValidationError) -> str:
    """A short readable reason from a pydantic error: ``field: message; ...``."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def poison_reason(exc: BaseException) -> str:
    """The reason of a poison dead letter: the exception's type and message, e.g. ``OverflowError: ...``."""
    return f"{type(exc).__name__}: {exc}"[:1000]


class DecodedRecord(NamedTuple):
    """One batch record decoded: its valid events, its failed ones, and the connector cursor part it carries.

    ``events`` are pydantic models or their msgspec twins (:data:`schemas.fastdecode.HotEvent`: same attributes).
    ``cursor_error`` says why a cursor the record names is not valid (its events are unaffected: without the
    cursor the connector fetches the page again).
    """

    events: list[HotEvent]
    failures: list[EventFailure]
    cursor: CursorMark | None = None
    cursor_error: str | None = None


def decode_batch(value: bytes) -> tuple[list[Event], list[EventFailure]]:
    """The valid events of one batch record as pydantic models, and the failed ones (no cursor).

    For tools and tests, which compare them with the models producers made; the worker uses :func:`decode_record`.
    """
    events, failures, _cursor_mark, _cursor_error = _decode_models(value)
    return events, failures


def decode_record(value: bytes) -> DecodedRecord:
    """Decode one batch record into valid events, :class:`EventFailure` s and its cursor, never raising for one event.

    An event that fails validation is a ``schema`` failure; one that raises anything else (validation missed
    a case) is a :data:`POISON` failure with the exception as its reason. Raises :class:`RecordError` when the
    record as a whole is unreadable (not JSON, wrong format). The events are msgspec Structs when msgspec takes
    the whole record (what connectors send), else the pydantic models: the same values either way.
    """
    fast = _decode_fast(value)
    if fast is not None:
        return fast
    events, failures, cursor, cursor_error = _decode_models(value)
    return DecodedRecord(list(events), failures, cursor, cursor_error)


def _decode_fast(value: bytes) -> DecodedRecord | None:
    """The record as msgspec decodes it; ``None`` when anything in it is for pydantic to decide."""
    try:
        batch = fastdecode.decode_batch(value)
        raw_cursor = batch.cursor_json
        cursor = None if raw_cursor is None else CursorMark.model_validate_json(raw_cursor)
    except Exception:  # whatever msgspec refuses or raises: pydantic gives the same results, and the reasons
        return None
    if not batch.events and cursor is None:  # not an EventBatch: pydantic's path says what it is
        return None
    return DecodedRecord(list(batch.events), [], cursor)


def _decode_models(value: bytes) -> tuple[list[Event], list[EventFailure], CursorMark | None, str | None]:
    # The pydantic path: the definition of the results, and the reason of every failure.
    try:
        batch = EventBatch.model_validate_json(value)
        return list(batch.events), [], batch.cursor, None
    except Exception:  # noqa: S110 - not JSON, not a batch, bad or poison events: found out below, event by event
        pass
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        msg = f"record is not JSON: {exc}"
        raise RecordError(msg) from exc
    if not isinstance(payload, dict) or payload.get("format") != BATCH_FORMAT:
        msg = f"record is not a {BATCH_FORMAT} batch (missing or wrong 'format')"
        raise RecordError(msg)
    raw_events = payload.get("events")
    if not isinstance(raw_events, list):
        msg = "batch has no 'events' list"
        raise RecordError(msg)
    good: list[Event] = []
    bad: list[EventFailure] = []
    for raw in raw_events:
        try:
            good.append(EVENT_ADAPTER.validate_python(raw))
        except ValidationError as exc:
            bad.append(EventFailure(validation_reason(exc), raw))
        except Exception as exc:  # one poison event must cost neither its neighbours nor the worker
            bad.append(EventFailure(poison_reason(exc), raw, POISON))
    cursor, cursor_error = _cursor(payload.get("cursor"))
    return good, bad, cursor, cursor_error


def _cursor(raw: Any) -> tuple[CursorMark | None, str | None]:
    if raw is None:
        return None, None
    try:
        return CursorMark.model_validate(raw), None
    except ValidationError as exc:
        return None, f"the record's cursor is not valid: {validation_reason(exc)}"


def make_dead_letter(  # noqa: PLR0913 - the whole dead letter, keyword-free for brevity
    pseudo: Pseudonymizer, source: str, stage: Literal["connector", "worker"], reason: str, raw: Any, error_type: str
) -> bytes:
    """Encode a dead letter; citizen ids in ``raw`` are pseudonymised or masked first."""
    if isinstance(raw, str | bytes):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        scrubbed = pseudo.mask_text(text[:_RAW_LIMIT])
    else:
        scrubbed = orjson.dumps(pseudo.scrub(raw), default=str).decode()[:_RAW_LIMIT]
    reason = pseudo.mask_text(reason)
    letter = DeadLetter(
        id=DeadLetter.make_id(source, scrubbed, reason),
        source=source,
        stage=stage,
        error_type=error_type,
        reason=reason,
        raw=scrubbed,
        received_at=datetime.now(UTC),
    )
    return orjson.dumps(letter.model_dump(mode="json"))
