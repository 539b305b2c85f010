"""``serambi worker``: stream processing only, one of N workers in a consumer group on external Kafka and ClickHouse.

The same stack as ``serambi run`` (:func:`pipeline.runtime.stack.open_stack`) without the broker, the board or the
ingress: it stores events, matches replies and feeds the surge detector, for the partitions of the events topic
the consumer group (``serambi-sink``) assigns it. Each worker warms up exactly the partitions it gets and drops
them when they are revoked (:meth:`pipeline.stream.processor.Processor.assign`); the worker consuming partition 0
also derives the rollups and sets the per-agency gauges (:meth:`RunningStack.leads`). It refuses to start, with
one line saying what to do, when Kafka or ClickHouse cannot be reached or the schema is behind (``serambi db
migrate`` runs the migrations, once per cluster). SIGTERM or SIGINT: it stops taking records, finishes storing
what it took, commits the offsets of what is stored, and leaves the group (its partitions move to the others).

Probes and metrics: ``/health``, ``/ready`` and ``/metrics`` on ``SERAMBI_METRICS_HOST:SERAMBI_WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pipeline.errors import ConfigError
from pipeline.metrics import Metrics
from pipeline.runtime.stack import RunningStack, open_stack
from pipeline.settings import Settings
from pipeline.web.probes import ProbeServer

__all__ = ["health_of", "ready_of", "run_worker"]

log = logging.getLogger(__name__)
_WATCH_EVERY_S = 1.0


async def run_worker(settings: Settings, say: Callable[[str], None]) -> int:
    """Run one worker until SIGTERM/SIGINT; return the exit code (0: stopped on request, 2: a batch failed)."""
    if settings.embedded_broker:
        msg = (
            "serambi worker joins the consumer group on an external Kafka: set SERAMBI_KAFKA_BOOTSTRAP_SERVERS "
            "(on one machine, `serambi run` starts the embedded broker, a worker, the API and the board together)"
        )
        raise ConfigError(msg)
    metrics = Metrics()
    async with open_stack(settings, metrics, say, migrate=False) as stack:
        probes = ProbeServer(
            settings.metrics_host,
            settings.worker_metrics_port,
            metrics.registry,
            health=lambda: health_of(stack),
            ready=lambda: ready_of(stack),
        ).start()
        watch = asyncio.create_task(_watch_faust(stack, say), name="faust-watch")
        try:
            say(f"worker in group serambi-sink; probes and metrics on {probes.url} (/health /ready /metrics)")
            await stack.stop_requested.wait()
            say("stopping: finishing the batch in hand, committing what is stored, leaving the group...")
        finally:
            watch.cancel()
            probes.stop()
    return 2 if stack.failed else 0


async def _watch_faust(stack: RunningStack, say: Callable[[str], None]) -> None:
    # Faust crashes on its own (a rebalance callback that raised, a broken consumer): it then consumes nothing,
    # while this process would look alive. Stop it instead, so the orchestrator restarts it.
    while not stack.stop_requested.is_set():
        if stack.worker is not None and stack.worker.crashed:
            say("the Faust worker crashed (see the log above): stopping, so that it is restarted")
            stack.fail()
            return
        await asyncio.sleep(_WATCH_EVERY_S)


def health_of(stack: RunningStack) -> tuple[int, dict[str, Any]]:
    """Liveness: 503 once a batch failed for good (the process stops; restart it), else 200."""
    if stack.failed:
        return 503, {"status": "failed", "reason": "a batch could not be handled; the worker is stopping"}
    return 200, {"status": "ok", "rows_stored": stack.processor.rows_total}


def ready_of(stack: RunningStack) -> tuple[int, dict[str, Any]]:
    """Readiness: 200 once the group assigned this worker partitions and nothing is being retried."""
    owned = stack.processor.owned
    retrying = stack.failing.snapshot()
    if stack.failed or owned is None:
        return 503, {"status": "joining" if not stack.failed else "failed"}
    if retrying:
        return 503, {"status": "degraded", "retrying": retrying}
    return 200, {"status": "ready", "partitions": sorted(owned), "leader": stack.leads()}
