"""The monitoring side of tests: the real Prometheus/Alertmanager binaries, and a webhook that records what arrives."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

from pipeline.runtime.monitoring import INSTALL_HINT, Binaries, find_binaries

T = TypeVar("T")


def _missing(what: str) -> None:
    why = f"{what} not installed ({INSTALL_HINT})"
    if os.environ.get("CI"):
        pytest.fail(why)  # in CI a skipped alerting test would let a break ship
    pytest.skip(why)


def require_binaries() -> Binaries:
    """Prometheus and Alertmanager, else skip (fail with ``CI`` set)."""
    binaries = find_binaries()
    if binaries is None:
        _missing("prometheus and prometheus-alertmanager are")
    assert binaries is not None
    return binaries


def require_tool(name: str) -> str:
    """The path of a tool (``promtool``, ``amtool``), else skip (fail with ``CI`` set)."""
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is")
    assert path is not None
    return path


def wait_until(condition: Callable[[], T | None], timeout_s: float, what: Callable[[], str] | str) -> T:
    """Poll ``condition`` until it returns something truthy (returned), else fail after ``timeout_s`` with ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if result := condition():
            return result
        if time.monotonic() >= deadline:
            msg = f"not within {timeout_s:.0f} s: {what() if callable(what) else what}"
            raise AssertionError(msg)
        time.sleep(0.1)  # polling a condition with a deadline, not a sleep as synchronisation


class WebhookReceiver:
    """Alertmanager's webhook receiver on a free loopback port: keeps every notification it is sent.

    Example::

        with WebhookReceiver() as hook:
            ...  # MonitoringOptions(webhook_url=hook.url)
            hook.wait_for(lambda a: a["status"] == "firing", 30)
    """

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification so far, in arrival order (an alert repeats across notifications)."""
        with self._lock:
            return [alert for notification in self.notifications for alert in notification["alerts"]]

    def wait_for(self, matches: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict[str, Any]:
        """The first alert received that ``matches``, waiting up to ``timeout_s`` for it."""
        return wait_until(
            lambda: next((alert for alert in self.alerts() if matches(alert)), None),
            timeout_s,
            lambda: f"no matching alert among the {len(self.notifications)} notification(s): {self.alerts()}",
        )

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
