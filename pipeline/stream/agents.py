"""The worker's agents: thin ``async for`` loops over the events and dead-letter topics.

``store-events`` hands each batch to the :class:`pipeline.stream.processor.Processor` and sends what it could
not use to the dead-letter topic; ``store-dead-letters`` stores the dead-letter topic in ClickHouse. An
offset is marked handled only once its rows are stored and its dead letters acknowledged; failed inserts and
sends are retried (:func:`pipeline.stream.retry.retry_forever`), holding the batch, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from pipeline.errors import StoreError
from pipeline.storage.rows import dead_letter_row
from pipeline.stream.decode import DeadLetterRow, Record
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.processor import Inserter, Prepared, Processor
from pipeline.stream.retry import Failing, retry_forever
from schemas.privacy import Pseudonymizer
from schemas.records import make_dead_letter
from schemas.tables import COLUMNS, DEAD_LETTERS
from schemas.topics import DEAD_LETTER, EVENTS

__all__ = ["AgentContext", "add_agents", "mark_handled", "send_acknowledged", "side_batch_seconds"]

log = logging.getLogger(__name__)
# Each insert has a fixed cost (~20 ms in chDB): split only batches big enough to overlap well.
_CHUNK_BYTES = 6 * 1024 * 1024
_DEAD_LETTER_BATCH = 1000
_SIDE_BATCH_SECONDS = 0.2
_LETTER_COLUMNS = COLUMNS[DEAD_LETTERS]
_STORE_CHUNK = "ClickHouse insert of a chunk of events"
_PREPARE_CHUNK = "ClickHouse read of the stored conversations of a chunk"
_STORE_LETTERS = "ClickHouse insert of dead letters"
_SEND_LETTER = "sending a dead letter to Kafka"


@dataclass(frozen=True)
class AgentContext:
    """What the agents work with.

    ``store`` takes the dead-letter rows; ``on_failure`` runs when a batch cannot be handled at all (a bug,
    not an outage), before the agent parks for good; ``batch_records`` / ``batch_seconds`` bound a batch;
    ``failing`` learns what is being retried (an outage), for the stack's health.
    """

    processor: Processor
    store: Inserter
    handled: HandledOffsets
    pseudo: Pseudonymizer
    on_failure: Callable[[], None]
    batch_records: int
    batch_seconds: float
    failing: Failing


def add_agents(app: faust.App, events: Any, dead: Any, context: AgentContext) -> None:
    """Register the worker's two agents on ``app``, reading the ``events`` and ``dead`` topics."""

    @app.agent(events, name="store-events")
    async def store_events(stream: Any) -> None:
        async for batch in stream.take_events(context.batch_records, within=context.batch_seconds):
            try:
                failures = await _pipelined(context.processor, _records(batch), context.failing)
            except Exception:
                log.critical("worker failed while handling a batch; stopping without acking it", exc_info=True)
                context.on_failure()
                await asyncio.Event().wait()  # park: never return to the stream, which would ack the batch
            await _send_dead_letters(dead, context.pseudo, failures, context.failing)
            for failure in failures:  # counted once acknowledged, like the connector's
                context.processor.metrics.dead_letters.labels("worker", failure.error_type).inc()
            mark_handled(context.handled, EVENTS.name, batch)

    @app.agent(dead, name="store-dead-letters")
    async def store_dead_letters(stream: Any) -> None:
        async for batch in stream.take_events(_DEAD_LETTER_BATCH, within=side_batch_seconds(context.batch_seconds)):
            rows = [dead_letter_row(e.value, _timestamp(e)) for e in batch]
            insert = context.store.insert
            await retry_forever(
                asyncio.to_thread,
                insert,
                DEAD_LETTERS,
                _LETTER_COLUMNS,
                rows,
                what=_STORE_LETTERS,
                failing=context.failing,
            )
            context.processor.metrics.sink_last_success.set_to_current_time()
            mark_handled(context.handled, DEAD_LETTER.name, batch)


def side_batch_seconds(batch_seconds: float) -> float:
    """The batch wait of the agents beside the events' one (dead letters, surge counts, alerts): at least 0.2 s.

    ``batch_seconds`` (``SERAMBI_SINK_BATCH_SECONDS``) is short for the events' freshness; those agents' records are
    rare or not what freshness is about, so they need not wake (and insert) as often.
    """
    return max(batch_seconds, _SIDE_BATCH_SECONDS)


async def _pipelined(processor: Processor, records: list[Record], failing: Failing) -> list[DeadLetterRow]:
    # Commit chunk k (ClickHouse, GIL released) while chunk k+1 is prepared (Python). Every commit
    # finishes before we return, so Faust acks (and later commits) only offsets whose rows are stored.
    failures: list[DeadLetterRow] = []
    pending: asyncio.Future[None] | None = None
    for chunk in _chunks(records):
        prepared = await retry_forever(_prepare, processor, chunk, what=_PREPARE_CHUNK, failing=failing)
        if isinstance(prepared, Exception):
            raise prepared
        failures.extend(prepared.failures)
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(_commit(processor, prepared, failing))
    if pending is not None:
        await pending
    return failures


async def _commit(processor: Processor, prepared: Prepared, failing: Failing) -> None:
    await retry_forever(asyncio.to_thread, processor.commit, prepared, what=_STORE_CHUNK, failing=failing)
    processor.count(prepared)  # on the loop, where the surge counts are drained


async def _prepare(processor: Processor, chunk: list[Record]) -> Prepared | Exception:
    # Preparing reads the stored past of conversations: a ClickHouse error there is an outage, retried
    # like an insert (the read comes before any state change, so a retry starts afresh). Any other error
    # is a bug: returned, not raised, so retry_forever hands it back instead of retrying it.
    try:
        return await asyncio.to_thread(processor.prepare, chunk)
    except StoreError:
        raise
    except Exception as exc:
        return exc


async def _send_dead_letters(
    topic: Any, pseudo: Pseudonymizer, failures: list[DeadLetterRow], failing: Failing
) -> None:
    # A record counts as handled only once its dead letters are in Kafka: retry until they are.
    for failure in failures:
        letter = make_dead_letter(pseudo, failure.source, "worker", failure.reason, failure.raw, failure.error_type)
        await retry_forever(
            send_acknowledged, topic, failure.source.encode(), letter, what=_SEND_LETTER, failing=failing
        )


async def send_acknowledged(topic: Any, key: bytes, value: bytes) -> None:
    """Send one record and wait for the broker's acknowledgement (not only until it is queued)."""
    await (await topic.send(key=key, value=value))


def _chunks(records: list[Record]) -> list[list[Record]]:
    chunks: list[list[Record]] = [[]]
    size = 0
    for record in records:
        if size >= _CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += len(record.value)
    return chunks


def _records(batch: Sequence[Any]) -> list[Record]:
    return [Record(e.message.partition, e.message.offset, e.value, int(e.message.timestamp * 1000)) for e in batch]


def _timestamp(event: Any) -> datetime:
    return datetime.fromtimestamp(event.message.timestamp or 0, UTC)


def mark_handled(handled: HandledOffsets, topic: str, batch: Sequence[Any]) -> None:
    """Mark every event of a Faust batch handled (its effects are complete)."""
    for event in batch:
        handled.mark(topic, event.message.partition, event.message.offset)
