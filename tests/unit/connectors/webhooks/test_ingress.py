"""The ingress application over a real socket, with record sinks in memory: answers, limits, metrics, fuzzing.

The broker-backed behaviour (acknowledgements, outages, storms) is in tests/integration/test_ingress.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from connectors.core.contracts import Parsed, WebhookSource
from connectors.core.errors import PublishError
from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink
from connectors.webhooks.ingress import AckingPublisher, IngressLimits, IngressMetrics, Route, ingress_app
from connectors.webhooks.meta import MetaWebhook
from connectors.webhooks.signatures import hmac_hex
from schemas.agency import Directory, load_directory
from schemas.privacy import Pseudonymizer
from schemas.topics import DEAD_LETTER, EVENTS
from tests.helpers.paths import FIXTURES, PAYLOADS

SECRET = "test_app_secret_DO_NOT_USE_0123456789"
Client = TestClient[web.Request, web.Application]
DIRECTORY: Directory = load_directory(FIXTURES / "webhook_agencies.yaml")
BATCH: dict[str, Any] = orjson.loads((PAYLOADS / "facebook/webhook_feed_batch.json").read_bytes())


class GatedSink(ListRecordSink):
    """A record sink whose flush waits for a gate (a slow broker) or fails (a broker that refuses)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.failing = False

    def flush(self) -> None:
        self.gate.wait(10)
        if self.failing:
            msg = "1 record(s) not acknowledged by Kafka (test); retry"
            raise PublishError(msg, failed=1)


def _meta() -> MetaWebhook:
    pseudo = Pseudonymizer(SecretStr("k"))
    return MetaWebhook(
        app_secret=SecretStr(SECRET), verify_token=SecretStr("tok"), directory=DIRECTORY, pseudonymizer=pseudo
    )


class Harness:
    def __init__(self, client: Client, sink: GatedSink, registry: CollectorRegistry) -> None:
        self.client, self.sink, self.registry = client, sink, registry

    async def post(self, body: bytes, *, secret: str | None = SECRET, headers: Mapping[str, str] = {}) -> int:
        signed = {"X-Hub-Signature-256": hmac_hex(secret.encode(), body)} if secret else {}
        response = await self.client.post("/webhooks/meta", data=body, headers={**signed, **headers})
        await response.read()
        return response.status

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


Scenario = Callable[[Harness], Awaitable[None]]


def _run(scenario: Scenario, source: WebhookSource | None = None, limits: IngressLimits | None = None) -> GatedSink:
    sink = GatedSink()

    async def main() -> None:
        registry = CollectorRegistry()
        publisher = Publisher(sink, pseudonymizer=Pseudonymizer(SecretStr("k")), partitions=4, source="webhook:meta")
        acker = AckingPublisher(publisher).start()
        app = ingress_app(
            [Route("meta", source or _meta(), acker)], IngressMetrics(registry), limits or IngressLimits(), registry
        )
        async with _client(app) as client:
            await scenario(Harness(client, sink, registry))
        sink.gate.set()
        await asyncio.to_thread(acker.close)

    asyncio.run(main())
    return sink


class _client:
    def __init__(self, app: Any) -> None:
        self._client = TestClient(TestServer(app))

    async def __aenter__(self) -> Client:
        await self._client.start_server()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()


def test_a_signed_delivery_is_published_then_answered_with_its_counts() -> None:
    async def scenario(h: Harness) -> None:
        response = await h.client.post(
            "/webhooks/meta",
            data=orjson.dumps(BATCH),
            headers={"X-Hub-Signature-256": hmac_hex(SECRET.encode(), orjson.dumps(BATCH))},
        )
        assert response.status == 200
        assert await response.json() == {"published": 7, "dead_lettered": 0}
        assert h.metric("serambi_ingress_events_published_total", route="meta") == 7
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="accepted") == 1
        assert h.metric("serambi_ingress_ack_seconds_count", route="meta") == 1
        metrics = await (await h.client.get("/metrics")).text()
        assert "serambi_ingress_deliveries_total" in metrics
        assert (await (await h.client.get("/health")).json())["routes"] == ["/webhooks/meta"]

    sink = _run(scenario)
    events = [e for record in sink.on(EVENTS.name) for e in orjson.loads(record.value)["events"]]
    assert len(events) == 7


def test_missing_and_wrong_signatures_are_401_and_403_and_publish_nothing() -> None:
    body = orjson.dumps(BATCH)

    async def scenario(h: Harness) -> None:
        assert await h.post(body, secret=None) == 401
        assert await h.post(body, secret="wrong") == 403
        assert await h.post(body, secret=None, headers={"X-Hub-Signature": "sha1=abc"}) == 401
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="unsigned") == 2
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="bad_signature") == 1

    assert _run(scenario).records == []


def test_a_body_over_the_cap_is_413_and_a_signed_non_json_body_is_400() -> None:
    async def scenario(h: Harness) -> None:
        assert await h.post(b"{" + b" " * 3000 + b"}") == 413
        assert await h.post(b"not json") == 400

    assert _run(scenario, limits=IngressLimits(max_body_bytes=2048)).records == []


def test_a_broker_that_refuses_gives_503_with_retry_after() -> None:
    async def scenario(h: Harness) -> None:
        h.sink.failing = True
        body = orjson.dumps(BATCH)
        response = await h.client.post(
            "/webhooks/meta", data=body, headers={"X-Hub-Signature-256": hmac_hex(SECRET.encode(), body)}
        )
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="broker_error") == 1
        h.sink.failing = False  # the broker is back: closing flushes fine

    _run(scenario)


def test_a_slow_broker_times_out_with_503_and_a_full_ingress_refuses_more() -> None:
    body = orjson.dumps(BATCH)

    async def scenario(h: Harness) -> None:
        h.sink.gate.clear()  # the broker does not answer
        first = asyncio.create_task(h.post(body))
        while h.metric("serambi_ingress_in_flight", route="meta") < 1:
            await asyncio.sleep(0)  # yields to the server until the delivery waits for Kafka
        assert await h.post(body) == 503  # max_in_flight = 1: refused at once
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="busy") == 1
        assert await first == 503  # the timeout
        assert h.metric("serambi_ingress_deliveries_total", route="meta", outcome="timeout") == 1

    _run(scenario, limits=IngressLimits(timeout_seconds=0.5, max_in_flight=1))


class _Crashing(WebhookSource):
    source = "webhook:crash"
    route = "/webhooks/meta"

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        return True

    def parse(self, payload: Any) -> list[Parsed]:
        msg = "a parser bug"
        raise RuntimeError(msg)


def test_a_parser_bug_dead_letters_the_delivery_instead_of_losing_it() -> None:
    async def scenario(h: Harness) -> None:
        assert await h.post(b'{"object": "page"}') == 200

    sink = _run(scenario, source=_Crashing())
    [letter] = sink.on(DEAD_LETTER.name)
    assert "parser failed: RuntimeError: a parser bug" in letter.json()["reason"]
    assert letter.json()["error_type"] == "poison"


def test_the_subscription_check_and_a_get_that_is_none() -> None:
    async def scenario(h: Harness) -> None:
        query = {"hub.mode": "subscribe", "hub.challenge": "7", "hub.verify_token": "tok"}
        ok = await h.client.get("/webhooks/meta", params=query)
        assert (ok.status, await ok.text()) == (200, "7")
        assert (await h.client.get("/webhooks/meta")).status == 400

    _run(scenario)


# --- fuzzing: whatever arrives, the server answers 200 or a 4xx, and every input is published or dead-lettered ---

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[Any]:
    def mutate(draw: st.DrawFn) -> Any:
        batch = orjson.loads(orjson.dumps(BATCH))
        change = draw(st.sampled_from(batch["entry"][0]["changes"]))["value"]
        key = draw(st.sampled_from(sorted(change)))
        change[key] = draw(_JSON)
        return batch

    return st.composite(mutate)()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(_JSON | _mutations() | st.binary(max_size=64), min_size=1, max_size=8), signed=st.booleans())
def test_fuzzed_deliveries_never_crash_the_server(payloads: list[Any], signed: bool) -> None:
    statuses: list[int] = []

    async def scenario(h: Harness) -> None:
        for payload in payloads:
            body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            statuses.append(await h.post(body, secret=SECRET if signed else None))
        assert (await h.client.get("/health")).status == 200

    sink = _run(scenario)
    assert set(statuses) <= ({200, 400} if signed else {401})
    if not signed:
        assert sink.records == []
    for record in sink.on(DEAD_LETTER.name):
        assert record.json()["reason"]  # every refused entry says why


def test_rejected_entries_of_a_signed_delivery_are_dead_lettered_with_their_reason() -> None:
    broken = orjson.loads(orjson.dumps(BATCH))
    del broken["entry"][0]["changes"][1]["value"]["from"]

    async def scenario(h: Harness) -> None:
        assert await h.post(orjson.dumps(broken)) == 200

    sink = _run(scenario)
    [letter] = sink.on(DEAD_LETTER.name)
    assert "entry 0 change 1" in letter.json()["reason"]
