"""The web board's HTTP server: the aiohttp application of :mod:`pipeline.web.board` in a background thread.

It runs on its own event loop, so the board's requests never wait on the stack's loop (nor the worker on
them); its queries run in that loop's threads. The socket is bound first, so a busy port is said at once.

Example::

    server = serve_board(settings, store, store.database)  # prints nothing; server.describe() says where
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading

from aiohttp import web

from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.storage.query import QueryEngine
from pipeline.web.board import BoardOptions, board_app

__all__ = ["BoardServer", "serve_board"]

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


def _bind(host: str, port: int, *, fallback: bool, what: str, setting: str) -> tuple[socket.socket, bool]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family), False
    except OSError as exc:
        if port == 0 or not fallback:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            msg = (
                f"the {what} cannot listen on {host}:{port} ({reason}): set {setting} to a free port "
                "(0 = any free port), or stop what uses it"
            )
            raise ConfigError(msg) from None
    return socket.create_server((host, 0), family=family), True


class BoardServer:
    """Serves an aiohttp application in a background thread with its own event loop.

    The socket is bound at construction (a busy port fails at once with a :class:`ConfigError` naming
    ``setting`` (default ``SERAMBI_BOARD_PORT``), or with ``fallback`` takes a free port and says so in
    :meth:`describe`). ``what`` names the server in messages (default "web board"; the webhook ingress uses it too).
    """

    def __init__(  # noqa: PLR0913 - a server's whole context, keyword-only after the address
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fallback: bool = False,
        token_required: bool = False,
        what: str = "web board",
        setting: str = "SERAMBI_BOARD_PORT",
    ) -> None:
        self._app, self._wanted_port, self._token_required = app, port, token_required
        self._what, self._setting = what, setting
        self._sock, self.fell_back = _bind(host, port, fallback=fallback, what=what, setting=setting)
        self._address: tuple[str, int] = self._sock.getsockname()[:2]  # the socket closes at stop()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"serambi-{what.replace(' ', '-')}", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The board's address, e.g. ``http://127.0.0.1:8780/``."""
        host, port = self._address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def describe(self) -> str:
        """One line for the user: where the board is, and why not on the configured port if it is not."""
        line = f"board: {self.url}"
        if self._token_required:
            line += " (open it once with ?token=<SERAMBI_API_TOKEN>)"
        return line + self.fallback_note()

    def fallback_note(self) -> str:
        """`` (port N is in use; ...)`` when the server took another port than the configured one, else ``""``."""
        if not self.fell_back:
            return ""
        return f" (port {self._wanted_port} is in use; set {self._setting} to choose another)"

    def start(self) -> BoardServer:
        """Start serving; raises what the server's start-up raised."""
        self._thread.start()
        self._ready.wait(_START_TIMEOUT_S)
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_STOP_TIMEOUT_S)
        elif not self._thread.ident:
            self._sock.close()  # never started

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        # A request still running at stop() gets a few seconds, bounded anyway by stop()'s join.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=_STOP_TIMEOUT_S / 2)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, self._sock).start())
        except BaseException as exc:  # handed to start(), which raises it in the caller's thread
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()


def serve_board(settings: Settings, engine: QueryEngine, database: str, *, fallback: bool = False) -> BoardServer:
    """Start the board of ``settings`` (``SERAMBI_BOARD_HOST``/``_PORT``) over ``engine``; see :class:`BoardServer`."""
    options = BoardOptions.of(settings)
    app = board_app(engine, database, options)
    server = BoardServer(
        app, settings.board_host, settings.board_port, fallback=fallback, token_required=bool(options.token)
    )
    return server.start()
