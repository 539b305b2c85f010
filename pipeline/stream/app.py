"""The Faust worker app: its two topics and its agents (:mod:`pipeline.stream.agents`), nothing else.

The agents store raw events, response facts and dead letters in ClickHouse through the
:class:`pipeline.stream.processor.Processor`; this module builds the app around them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, cast

import faust
from faust.types import TP

from pipeline.settings import Settings
from pipeline.stream.agents import AgentContext, add_agents
from pipeline.stream.fetchwait import set_fetch_wait_ms
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.processor import Inserter, Processor
from pipeline.stream.retry import Failing
from pipeline.stream.surge_agents import SurgeContext, add_surge_agents
from schemas.privacy import Pseudonymizer
from schemas.topics import ALERTS, COUNTS, DEAD_LETTER, EVENTS

__all__ = ["WORKER_GROUP", "build_app", "commit_only_handled", "follow_assignment"]

log = logging.getLogger(__name__)
WORKER_GROUP = "serambi-sink"


def build_app(  # noqa: PLR0913 - the worker's whole context
    settings: Settings,
    bootstrap_servers: str,
    web_port: int,
    processor: Processor,
    store: Inserter,
    handled: HandledOffsets,
    on_failure: Callable[[], None],
    failing: Failing,
    surge: SurgeContext | None = None,
    replicas: int = 1,
) -> faust.App:
    """A Faust app that stores raw events, response facts and dead letters in ClickHouse.

    ``store`` takes the dead letters (the processor has its own inserter); ``handled`` learns every offset
    whose effects are complete; ``failing`` learns what is being retried (for health); ``on_failure`` runs
    when a batch cannot be handled at all (the batch stays uncommitted: see :func:`commit_only_handled`);
    ``surge`` (``None``: no surge detection) adds the surge agents (:mod:`pipeline.stream.surge_agents`);
    ``replicas``: copies of the topics Faust creates itself (:func:`pipeline.kafka.admin.replication_factor`).
    """
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
        # Faust's own topics (its assignor's leader topic): as many copies as Serambi's.
        topic_replication_factor=replicas,
        # Faust joins in ~3 s with these instead of ~30 s with its defaults.
        broker_rebalance_timeout=5,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        # Stopping must not wait for in-flight events to be acked (a failed batch never is, so the stop
        # would wait for it): acks no longer decide what is committed, commit_only_handled does.
        stream_wait_empty=False,
    )
    # Raw bytes: the processor decodes and validates batch records itself, in one pass.
    events = _raw_topic(app, EVENTS.name)
    dead = _raw_topic(app, DEAD_LETTER.name)
    context = AgentContext(
        processor=processor,
        store=store,
        handled=handled,
        pseudo=Pseudonymizer(settings.pseudonym_key),
        on_failure=on_failure,
        batch_records=settings.sink_batch_records,
        batch_seconds=settings.sink_batch_seconds,
        failing=failing,
    )
    add_agents(app, events, dead, context)
    if surge is not None:
        add_surge_agents(app, _raw_topic(app, COUNTS.name), _raw_topic(app, ALERTS.name), surge)
    commit_only_handled(app, handled)
    follow_assignment(app, processor)
    return app


def follow_assignment(app: faust.App, processor: Processor) -> None:
    """Tell ``processor`` which events partitions the consumer group gives this worker, at every rebalance.

    Revoked partitions' conversations leave memory (another worker stores their next messages); assigned ones
    are warmed up from ClickHouse before their first record is prepared (:meth:`Processor.assign`). The calls
    only mark what to do (the processor applies it at its next chunk, in the agent's thread): a warm-up that
    took longer than the group's session timeout inside the rebalance would get this worker evicted.
    """

    def partitions(tps: Iterable[TP]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == EVENTS.name}

    async def revoked(_app: Any, *args: Any, signal: Any, **_: Any) -> None:
        gone = partitions(args[0])
        if gone:
            log.info("events partitions revoked: %s", sorted(gone))
            await asyncio.to_thread(processor.revoke, gone)

    async def assigned(_app: Any, *args: Any, signal: Any, **_: Any) -> None:
        given = partitions(args[0])
        log.info("events partitions assigned: %s", sorted(given))
        await asyncio.to_thread(processor.assign, given, warm_now=False)

    app.on_partitions_revoked.connect(cast("Any", revoked))  # mode types a sync handler only
    app.on_partitions_assigned.connect(cast("Any", assigned))


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def commit_only_handled(app: faust.App, handled: HandledOffsets) -> None:
    """Make every offset commit of ``app`` stop at the records whose effects ``handled`` knows complete.

    Faust acks events it merely handed to an agent: ``take_events`` acks its whole buffer when the agent's
    stream is stopped or cancelled, even while the batch waits for ClickHouse, and the consumer commits
    acked offsets periodically, on rebalance and on stop. Rather than chase each of those paths, the one
    call every commit ends in (``Consumer._commit``, after Faust chose the offsets) is wrapped: each
    offset is lowered to the first record not yet handled, and a partition this run has handled nothing of
    is left alone (its committed offset stays where an earlier run left it). So whatever Faust acked, and
    however the worker stops (signal, failure, timeout), Kafka never holds an offset past an unstored
    record; the next start replays from there (inserts are upserts). Faust's own bookkeeping still
    believes it committed its offsets: harmless, it only decides what to ask for next time, and the clamp
    applies again then. Only at-least-once processing is used (no Kafka transactions), so no other commit
    path exists.
    """
    consumer = app.consumer
    commit: Callable[[Mapping[TP, int]], Awaitable[bool]] = consumer._commit  # type: ignore[attr-defined]

    async def commit_handled(offsets: Mapping[TP, int]) -> bool:
        done = handled.snapshot()
        allowed: dict[TP, int] = {}
        for tp, offset in offsets.items():
            last = done.get((tp.topic, tp.partition))
            if last is not None:
                allowed[tp] = min(offset, last + 1)
            if last is None or last + 1 < offset:
                log.info("not committing %s up to %d: handled only up to %s", tp, offset, last)
        return await commit(allowed) if allowed else False

    consumer._commit = commit_handled  # type: ignore[attr-defined]
