"""The ingress benchmark's load generator, run as its own process: ``python -m pipeline.bench.ingress_load``.

Arguments: URL PAGE DELIVERIES CLIENTS; the app secret in ``SERAMBI_BENCH_INGEST_SECRET``. Sends the deliveries
of :func:`pipeline.bench.ingress.delivery`
over ``CLIENTS`` keep-alive connections, each delivery retried on a 503 as a platform would, and prints JSON:
``deliveries_per_s``, ``seconds``, ``p50_ms``, ``p99_ms``, ``max_ms`` (send to 200, including retries) and
``non_200`` (deliveries that never got a 200).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import aiohttp

from connectors.webhooks.signatures import hmac_hex
from pipeline.bench.ingress import delivery

_RETRIES = 20


async def _main(url: str, page: str, deliveries: int, clients: int, secret: bytes) -> dict[str, float]:
    bodies = [delivery(page, n) for n in range(deliveries)]
    latencies: list[float] = []
    failed = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        while not queue.empty():
            body = queue.get_nowait()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": hmac_hex(secret, body)}
            started = time.perf_counter()
            for _ in range(_RETRIES):
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        latencies.append(time.perf_counter() - started)
                        break
                    if response.status != 503:
                        failed += 1
                        break
                await asyncio.sleep(0.05)  # a 503: the platform waits a little, then retries
            else:
                failed += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - started
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "deliveries_per_s": len(latencies) / seconds if seconds else 0.0,
        "seconds": seconds,
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "non_200": failed,
    }


if __name__ == "__main__":
    url, page, deliveries, clients = sys.argv[1:5]
    secret = os.environ["SERAMBI_BENCH_INGEST_SECRET"].encode()
    print(json.dumps(asyncio.run(_main(url, page, int(deliveries), int(clients), secret))))
