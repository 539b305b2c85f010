"""Run scenarios on a real embedded stack (Tansu + Faust + chDB) and look at its store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from pipeline.metrics import Metrics
from pipeline.runtime.publishing import kafka_publisher
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from schemas.agency import Directory
from schemas.topics import EVENTS


def run_on_stack(settings: Settings, body: Callable[[RunningStack], Awaitable[Any]]) -> Any:
    async def scenario() -> Any:
        async with open_stack(settings, Metrics(CollectorRegistry()), lambda _: None) as stack:
            result = await body(stack)
            state = await stack.wait_drained(timeout_s=60)
            assert state.drained, state.lag
            return result

    return asyncio.run(scenario())


def run_until_stopped(
    settings: Settings, body: Callable[[RunningStack], Awaitable[Any]], say: Callable[[str], None] = lambda _: None
) -> RunningStack:
    """Run ``body`` on a stack and stop it without draining (a stop during an outage, a failed worker)."""

    async def scenario() -> RunningStack:
        async with open_stack(settings, Metrics(CollectorRegistry()), say) as stack:
            await body(stack)
            return stack

    return asyncio.run(scenario())


def publish(stack: RunningStack, directory: Directory, items: list[Any]) -> None:
    with kafka_publisher(
        stack.settings, stack.bootstrap_servers, directory, stack.metrics, "test", epoch=stack.spool_epoch
    ) as publisher:
        for item in items:
            if isinstance(item, bytes):
                publisher.publish_json(item)
            else:
                publisher.publish(item)


def produce_raw(bootstrap: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(EVENTS.name, value=value, partition=0)
    producer.flush()
    producer.close()


def with_store(settings: Settings, check: Callable[[Any], None]) -> None:
    from pipeline.storage.store import Store

    store = Store(settings)
    try:
        check(store)
    finally:
        store.close()
