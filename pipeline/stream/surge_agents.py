"""The worker's surge agents: counts out, the detector, alert events into ClickHouse. Thin loops.

- a timer sends what the worker counted (:class:`pipeline.domain.tally.UnansweredTally`, fed by the processor
  as chunks are stored) to ``serambi.counts.v1`` every ``flush_seconds``, with the worker's event-time
  progress (also when nothing was counted, so the detector's event time moves on);
- ``detect-surges`` reads every worker's counts into the :class:`pipeline.stream.surge_watch.SurgeWatch`
  and sends each alert transition to ``serambi.alerts.v1``; a timer ticks the watch so that a worker that
  went quiet stops holding event time back. The watch runs in a thread, one call at a time, and the alert events
  of one call are sent before the next call starts (so they reach the topic in order): a raise queries
  ClickHouse for the surge's top terms, which must not hold up the event loop;
- ``store-alerts`` stores alert events in the ``alerts`` table.

Counts are sent after their chunk is stored and counted once (the tally only counts first meetings): a
kill -9 loses at most the counts of the last ``flush_seconds``, never counts a message twice. Offsets are
marked handled once the alert events a batch caused are acknowledged, or once they are stored.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson

from pipeline.domain.tally import CountDrain, UnansweredTally
from pipeline.storage.sql.alerts import RowInserter, store_alerts
from pipeline.stream.agents import mark_handled, send_acknowledged
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.retry import Failing, retry_forever
from pipeline.stream.surge_watch import SurgeWatch
from schemas.alerts import AlertEvent
from schemas.counts import decode_count_batch
from schemas.topics import ALERTS, COUNTS

__all__ = ["COUNTS_PER_RECORD", "SurgeContext", "add_surge_agents", "count_batches"]

log = logging.getLogger(__name__)
_BATCH = 500
_SEND_COUNTS = "sending surge counts to Kafka"
_SEND_ALERT = "sending an alert event to Kafka"
_STORE_ALERTS = "ClickHouse insert of alert events"
_T = TypeVar("_T")


@dataclass
class SurgeContext:
    """What the surge agents work with: the worker's tally, the detector's watch, the alerts' store.

    ``flushing`` may be set False to hold the counts back (the tally keeps them): the embedded broker's rotation
    does so until the detector consumed what was sent, since the topics it recreates are in no spool.
    """

    tally: UnansweredTally
    watch: SurgeWatch
    store: RowInserter
    handled: HandledOffsets
    failing: Failing
    flush_seconds: float
    batch_seconds: float
    checkpoint: Callable[[], None] | None = None
    """Saves the detector's state (called every ``checkpoint_seconds`` and by the stack at stop)."""
    checkpoint_seconds: float = 60.0
    flushing: bool = True


COUNTS_PER_RECORD = 1000
"""Minute counts per record on the counts topic. A drain after a backfill (an import of months) holds one count
per agency x platform x minute of it; at ~300 bytes each, 1000 keep a record well under the broker's 1 MB."""


def count_batches(
    source: str,
    drain: CountDrain,
    sent_at: datetime,
    previous_watermark: datetime | None,
    per_record: int = COUNTS_PER_RECORD,
) -> list[bytes]:
    """The wire form of a drain of the tally: one :class:`CountBatch` JSON value, or several over ``per_record``.

    Only the last record carries the drain's new watermark; the others repeat ``previous_watermark`` (what this
    worker last sent), so the detector never judges a minute before all its counts have arrived.

    The JSON is written with orjson, byte for byte what ``CountBatch.model_dump_json()`` gives for the same
    counts (a test holds them equal), without building and validating a model per count: that cost ~9 us per
    count, more than the detector's judging of it. The tally's records are valid by construction
    (:class:`~pipeline.domain.surge.CountRecord` checks them) and the detector validates what it reads.
    """
    counts = [
        {
            "agency": r.agency,
            "platform": r.platform,
            "minute": r.minute,
            "arrivals": r.arrivals,
            "answered": r.answered,
            "backlog": r.backlog,
            "oldest_unanswered_at": r.oldest_unanswered_at,
            "example_ids": r.example_ids,
        }
        for r in drain.records
    ]
    chunks = [counts[i : i + per_record] for i in range(0, len(counts), per_record)] or [[]]
    return [
        orjson.dumps(
            {
                "source": source,
                "watermark": drain.watermark if i == len(chunks) - 1 else previous_watermark,
                "sent_at": sent_at,
                "counts": chunk,
            },
            option=orjson.OPT_UTC_Z,
        )
        for i, chunk in enumerate(chunks)
    ]


def add_surge_agents(app: faust.App, counts: Any, alerts: Any, context: SurgeContext) -> None:
    """Register the count flush, the detector and the alert store on ``app``."""
    last_sent: list[datetime | None] = [None]
    watching = asyncio.Lock()  # the agent, the timers and the checkpoint never touch the detector at once

    async def watch(step: Callable[[], list[AlertEvent]]) -> None:
        # The events are sent holding the lock too: a tick's resolve must not reach the topic before the raise
        # the agent is still sending.
        async with watching:
            events = await _in_thread(step)
            await _send_alerts(alerts, events, context.failing)

    @app.timer(context.flush_seconds, name="send-surge-counts")  # type: ignore[untyped-decorator]
    async def send_counts() -> None:
        if not context.flushing:
            return
        drain = context.tally.drain()
        if not drain.records and drain.watermark == last_sent[0]:
            return  # nothing new: no record, no progress
        source = context.tally.source
        for value in count_batches(source, drain, datetime.now(UTC), last_sent[0]):
            await retry_forever(
                send_acknowledged,
                counts,
                source.encode(),  # CountBatch.key(): one worker's batches stay in order
                value,
                what=_SEND_COUNTS,
                failing=context.failing,
            )
        last_sent[0] = drain.watermark

    @app.agent(counts, name="detect-surges")
    async def detect_surges(stream: Any) -> None:
        async for batch in stream.take_events(_BATCH, within=context.batch_seconds):
            await watch(functools.partial(_take, context, batch))
            mark_handled(context.handled, COUNTS.name, batch)

    @app.timer(1.0, name="tick-surge-detector")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await watch(context.watch.tick)

    checkpoint = context.checkpoint
    if checkpoint is not None:

        @app.timer(context.checkpoint_seconds, name="checkpoint-surge-detector")  # type: ignore[untyped-decorator]
        async def save() -> None:
            try:
                async with watching:  # a snapshot of a detector in the middle of a batch would be torn
                    await _in_thread(checkpoint)
            except OSError as exc:  # a full disk must not stop the detector; the next minute tries again
                log.error("saving the surge detector's state failed: %s", exc)

    @app.agent(alerts, name="store-alerts")
    async def store_alert_events(stream: Any) -> None:
        async for batch in stream.take_events(_BATCH, within=context.batch_seconds):
            events = []
            for event in batch:
                try:
                    events.append(AlertEvent.model_validate_json(event.value))
                except ValueError as exc:
                    log.error("alert event at offset %d skipped: %s", event.message.offset, exc)
            if events:
                await retry_forever(
                    asyncio.to_thread, store_alerts, context.store, events, what=_STORE_ALERTS, failing=context.failing
                )
            mark_handled(context.handled, ALERTS.name, batch)


async def _in_thread(step: Callable[[], _T]) -> _T:
    """Run ``step`` in a thread; a cancelled caller still waits for it (a thread cannot be stopped).

    So the caller's lock is held until the detector is whole again: a save at stop, or the next step, never
    reads it half-way through a batch.
    """
    future = asyncio.ensure_future(asyncio.to_thread(step))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _take(context: SurgeContext, batch: Sequence[Any]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for event in batch:
        try:
            events += context.watch.take(decode_count_batch(event.value))
        except ValueError as exc:  # a count batch of another version: skip it, say so
            log.error("surge counts at offset %d skipped: %s", event.message.offset, exc)
    return events


async def _send_alerts(topic: Any, events: Sequence[AlertEvent], failing: Failing) -> None:
    for event in events:
        value = event.model_dump_json().encode()
        await retry_forever(send_acknowledged, topic, event.key(), value, what=_SEND_ALERT, failing=failing)
