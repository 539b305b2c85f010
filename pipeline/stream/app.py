"""The Faust worker: builds the app and its thin agents around :class:`pipeline.stream.decode.RawSink`."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import faust

from pipeline.settings import Settings
from pipeline.storage.rows import dead_letter_row
from pipeline.storage.store import Store
from pipeline.stream.decode import DeadLetterRow, Record
from pipeline.stream.fetchwait import set_fetch_wait_ms
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.processor import Processor
from schemas.privacy import Pseudonymizer
from schemas.records import make_dead_letter
from schemas.tables import COLUMNS
from schemas.topics import DEAD_LETTER, EVENTS

__all__ = ["WORKER_GROUP", "build_app", "exit_without_commit"]

WORKER_GROUP = "serambi-sink"

log = logging.getLogger(__name__)
T = TypeVar("T")
_CHUNK_BYTES = 6 * 1024 * 1024
_RETRY_MAX_SECONDS = 30.0


def build_app(  # noqa: PLR0913 - the worker's whole context
    settings: Settings,
    bootstrap_servers: str,
    web_port: int,
    processor: Processor,
    store: Store,
    handled: HandledOffsets,
    on_failure: Callable[[], None] | None = None,
) -> faust.App:
    """A Faust app that stores raw events and dead letters in ClickHouse.

    An offset is marked handled only once its rows are stored and its dead letters acknowledged.
    """
    fail = on_failure or exit_without_commit
    set_fetch_wait_ms(settings.worker_fetch_wait_ms)
    app = faust.App(
        WORKER_GROUP,
        broker=[f"kafka://{server}" for server in bootstrap_servers.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        web_host="127.0.0.1",
        web_port=web_port,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
        # Faust joins in ~3 s with these instead of ~30 s with its defaults.
        broker_rebalance_timeout=5,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
    )
    events = app.topic(EVENTS.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    dead = app.topic(DEAD_LETTER.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    pseudo = Pseudonymizer(settings.pseudonym_key)

    @app.agent(events, name="store-events")
    async def store_events(stream: Any) -> None:
        async for batch in stream.take_events(settings.sink_batch_records, within=settings.sink_batch_seconds):
            try:
                failures = await _pipelined(processor, _records(batch))
            except Exception:
                log.critical("worker failed while handling a batch; stopping without acking it", exc_info=True)
                fail()
                await asyncio.Event().wait()  # park: never return to the stream, which would ack the batch
            for failure in failures:
                await _send_retrying(dead, failure.source.encode(), _letter(pseudo, failure))
            _mark(handled, EVENTS.name, batch)

    @app.agent(dead, name="store-dead-letters")
    async def store_dead_letters(stream: Any) -> None:
        async for batch in stream.take_events(1000, within=settings.sink_batch_seconds):
            rows = [dead_letter_row(e.value, _timestamp(e)) for e in batch]
            await _with_retry(store.insert, "dead_letters", COLUMNS["dead_letters"], rows)
            _mark(handled, DEAD_LETTER.name, batch)

    return app


async def _pipelined(processor: Processor, records: list[Record]) -> list[DeadLetterRow]:
    # Commit chunk k (ClickHouse, GIL released) while chunk k+1 is prepared (Python). Every commit
    # finishes before we return, so Faust acks (and later commits) only offsets whose rows are stored.
    failures: list[DeadLetterRow] = []
    pending: asyncio.Future[None] | None = None
    for chunk in _chunks(records):
        prepared = await asyncio.to_thread(processor.prepare, chunk)
        failures.extend(prepared.failures)
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(_with_retry(processor.commit, prepared))
    if pending is not None:
        await pending
    return failures


async def _send_retrying(topic: Any, key: bytes, value: bytes) -> None:
    # A dead letter must reach Kafka before its record counts as handled: retry until it does.
    delay = 0.5
    while True:
        try:
            await (await topic.send(key=key, value=value))
        except Exception:
            log.exception("cannot send a dead letter; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
        else:
            return


def exit_without_commit() -> NoReturn:
    """Default failure action with an external Kafka: leave now, so no offset past the batch is committed.

    A restart replays the batch and rebuilds the matcher from ClickHouse.
    """
    logging.shutdown()
    os._exit(70)


def _chunks(records: list[Record]) -> list[list[Record]]:
    # Each insert has a fixed cost (~20 ms in chDB): split only batches big enough to overlap well.
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


def _mark(handled: HandledOffsets, topic: str, batch: Sequence[Any]) -> None:
    for event in batch:
        handled.mark(topic, event.message.partition, event.message.offset)


def _letter(pseudo: Pseudonymizer, failure: DeadLetterRow) -> bytes:
    return make_dead_letter(pseudo, failure.source, "worker", failure.reason, failure.raw, failure.error_type)


async def _with_retry(func: Callable[..., T], *args: Any) -> T:
    # ClickHouse outages must not lose data: hold the batch (offsets stay uncommitted) and retry.
    delay = 0.5
    while True:
        try:
            return await asyncio.to_thread(func, *args)
        except Exception:
            log.exception("ClickHouse write failed; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
