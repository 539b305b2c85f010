"""The webhook ingress: one aiohttp application, a route per platform, acknowledged only when safe.

Each :class:`~connectors.core.contracts.WebhookSource` gets its ``route`` (``/webhooks/meta``, ``/webhooks/x``,
``/webhooks/mastodon``):

- ``GET``: the subscription handshake (Meta's ``hub.challenge``, X's CRC); anything else is a 400.
- ``POST``: the raw body (at most ``max_body_bytes``, else 413) is verified *before* it is decoded. A missing
  signature is a 401, a wrong one a 403: nothing is published or stored, and the body is not kept. A signed body
  that is not JSON is a 400. The parsed events and rejected entries go to an :class:`AckingPublisher`, and the
  answer is 200 only once Kafka acknowledged all of them (and the dead letters). A broker that is down or slow
  gives a 503 with ``Retry-After`` after ``timeout_seconds``, and so does a full ingress (``max_in_flight``
  deliveries waiting): the platform retries, and a retry is harmless (event ids are the platforms' ids and
  every sink upserts).

:class:`AckingPublisher` owns one :class:`~connectors.core.publisher.Publisher` on one thread (kafka-python
is synchronous) and *group-commits*: it publishes every delivery waiting, flushes once, and answers them all.
So throughput grows with concurrency while each answer still waits for its own acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from connectors.core.contracts import Parsed, Rejected, WebhookSource
from connectors.core.errors import PublishError
from connectors.core.publisher import Publisher
from schemas.records import poison_reason

__all__ = ["AckingPublisher", "IngressLimits", "IngressMetrics", "Outcome", "Route", "ingress_app"]

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class IngressLimits:
    """How much the ingress takes at once.

    Args:
        max_body_bytes: the largest delivery accepted (413 above it); default 1 MiB (Meta batches stay far below).
        timeout_seconds: how long a delivery may wait for Kafka's acknowledgement before a 503 (default 10 s:
            X expects an answer within 10 s, Meta within 20 s).
        max_in_flight: deliveries waiting for Kafka at once; one more gets a 503 at once (default 256).
        retry_after_seconds: the ``Retry-After`` of a 503 (default 5 s).
    """

    max_body_bytes: int = 1024 * 1024
    timeout_seconds: float = 10.0
    max_in_flight: int = 256
    retry_after_seconds: int = 5


class Outcome:
    """The fixed label values of ``serambi_ingress_deliveries_total{outcome}``."""

    ACCEPTED = "accepted"
    HANDSHAKE = "handshake"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    BUSY = "busy"
    TIMEOUT = "timeout"
    BROKER_ERROR = "broker_error"


class IngressMetrics:
    """The ingress's metrics on ``registry``; labels: the route's name (``meta``, ``x``, ``mastodon``) and outcome."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.deliveries = Counter(
            "serambi_ingress_deliveries_total",
            "Webhook requests answered, by route and outcome (accepted, bad_signature, busy, timeout, ...).",
            ["route", "outcome"],
            registry=r,
        )
        self.events = Counter(
            "serambi_ingress_events_published_total",
            "Canonical events of accepted deliveries, acknowledged by Kafka.",
            ["route"],
            registry=r,
        )
        self.dead_letters = Counter(
            "serambi_ingress_dead_letters_total",
            "Entries of signed deliveries that could not become events (sent to the dead-letter topic).",
            ["route"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "serambi_ingress_ack_seconds",
            "Time from a signed delivery's arrival to Kafka's acknowledgement of its events.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.in_flight = Gauge(
            "serambi_ingress_in_flight", "Deliveries waiting for Kafka's acknowledgement.", ["route"], registry=r
        )


@dataclass(frozen=True)
class _Delivery:
    items: Sequence[Parsed]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[tuple[int, int]]


class AckingPublisher:
    """A :class:`Publisher` on its own thread, group-committing deliveries; :meth:`deliver` awaits the ack.

    >>> acker = AckingPublisher(publisher).start()  # doctest: +SKIP
    >>> published, dead_lettered = await acker.deliver(items)  # PublishError: Kafka did not ack  # doctest: +SKIP
    """

    def __init__(self, publisher: Publisher, *, name: str = "serambi-ingress") -> None:
        self._publisher = publisher
        self._queue: queue.Queue[_Delivery | object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> AckingPublisher:
        """Start the publishing thread."""
        self._thread.start()
        return self

    async def deliver(self, items: Sequence[Parsed]) -> tuple[int, int]:
        """Publish ``items`` (rejected ones as dead letters); return (events published, dead-lettered) once acked.

        Raises :class:`PublishError` when Kafka did not acknowledge them: answer 5xx so the platform retries.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._queue.put(_Delivery(items, loop, future))
        return await future

    def close(self) -> None:
        """Finish the deliveries queued, then stop the thread and close the publisher."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._publisher.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while True:  # everything already waiting joins this round: one flush acknowledges them all
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._round([d for d in batch if isinstance(d, _Delivery)])
            if stop:
                return

    def _round(self, deliveries: list[_Delivery]) -> None:
        counts: list[tuple[int, int]] = []
        try:
            for delivery in deliveries:
                published = dead = 0
                for item in delivery.items:
                    if isinstance(item, Rejected):
                        self._publisher.dead_letter(item.reason, item.raw, error_type=item.error_type)
                        dead += 1
                    elif self._publisher.publish(item):
                        published += 1
                    else:  # invalid: the publisher dead-lettered it with the reason
                        dead += 1
                counts.append((published, dead))
            self._publisher.flush()
        except Exception as exc:  # PublishError, or a broker client failing: every waiting delivery gets a 5xx
            failure = exc if isinstance(exc, PublishError) else PublishError(poison_reason(exc))
            for delivery in deliveries:
                delivery.loop.call_soon_threadsafe(_fail, delivery.future, failure)
            return
        for delivery, result in zip(deliveries, counts, strict=True):
            delivery.loop.call_soon_threadsafe(_succeed, delivery.future, result)


def _succeed(future: asyncio.Future[tuple[int, int]], result: tuple[int, int]) -> None:
    if not future.done():  # the request may have timed out meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[tuple[int, int]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


@dataclass(frozen=True)
class Route:
    """One platform's route: its path name (``/webhooks/<name>``), its source and where its events go."""

    name: str
    source: WebhookSource
    acker: AckingPublisher

    @property
    def path(self) -> str:
        """``/webhooks/<name>``."""
        return f"/webhooks/{self.name}"


def ingress_app(
    routes: Sequence[Route],
    metrics: IngressMetrics,
    limits: IngressLimits = IngressLimits(),
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The aiohttp application serving ``routes``, ``GET /health`` and, given a ``registry``, ``GET /metrics``."""
    app = web.Application(client_max_size=limits.max_body_bytes)
    for route in routes:
        handler = _Handler(route, metrics, limits)
        app.router.add_get(route.path, handler.get)
        app.router.add_post(route.path, handler.post)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "routes": [r.path for r in routes]})

    app.router.add_get("/health", health)
    if registry is not None:
        exposition = registry

        async def metrics_page(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(exposition), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_get("/metrics", metrics_page)
    return app


class _Handler:
    def __init__(self, route: Route, metrics: IngressMetrics, limits: IngressLimits) -> None:
        self._route, self._metrics, self._limits = route, metrics, limits
        self._waiting = 0
        self._retry = {"Retry-After": str(limits.retry_after_seconds)}

    def _count(self, outcome: str) -> None:
        self._metrics.deliveries.labels(self._route.name, outcome).inc()

    async def get(self, request: web.Request) -> web.Response:
        answer = self._route.source.handshake(dict(request.query))
        if answer is None:
            return web.Response(status=400, text="not a subscription check: deliveries are POSTs")
        self._count(Outcome.HANDSHAKE)
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type)

    async def post(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        headers = {name.lower(): value for name, value in request.headers.items()}
        if not self._route.source.verify(headers, body):
            # Which header is missing or wrong is not said: a prober learns nothing. The body is dropped here.
            unsigned = not self._route.source.signature_present(headers)
            self._count(Outcome.UNSIGNED if unsigned else Outcome.BAD_SIGNATURE)
            return web.Response(status=401 if unsigned else 403, text="signature missing or not valid")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._count(Outcome.NOT_JSON)
            return web.Response(status=400, text="the body is not JSON")
        items = self._parse(payload)
        if self._waiting >= self._limits.max_in_flight:
            self._count(Outcome.BUSY)
            return web.Response(status=503, text="too many deliveries in flight; retry", headers=self._retry)
        return await self._deliver(items, started)

    async def _read(self, request: web.Request) -> bytes | web.Response:
        too_large = f"a delivery is at most {self._limits.max_body_bytes} bytes"
        if request.content_length is not None and request.content_length > self._limits.max_body_bytes:
            self._count(Outcome.TOO_LARGE)
            return web.Response(status=413, text=too_large)
        try:
            return await asyncio.wait_for(request.read(), self._limits.timeout_seconds)
        except web.HTTPRequestEntityTooLarge:
            self._count(Outcome.TOO_LARGE)
            return web.Response(status=413, text=too_large)
        except TimeoutError:
            self._count(Outcome.TIMEOUT)
            return web.Response(status=408, text="the body did not arrive in time")

    def _parse(self, payload: Any) -> Sequence[Parsed]:
        try:
            return self._route.source.parse(payload)
        except Exception as exc:  # a parser bug must not lose the delivery: it goes to the dead-letter topic whole
            log.exception("%s: parser failed", self._route.path)
            return [Rejected(f"parser failed: {poison_reason(exc)}", payload, "poison")]

    async def _deliver(self, items: Sequence[Parsed], started: float) -> web.Response:
        name = self._route.name
        self._waiting += 1
        self._metrics.in_flight.labels(name).inc()
        try:
            published, dead = await asyncio.wait_for(self._route.acker.deliver(items), self._limits.timeout_seconds)
        except TimeoutError:
            self._count(Outcome.TIMEOUT)
            return web.Response(status=503, text="Kafka did not acknowledge in time; retry", headers=self._retry)
        except PublishError as exc:
            self._count(Outcome.BROKER_ERROR)
            log.warning("%s: Kafka did not acknowledge a delivery: %s", self._route.path, exc)
            return web.Response(status=503, text="Kafka did not acknowledge; retry", headers=self._retry)
        finally:
            self._waiting -= 1
            self._metrics.in_flight.labels(name).dec()
        self._count(Outcome.ACCEPTED)
        self._metrics.events.labels(name).inc(published)
        self._metrics.dead_letters.labels(name).inc(dead)
        self._metrics.ack_seconds.labels(name).observe(time.perf_counter() - started)
        return web.json_response({"published": published, "dead_lettered": dead})
