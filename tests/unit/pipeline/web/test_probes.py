"""The probe server of ``serambi worker`` and ``serambi connect``: /metrics, /health, /ready."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter

from pipeline.errors import ConfigError
from pipeline.web.probes import ProbeServer


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_metrics_and_probes_are_served_with_the_probes_statuses() -> None:
    registry = CollectorRegistry()
    Counter("serambi_test_things", "Things.", registry=registry).inc(3)
    state = {"ready": False}

    def ready() -> tuple[int, dict[str, object]]:
        return (200, {"status": "ready"}) if state["ready"] else (503, {"status": "joining"})

    def broken() -> tuple[int, dict[str, object]]:
        msg = "boom"
        raise RuntimeError(msg)

    server = ProbeServer("127.0.0.1", 0, registry, health=broken, ready=ready).start()
    try:
        status, body = _get(server.url + "/metrics")
        assert status == 200
        assert b"serambi_test_things_total 3.0" in body
        assert _get(server.url + "/ready") == (503, orjson.dumps({"status": "joining"}))
        state["ready"] = True
        assert _get(server.url + "/ready") == (200, orjson.dumps({"status": "ready"}))
        assert _get(server.url + "/health") == (503, orjson.dumps({"status": "error", "reason": "RuntimeError"}))
        assert _get(server.url + "/nope")[0] == 404
    finally:
        server.stop()


def test_a_busy_port_names_the_setting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="SERAMBI_WORKER_METRICS_PORT"):
            ProbeServer("127.0.0.1", port, CollectorRegistry(), health=dict, ready=dict)  # type: ignore[arg-type]
