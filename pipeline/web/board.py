"""The web board: the catalog's views in a browser, served by the running stack (read-only, loopback by default).

Pages (``/`` the cross-agency overview, ``/agency/<id>`` one agency) are static files of ``static/`` that fetch
their figures from ``GET /api/views/<name>`` and refresh them every ``board_refresh_seconds`` without reloading.
Every figure is a row of :func:`~pipeline.storage.sql.catalog.run_view`: what a URL says reaches SQL only as a
bound parameter of a :class:`~pipeline.storage.sql.binding.ViewFilter`. Nothing is loaded from another host
(the chart library is vendored under ``static/vendor/``), so the board works offline.

With ``SERAMBI_API_TOKEN`` set the board requires it: ``Authorization: Bearer <token>``, or the board opened
once with ``?token=<token>``, which sets an HttpOnly, SameSite=Strict cookie and drops the token from the URL.
Without it the board answers only requests addressed to a loopback name (no DNS rebinding).

:mod:`pipeline.web.board_server` serves it. Example::

    app = board_app(store, "serambi", BoardOptions(refresh_seconds=15))
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import mimetypes
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import MultiMapping
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from yarl import URL

from pipeline.domain.classify import ClassThresholds
from pipeline.domain.windows import REPORT_WINDOWS
from pipeline.errors import StoreError
from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import CATALOG, run_view
from pipeline.storage.sql.viewspec import Unit, View

__all__ = ["COOKIE", "BoardMetrics", "BoardOptions", "board_app", "parse_filter"]

log = logging.getLogger(__name__)

DEFAULT_WINDOW = "7d"
COOKIE = "serambi_board"
_QUERY_KEYS = {"window", "since", "until", "agency", "platform", "tier", "limit"}
_MAX_VALUES = 200  # ids per filter: more is no person's choice
_MAX_VALUE_CHARS = 200
_MAX_LIMIT = 1000
_DIGITS = {Unit.RATIO: 6, Unit.SECONDS: 3}  # as serambi report rounds them, so both print the same numbers
_PAGES = {"/": "index.html", "/agency/{agency_id}": "agency.html"}
_SECURITY_HEADERS = {
    # Only this origin, no inline script: a value that slipped into the page could not run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class BoardOptions:
    """What the board needs besides the store: the default SLA, its refresh period and the token (``""``: none).

    ``allowed_hosts`` are the host names the board answers to without a token, beyond the loopback ones.
    """

    default_sla_hours: float = 24.0
    refresh_seconds: float = 15.0
    token: str = field(default="", repr=False)
    thresholds: ClassThresholds = field(default_factory=ClassThresholds)
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> BoardOptions:
        """The board's options from the process settings."""
        return cls(
            default_sla_hours=settings.sla_hours,
            refresh_seconds=settings.board_refresh_seconds,
            token=settings.api_token.get_secret_value(),
            allowed_hosts=frozenset({settings.board_host}),
        )


def parse_filter(query: MultiMapping[str], now: datetime, options: BoardOptions) -> tuple[ViewFilter, str | None]:
    """The :class:`ViewFilter` a URL's query asks for, and its window's name; ``ValueError`` says what is wrong.

    ``window`` (``24h``, ``7d``, ``30d``, ``90d``; default ``7d``) or ``since`` [and ``until``] as ISO-8601
    instants with an offset; ``agency``, ``platform``, ``tier`` repeated for several; ``limit`` for lists.
    """
    unknown = sorted(set(query) - _QUERY_KEYS)
    if unknown:
        msg = f"unknown parameter {unknown[0]!r}: use {', '.join(sorted(_QUERY_KEYS))}"
        raise ValueError(msg)
    name = query.get("window")
    if name is not None and ("since" in query or "until" in query):
        msg = "window replaces since/until: give one or the other"
        raise ValueError(msg)
    if "until" in query and "since" not in query:
        msg = "until needs a since"
        raise ValueError(msg)
    if "since" in query:
        since = _instant(query["since"], "since")
        until = _instant(query["until"], "until") if "until" in query else now
    else:
        name = name or DEFAULT_WINDOW
        if name not in REPORT_WINDOWS:
            msg = f"unknown window {name!r}: use one of {', '.join(REPORT_WINDOWS)}"
            raise ValueError(msg)
        since, until = now - REPORT_WINDOWS[name], now
    wanted = ViewFilter(
        since,
        until,
        agencies=_values(query, "agency"),
        platforms=_values(query, "platform"),
        tiers=_values(query, "tier"),
        default_sla_hours=options.default_sla_hours,
        limit=_limit(query.get("limit")),
    )
    return wanted, name


def _instant(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))  # a '+' in a URL arrives as a space
    except ValueError:
        msg = f"{what} {text!r} is not an ISO-8601 time, e.g. 2026-11-05T08:00:00Z"
        raise ValueError(msg) from None
    if moment.tzinfo is None:
        msg = f"{what} {text!r} needs an offset or Z: an instant without one is ambiguous"
        raise ValueError(msg)
    return moment.astimezone(UTC)


def _values(query: MultiMapping[str], key: str) -> tuple[str, ...]:
    chosen = tuple(query.getall(key, ()))
    if len(chosen) > _MAX_VALUES or any(len(value) > _MAX_VALUE_CHARS for value in chosen):
        msg = f"at most {_MAX_VALUES} {key} values of {_MAX_VALUE_CHARS} characters each"
        raise ValueError(msg)
    return chosen


def _limit(text: str | None) -> int:
    if text is None:
        return 100
    if not text.isdigit() or not 1 <= int(text) <= _MAX_LIMIT:
        msg = f"limit must be a whole number from 1 to {_MAX_LIMIT}, not {text!r}"
        raise ValueError(msg)
    return int(text)


def _json_value(unit: Unit, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if unit in _DIGITS:
        return round(float(value), _DIGITS[unit])
    if unit is Unit.TIME and isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # ClickHouse instants are UTC
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if unit is Unit.URL:
        # A link the page renders as <a href>: only the web's schemes, never javascript: or data:.
        return value if str(value).startswith(("https://", "http://")) else None
    return value


def _rows(spec: View, result_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{c.name: _json_value(c.unit, row.get(c.name)) for c in spec.columns} for row in result_rows]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body, default=str), status=status, content_type="application/json")


def _static_files() -> dict[str, bytes]:
    """Every file of ``static/`` by its path below it, read once: a URL can only name one of these."""
    found: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            path = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, f"{path}/")
            elif not child.name.startswith(".") and child.name != "__init__.py":
                found[path] = child.read_bytes()

    walk(files("pipeline.web") / "static", "")
    return found


class _Board:
    """The routes of :func:`board_app` over one engine and database."""

    def __init__(
        self, engine: QueryEngine, database: str, options: BoardOptions, clock: Callable[[], datetime]
    ) -> None:
        self.engine, self.database, self.options, self.clock = engine, database, options, clock
        self.static = _static_files()

    def page(self, name: str) -> Handler:
        """A handler answering the HTML page ``name`` (the page reads what it shows from the URL itself)."""

        async def answer(_: web.Request) -> web.Response:
            return web.Response(body=self.static[name], content_type="text/html", charset="utf-8")

        return answer

    async def health(self, _: web.Request) -> web.Response:
        """Liveness: the process serves requests (whatever ClickHouse does)."""
        return _json({"status": "ok"}, 200)

    async def ready(self, _: web.Request) -> web.Response:
        """Readiness: ClickHouse answers a query, so the pages can show data (503 with the reason if not)."""
        try:
            await asyncio.to_thread(self.engine.query, "SELECT 1", read_only=True)
        except Exception as exc:  # any failure: not ready, and why (no data, no secret in it)
            return _json({"status": "not ready", "reason": f"ClickHouse: {type(exc).__name__}"}, 503)
        return _json({"status": "ready"}, 200)

    async def asset(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if path not in self.static or path.endswith(".html"):
            return _json({"error": f"no file {path}"}, 404)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return web.Response(body=self.static[path], content_type=kind)

    async def meta(self, _: web.Request) -> web.Response:
        views = [
            {
                "name": spec.name,
                "title": spec.title,
                "audience": spec.audience.value,
                "description": spec.description,
                "columns": [{"name": c.name, "unit": c.unit.value, "help": c.help} for c in spec.columns],
            }
            for spec in CATALOG.values()
        ]
        return _json(
            {
                "windows": list(REPORT_WINDOWS),
                "default_window": DEFAULT_WINDOW,
                "refresh_seconds": self.options.refresh_seconds,
                "default_sla_hours": self.options.default_sla_hours,
                "thresholds": asdict(self.options.thresholds),
                "views": views,
            }
        )

    async def view(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in CATALOG:
            return _json({"error": f"no view {name!r}: one of {', '.join(CATALOG)}"}, 404)
        now = self.clock()
        try:
            wanted, window = parse_filter(request.query, now, self.options)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            result = await asyncio.to_thread(run_view, self.engine, self.database, name, wanted)
        except StoreError as exc:
            log.error("board: view %s failed: %s", name, exc)
            return _json({"error": f"view {name} failed; the log of the stack has the reason"}, 500)
        spec = CATALOG[name]
        return _json(
            {
                "view": name,
                "title": spec.title,
                "window": {
                    "name": window,
                    "since": _json_value(Unit.TIME, wanted.since),
                    "until": _json_value(Unit.TIME, wanted.until),
                },
                "columns": [{"name": c.name, "unit": c.unit.value, "help": c.help} for c in spec.columns],
                "rows": _rows(spec, result.dicts()),
                "generated_at": _json_value(Unit.TIME, now),
            }
        )


# Liveness, readiness and Prometheus: open (no token, any Host), and they say nothing about the data.
_PROBES = frozenset({"/health", "/ready", "/metrics"})


class BoardMetrics:
    """The board's own metrics: requests by route and status class, and how long they took.

    Labels are bounded: the route is the application's route template (``/api/views/{name}``), never the URL.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "serambi_board_requests", "Board HTTP requests by route and status class.", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "serambi_board_request_seconds", "Board HTTP request duration by route.", ["route"], registry=self.registry
        )

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request."""
        route = request.match_info.route.resource
        template = route.canonical if route is not None else "unmatched"
        self.requests.labels(template, f"{status // 100}xx").inc()
        self.seconds.labels(template).observe(seconds)


def _guard(options: BoardOptions, metrics: BoardMetrics) -> Middleware:
    """Middleware: the token (or a loopback Host without one), JSON errors, the security headers, the metrics."""
    token = options.token.encode()

    def holds_token(request: web.Request) -> bool:
        given = [request.headers.get("Authorization", "").encode(), request.cookies.get(COOKIE, "").encode()]
        wanted = [b"Bearer " + token, token]
        # Constant-time compares: the answer time tells nothing about a token's prefix.
        return any(hmac.compare_digest(g, w) for g, w in zip(given, wanted, strict=True))

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        if request.path in _PROBES:  # orchestrators probe without a token, by the pod's address
            response = await handler(request)
        else:
            response = await _admitted(request, handler, options, token, holds_token)
        response.headers.update(_SECURITY_HEADERS)
        metrics.observe(request, response.status, time.perf_counter() - started)
        return response

    return guard


async def _admitted(
    request: web.Request,
    handler: Handler,
    options: BoardOptions,
    token: bytes,
    holds_token: Callable[[web.Request], bool],
) -> web.StreamResponse:
    if token and "token" in request.query:
        if not hmac.compare_digest(request.query["token"].encode(), token):
            return _json({"error": "wrong token: open the board with ?token=<SERAMBI_API_TOKEN>"}, 401)
        # The cookie from now on; the token leaves the address bar (and the browser's history).
        clean = request.rel_url.with_query([(k, v) for k, v in request.query.items() if k != "token"])
        response = web.Response(status=303, headers={"Location": str(clean)})
        response.set_cookie(COOKIE, token.decode(), httponly=True, samesite="Strict", path="/")
        return response
    if token and not holds_token(request):
        msg = "the board needs SERAMBI_API_TOKEN: open it once with ?token=<token>, or send Authorization: Bearer"
        return _json({"error": msg}, 401)
    if not token and not _loopback_host(request.host, options.allowed_hosts):
        return _json({"error": "the board answers on loopback names only (set SERAMBI_API_TOKEN to open it)"}, 421)
    try:
        return await handler(request)
    except web.HTTPException as exc:  # aiohttp's own 404 and 405: JSON like ours
        return _json({"error": exc.reason}, exc.status)


def _loopback_host(host: str, allowed: frozenset[str]) -> bool:
    # A page of another site whose name was re-pointed at 127.0.0.1 sends its own name: refuse it.
    try:
        name = URL(f"http://{host}").host or ""
    except ValueError:
        return False
    if name == "localhost" or name in allowed:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def board_app(
    engine: QueryEngine,
    database: str,
    options: BoardOptions | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    metrics: BoardMetrics | None = None,
) -> web.Application:
    """The board as an aiohttp application over ``engine`` (read-only queries) and ``database``.

    Routes (GET only): ``/``, ``/agency/{id}``, ``/static/{path}``, ``/api/meta`` (windows, refresh period,
    class thresholds, the catalog's views and columns), ``/api/views/{name}`` (``{"view", "title", "window",
    "columns", "rows", "generated_at"}``; errors are ``{"error": ...}`` with 400, 401, 404, 421 or 500),
    ``/health`` and ``/ready`` (open probes: the process, and ClickHouse answering), ``/metrics`` (open:
    ``serambi_board_requests_total`` and ``serambi_board_request_seconds`` by route template).
    """
    options = options or BoardOptions()
    board = _Board(engine, database, options, clock)
    metrics = metrics or BoardMetrics()
    app = web.Application(middlewares=[_guard(options, metrics)])
    for path, page in _PAGES.items():
        app.router.add_get(path, board.page(page))
    app.router.add_get("/static/{path:.+}", board.asset)
    app.router.add_get("/api/meta", board.meta)
    app.router.add_get("/api/views/{name}", board.view)
    app.router.add_get("/health", board.health)
    app.router.add_get("/ready", board.ready)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", prometheus)
    return app
