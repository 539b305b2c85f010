"""Rows for ClickHouse: how events, facts, dead letters and agencies become JSONEachRow insert lines.

Inserts travel as JSONEachRow, parsed by ClickHouse itself: measured here ~7x faster than
clickhouse-connect's Python-side Native encoding, on chDB and over HTTP alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from pipeline.domain.matching import ResponseFact
from schemas.agency import Agency
from schemas.events import Event
from schemas.privacy import Pseudonymizer
from schemas.records import CursorMark, DeadLetter

__all__ = ["agency_row", "cursor_row", "dead_letter_row", "encode_rows", "event_json", "fact_row"]

# Facts are upserts in a ReplacingMergeTree: the highest version wins, and it grows as answered_at shrinks.
_VERSION_BASE_MS = 2**62


def encode_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as JSONEachRow, the insert format of :meth:`Store.insert_encoded`."""
    return b"\n".join(orjson.dumps(dict(zip(columns, row, strict=True))) for row in rows)


def fact_row(fact: ResponseFact) -> tuple[Any, ...]:
    """The ``response_facts`` row; the version grows as answered_at shrinks (earliest reply wins)."""
    version = _VERSION_BASE_MS - int(fact.answered_at.timestamp() * 1000)
    return (
        fact.message_id,
        fact.platform,
        fact.agency_id,
        fact.account_id,
        fact.root_id,
        fact.citizen_id,
        fact.kind,
        fact.asked_at,
        fact.answered_at,
        fact.reply_id,
        fact.response_seconds,
        fact.business_seconds,
        version,
        fact.closed_by,
    )


def cursor_row(mark: CursorMark) -> tuple[Any, ...]:
    """The ``source_cursors`` row of a cursor part."""
    return (mark.source, mark.account, mark.seq, mark.part, mark.parts, mark.state, mark.fetched_at)


def event_json(event: Event) -> bytes:
    """The event as one JSONEachRow line of its raw table (field names are the column names)."""
    return event.__pydantic_serializer__.to_json(event)


def dead_letter_row(value: bytes, received_at: datetime) -> tuple[Any, ...]:
    """The dead_letters row of a record from the dead-letter topic (kept even when malformed)."""
    try:
        letter = DeadLetter.model_validate(orjson.loads(value))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raw = Pseudonymizer.mask_text(value.decode("utf-8", "replace"))
        reason = f"malformed dead letter: {str(exc).splitlines()[0]}"
        row_id = DeadLetter.make_id("worker:deadletter", raw, reason)
        return (row_id, "worker:deadletter", "worker", "bad_dead_letter", reason, raw, received_at)
    return (letter.id, letter.source, letter.stage, letter.error_type, letter.reason, letter.raw, letter.received_at)


def agency_row(agency: Agency) -> tuple[object, ...]:
    """The ``agencies`` table row of an agency (its full definition as JSON)."""
    return (
        agency.id,
        agency.name,
        agency.tier,
        agency.timezone,
        agency.sla_hours,
        list(agency.official_domains),
        agency.model_dump_json(),
        datetime.now(UTC),
    )
