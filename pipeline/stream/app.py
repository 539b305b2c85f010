"""The Faust worker app: its two topics and its agents (:mod:`pipeline.stream.agents`), nothing else.

The agents store raw events, response facts and dead letters in ClickHouse through the
:class:`pipeline.stream.processor.Processor`; this module builds the app around them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import NoReturn

import faust

from pipeline.settings import Settings
from pipeline.stream.agents import AgentContext, add_agents
from pipeline.stream.fetchwait import set_fetch_wait_ms
from pipeline.stream.offsets import HandledOffsets
from pipeline.stream.processor import Inserter, Processor
from schemas.privacy import Pseudonymizer
from schemas.topics import DEAD_LETTER, EVENTS

__all__ = ["WORKER_GROUP", "build_app", "exit_without_commit"]

WORKER_GROUP = "serambi-sink"


def build_app(  # noqa: PLR0913 - the worker's whole context
    settings: Settings,
    bootstrap_servers: str,
    web_port: int,
    processor: Processor,
    store: Inserter,
    handled: HandledOffsets,
    on_failure: Callable[[], None] | None = None,
) -> faust.App:
    """A Faust app that stores raw events, response facts and dead letters in ClickHouse.

    ``store`` takes the dead letters (the processor has its own inserter); ``handled`` learns every offset
    whose effects are complete; ``on_failure`` (default :func:`exit_without_commit`) runs when a batch
    cannot be handled at all.
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
        # Faust joins in ~3 s with these instead of ~30 s with its defaults.
        broker_rebalance_timeout=5,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
    )
    # Raw bytes: the processor decodes and validates batch records itself, in one pass.
    events = app.topic(EVENTS.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    dead = app.topic(DEAD_LETTER.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    context = AgentContext(
        processor=processor,
        store=store,
        handled=handled,
        pseudo=Pseudonymizer(settings.pseudonym_key),
        on_failure=on_failure or exit_without_commit,
        batch_records=settings.sink_batch_records,
        batch_seconds=settings.sink_batch_seconds,
    )
    add_agents(app, events, dead, context)
    return app


def exit_without_commit() -> NoReturn:
    """Default failure action with an external Kafka: leave now, so no offset past the batch is committed.

    A restart replays the batch and rebuilds the matcher from ClickHouse.
    """
    logging.shutdown()
    os._exit(70)
