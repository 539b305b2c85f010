"""Health tells the truth: a worker holding a batch through a ClickHouse outage is not "ok" (issue 7, item 2)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

import orjson

from pipeline.runtime.stack import RunningStack
from schemas.agency import Directory
from tests.helpers.events import EventFactory
from tests.helpers.settings import SettingsFactory
from tests.helpers.stack import publish, run_on_stack

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def _health(stack: RunningStack) -> dict[str, Any]:
    with _OPENER.open(stack.api.url + "/health", timeout=10) as response:
        return dict(orjson.loads(response.read()))


async def _health_until(stack: RunningStack, status: str, timeout_s: float = 120) -> dict[str, Any]:
    # Waits on the condition itself (the health document), polling; the deadline only bounds a failure.
    deadline = time.monotonic() + timeout_s
    while True:
        health = await asyncio.to_thread(_health, stack)
        if health["status"] == status or time.monotonic() > deadline:
            return health
        await asyncio.sleep(0.1)


def test_health_reports_a_sink_that_cannot_write_and_its_recovery(
    settings_factory: SettingsFactory, tiny_directory: Directory, event_factory: EventFactory
) -> None:
    seen: dict[str, dict[str, Any]] = {}

    async def outage(stack: RunningStack) -> None:
        seen["before"] = await asyncio.to_thread(_health, stack)
        db = stack.store.database
        stack.store.command(f"RENAME TABLE {db}.interactions TO {db}.away")
        await asyncio.to_thread(publish, stack, tiny_directory, [event_factory("comment"), event_factory("reply")])
        seen["during"] = await _health_until(stack, "degraded")
        stack.store.command(f"RENAME TABLE {db}.away TO {db}.interactions")
        seen["after"] = await _health_until(stack, "ok")

    run_on_stack(settings_factory(), outage)
    assert seen["before"]["status"] == "ok"
    assert seen["before"]["retrying"] == {}
    during = seen["during"]
    assert during["status"] == "degraded", during
    (what, failure), *_ = during["retrying"].items()
    assert what.startswith("ClickHouse"), during
    assert "StoreError" in failure["reason"]
    assert failure["since"] > 0
    assert seen["after"]["status"] == "ok", seen["after"]
    assert seen["after"]["retrying"] == {}
