"""The running stack's small local HTTP API: health, status, read-only queries, drain, metrics, agencies.

Other processes on this machine use it while the stack owns the chDB data dir (chDB allows one process
per data dir): ``serambi report`` and ``serambi status`` read through ``POST /query``; ``serambi import``
registers the companies it finds through ``POST /agencies``, the one route that writes. The client is
:class:`pipeline.runtime.client.StackClient`.

Authentication is a bearer token compared in constant time. ``POST /agencies`` requires the admin token
the stack writes to its data dir at start-up (0600: only its user on its machine reads it). Every other
route but ``/health`` is open on loopback, and requires ``SERAMBI_API_TOKEN`` (or the admin token) when
that is set; settings refuse a non-loopback address without it.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from pipeline.errors import StoreError
from pipeline.metrics import Metrics
from pipeline.storage.agencies import AgencyRegistry, DirectoryConflictError
from pipeline.storage.sql.status import status_totals
from pipeline.storage.store import Store
from schemas.agency import Agency

__all__ = ["ApiServer", "StackView"]

log = logging.getLogger(__name__)
_MAX_BODY = 1024 * 1024


@dataclass
class StackView:
    """What the API exposes of a running stack."""

    store: Store
    metrics: Metrics
    health: Callable[[], dict[str, Any]]
    drained: Callable[[], dict[str, Any]]
    agencies: AgencyRegistry
    admin_token: str
    api_token: str = ""


class ApiServer:
    """Serves :class:`StackView` in a background thread (on loopback unless settings allow otherwise).

    Routes (JSON bodies and answers; errors are ``{"error": "..."}`` with 400, 401, 404, 409 or 413). With
    ``SERAMBI_API_TOKEN`` set, every route but ``/health`` needs ``Authorization: Bearer <token>``:

    - ``GET /health``, ``GET /drained``, ``GET /status`` (totals per agency and kind), ``GET /metrics``
      (Prometheus text).
    - ``POST /query`` with ``{"sql": "SELECT ...", "parameters": {"name": value}}``: one read-only query
      (anything else is refused), answered as ``{"columns": [...], "rows": [[...]]}``. ``parameters`` is
      optional; each value fills the ``{name:Type}`` placeholder of the same name in the SQL and is parsed
      by ClickHouse as that type, never spliced into the SQL. Instants are UTC text
      ``"YYYY-MM-DD HH:MM:SS[.ffffff]"`` for a ``DateTime64(6, 'UTC')`` placeholder (as
      :func:`pipeline.storage.query.bind_values` writes them). Example body: ``{"sql": "SELECT count()
      FROM serambi.posts WHERE agency_id = {agency:String}", "parameters": {"agency": "jpj"}}``.
    - ``POST /agencies`` with ``{"agencies": [<Agency JSON>, ...]}``: registers agencies (e.g. companies
      found by ``serambi import``) with the stack's registry and the ``agencies`` table, so the worker
      knows their accounts and the reports their SLA; answers ``{"registered": [ids]}``. This writes, so
      it needs ``Authorization: Bearer <admin token>`` (the content of ``<data_dir>/admin.token``), else
      401. An agency of the directory file may gain accounts but not change otherwise (409: edit the
      file). Each agency, accepted or refused, gets an ``agency_audit`` row (source ``api``, actor the
      client's address).
    """

    def __init__(self, view: StackView, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"view": view})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="serambi-api", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41235``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    view: StackView
    server_version = "serambi"

    def do_GET(self) -> None:
        if self.path != "/health" and not self._authorised(admin=False):
            return
        routes: dict[str, Callable[[], Any]] = {
            "/health": self.view.health,
            "/drained": self.view.drained,
            "/status": lambda: status_totals(self.view.store, self.view.store.database),
        }
        if self.path == "/metrics":
            self._send(200, generate_latest(self.view.metrics.registry), CONTENT_TYPE_LATEST)
        elif self.path in routes:
            self._json(200, routes[self.path]())
        else:
            self._json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        routes = {"/query": self._query, "/agencies": self._register}
        if self.path not in routes:
            self._json(404, {"error": f"no route {self.path}"})
            return
        if not self._authorised(admin=self.path == "/agencies"):
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._json(413, {"error": "request too large"})
            return
        try:
            body = orjson.loads(self.rfile.read(length))
            code, answer = routes[self.path](body)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
            self._json(400, {"error": f"bad request body: {exc}"})
            return
        except StoreError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(code, answer)

    def _query(self, body: Any) -> tuple[int, Any]:
        sql, parameters = body["sql"], body.get("parameters")
        if not isinstance(sql, str) or not (parameters is None or isinstance(parameters, dict)):
            msg = '"sql" must be a string and "parameters" an object of {name: value}'
            raise TypeError(msg)
        result = self.view.store.query(sql, parameters, read_only=True)
        return 200, {"columns": result.columns, "rows": result.rows}

    def _register(self, body: Any) -> tuple[int, Any]:
        agencies = [Agency.model_validate(item) for item in body["agencies"]]
        try:
            self.view.agencies.register(agencies, source="api", actor=self.address_string())
        except DirectoryConflictError as exc:
            return 409, {"error": str(exc)}
        return 200, {"registered": [a.id for a in agencies]}

    def _authorised(self, *, admin: bool) -> bool:
        """Whether the request carries a token for the route; answer 401 if not."""
        if not admin and not self.view.api_token:
            return True  # reads on loopback stay open unless SERAMBI_API_TOKEN is set
        tokens = [self.view.admin_token] if admin else [self.view.admin_token, self.view.api_token]
        given = self.headers.get("Authorization", "").encode()
        # Constant-time compare against each: the answer time tells nothing about a token's prefix.
        if any(token and hmac.compare_digest(given, f"Bearer {token}".encode()) for token in tokens):
            return True
        which = "the admin token of <data_dir>/admin.token" if admin else "SERAMBI_API_TOKEN"
        self._json(401, {"error": f"{self.path} needs 'Authorization: Bearer <token>' with {which}"})
        return False

    def _json(self, code: int, body: Any) -> None:
        self._send(code, orjson.dumps(body, default=str), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        if code == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("api: " + format, *args)
