"""Shorter Kafka fetch waits for Faust's consumer.

faust-streaming hard-codes ``fetch_max_wait_ms=1500`` when it builds its aiokafka consumer; against
the embedded broker that wait is most of the pipeline's latency. We hand Faust's driver module a view
of aiokafka whose consumer class uses our wait instead; nothing else in aiokafka changes.
"""

from __future__ import annotations

import types
from typing import Any

import aiokafka
import faust.transport.drivers.aiokafka as faust_driver

__all__ = ["set_fetch_wait_ms"]


def set_fetch_wait_ms(wait_ms: int) -> None:
    """Make Faust consumers created from now on wait at most ``wait_ms`` per fetch."""

    class _Consumer(aiokafka.AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = wait_ms
            super().__init__(*args, **kwargs)

    view = types.ModuleType("aiokafka")
    view.__dict__.update(aiokafka.__dict__)
    view.AIOKafkaConsumer = _Consumer  # type: ignore[attr-defined]
    faust_driver.aiokafka = view  # type: ignore[attr-defined]
