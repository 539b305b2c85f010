"""HTTP for polling connectors: one small client interface, a urllib3 implementation, and the response.

Connectors take an :class:`HttpClient` (injected), so tests point them at a loopback server speaking the
platform's documented wire format. The client never retries by itself and never raises on an HTTP status: each
connector reads the platform's own rate-limit and error signals from the :class:`HttpResponse` and decides
(``Retry(after=...)``, an :class:`~connectors.core.errors.AccountError`, or a page). A network failure (refused,
reset, timeout) is an :class:`~connectors.core.errors.Unreachable`: transient, retried with back-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
import urllib3

from connectors.core.errors import Unreachable

__all__ = ["HttpClient", "HttpResponse", "Urllib3Client"]


@dataclass(frozen=True)
class HttpResponse:
    """A platform's answer: status, headers (names lower-case) and raw body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` (orjson's) when it is not JSON."""
        return orjson.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header by its (case-insensitive) name."""
        return self.headers.get(name.lower())


class HttpClient(Protocol):
    """What a polling connector needs of HTTP: a GET with query parameters and headers."""

    def get(
        self, url: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """GET ``url`` (``params`` appended as a query string); raise :class:`Unreachable` on a network failure."""


class Urllib3Client:
    """The production :class:`HttpClient` on urllib3 (already installed with clickhouse-connect).

    Args:
        timeout_seconds: connect and read timeout of one request (default 30 s).
        user_agent: sent with every request.
    """

    def __init__(self, *, timeout_seconds: float = 30.0, user_agent: str = "serambi-connector/1") -> None:
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds), retries=False
        )
        self._user_agent = user_agent

    def get(
        self, url: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """GET ``url``; a network failure is :class:`Unreachable` (the URL is named, never its query: tokens)."""
        full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
        sent = {"User-Agent": self._user_agent, **(headers or {})}
        try:
            response = self._pool.request("GET", full, headers=sent, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            base = url.split("?", 1)[0]
            msg = f"{base}: {type(exc).__name__}"
            raise Unreachable(msg) from exc
        names = {name.lower(): value for name, value in response.headers.items()}
        return HttpResponse(response.status, response.data, names)
