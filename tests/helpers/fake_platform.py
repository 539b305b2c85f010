"""A loopback HTTP server that speaks a platform's documented wire format, scripted by the test.

Social platforms' APIs cannot run here, so connector tests talk to this server instead: real HTTP on 127.0.0.1
(a real socket, real headers, chunked bodies), with answers the test scripts from the documented payloads.

- :meth:`FakePlatform.script` queues answers for ``GET path`` (status, JSON or bytes body, headers); each request
  takes the next one, the last one repeats. Requests are recorded (:attr:`FakePlatform.requests`).
- :meth:`FakePlatform.stream` serves a chunked body (JSON lines, server-sent events) from a list of chunks; a chunk
  :data:`DROP` ends the connection abruptly (a dropped stream) and ``None`` waits until :meth:`release` is called.
- :meth:`FakePlatform.websocket` serves websocket text frames the same way.
- :meth:`FakePlatform.respond` answers ``path`` with a function of the request's query (a stateful platform, e.g.
  pages chosen by their page token); the function runs on a worker thread and may block (a platform that hangs).

Example::

    with FakePlatform() as platform:
        platform.script("/v1/items", Answer(200, {"items": [], "next": "abc"}), Answer(429, {}, {"Retry-After": "3"}))
        client = Urllib3Client()
        client.get(platform.url("/v1/items"))
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = ["DROP", "Answer", "FakePlatform", "Seen"]

DROP = b"\x00DROP"
"""A stream chunk that ends the connection abruptly."""


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, a JSON-able body (or raw bytes) and headers."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def bytes(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else orjson.dumps(self.body)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakePlatform:
    """The server; use as a context manager (it binds a free loopback port)."""

    def __init__(self) -> None:
        self._answers: dict[str, list[Answer]] = {}
        self._streams: dict[str, list[Sequence[bytes | None]]] = {}
        self._sockets: dict[str, list[Sequence[str | bytes | None]]] = {}
        self._responders: dict[str, Callable[[dict[str, str]], Answer]] = {}
        self.requests: list[Seen] = []
        self._gate = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="fake-platform", daemon=True)
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "") -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str = "") -> str:
        """``ws://127.0.0.1:<port><path>``."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        """Queue ``answers`` for ``GET path`` (after those already queued); the last one repeats."""
        self._answers.setdefault(path, []).extend(answers)

    def stream(self, path: str, *connections: Sequence[bytes | None]) -> None:
        """Each connection to ``path`` gets the next list of chunks (``DROP`` drops it, ``None`` waits)."""
        self._streams.setdefault(path, []).extend(connections)

    def websocket(self, path: str, *connections: Sequence[str | bytes | None]) -> None:
        """Each websocket connection to ``path`` gets the next list of text frames (``DROP`` closes abruptly)."""
        self._sockets.setdefault(path, []).extend(connections)

    def respond(self, path: str, answer: Callable[[dict[str, str]], Answer]) -> None:
        """Answer every request for ``path`` with ``answer(query)`` (it may block: it runs off the server's loop)."""
        self._responders[path] = answer

    def release(self) -> None:
        """Let every stream waiting on a ``None`` chunk go on."""
        self._gate.set()

    def seen(self, path: str) -> list[Seen]:
        """The requests received for ``path``, in order."""
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> FakePlatform:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._gate.set()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _record(self, request: web.Request) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Seen(request.method, request.path, dict(request.query), headers))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        path = request.path
        if path in self._sockets:
            return await self._ws(request, path)
        if path in self._streams:
            return await self._chunks(request, path)
        if path in self._responders:
            query = dict(request.query)
            answer = await asyncio.get_running_loop().run_in_executor(None, self._responders[path], query)
            return web.Response(status=answer.status, body=answer.bytes(), headers=dict(answer.headers))
        answers = self._answers.get(path)
        if not answers:
            return web.Response(status=404, text=f"nothing scripted for {path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=answer.status, body=answer.bytes(), headers=dict(answer.headers))

    async def _chunks(self, request: web.Request, path: str) -> web.StreamResponse:
        queue = self._streams[path]
        chunks = queue.pop(0) if len(queue) > 1 else queue[0]
        response = web.StreamResponse(status=200)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in chunks:
            if chunk is None:
                await asyncio.get_running_loop().run_in_executor(None, self._gate.wait, 30)
                continue
            if chunk == DROP:
                assert request.transport is not None
                request.transport.abort()  # the connection breaks mid-stream
                return response
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _ws(self, request: web.Request, path: str) -> web.StreamResponse:
        queue = self._sockets[path]
        frames = queue.pop(0) if len(queue) > 1 else queue[0]
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        for frame in frames:
            if frame is None:
                await asyncio.get_running_loop().run_in_executor(None, self._gate.wait, 30)
                continue
            if frame == DROP:
                assert request.transport is not None
                request.transport.abort()
                return socket_
            await socket_.send_str(frame.decode() if isinstance(frame, bytes) else frame)
        await socket_.close()
        return socket_

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.SockSite(runner, self._sock).start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()
