"""A role's small HTTP server for its orchestrator and Prometheus: ``/metrics``, ``/health`` and ``/ready``.

``serambi worker`` and ``serambi connect`` run no web application of their own, yet Kubernetes probes them and
Prometheus scrapes them. The answers say how the process is, never what it stores, so the routes are open (a
NetworkPolicy decides who reaches the port). ``/health`` is liveness: 200 while the process can do its work,
503 once it failed for good (restart it). ``/ready`` is readiness: 200 once it does its work (e.g. the worker
joined its consumer group), 503 with the reason before that or while an outage is retried.

Example::

    server = ProbeServer("0.0.0.0", 8791, metrics.registry, health=lambda: (200, {"status": "ok"}),
                         ready=lambda: (200, {"status": "ready"})).start()
    ...
    server.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pipeline.errors import ConfigError

__all__ = ["Probe", "ProbeServer"]

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[int, dict[str, Any]]]
"""An HTTP status and a JSON body."""


class ProbeServer:
    """Serves ``/metrics`` of ``registry`` and the ``health`` and ``ready`` probes in a daemon thread.

    The socket is bound at construction: a busy port fails at once with a :class:`ConfigError` naming
    ``setting``.
    """

    def __init__(  # noqa: PLR0913 - an address, what to serve, and the setting to blame
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        health: Probe,
        ready: Probe,
        setting: str = "SERAMBI_WORKER_METRICS_PORT",
    ) -> None:
        handler = _handler(registry, {"/health": health, "/ready": ready})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            msg = f"cannot listen on {host}:{port} for /metrics and the probes ({exc.strerror}): set {setting}"
            raise ConfigError(msg) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="probes", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ProbeServer:
        """Serve in the background; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, probes: dict[str, Probe]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                return
            probe = probes.get(path)
            if probe is None:
                self._send(404, orjson.dumps({"error": "not found: /metrics, /health, /ready"}), "application/json")
                return
            try:
                status, body = probe()
            except Exception as exc:  # a probe that raises says "unhealthy", not a dropped connection
                log.exception("probe %s failed", path)
                status, body = 503, {"status": "error", "reason": type(exc).__name__}
            self._send(status, orjson.dumps(body), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return  # probes every few seconds would flood the log

    return Handler
