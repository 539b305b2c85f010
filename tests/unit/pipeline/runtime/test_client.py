from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from pydantic import SecretStr

from pipeline.errors import StoreError
from pipeline.runtime.client import StackClient
from schemas.agency import Account, Agency


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.headers.get("Authorization"))
        ok = self.headers.get("Authorization") == "Bearer s3cret"
        body = b'{"registered": ["acme"]}' if ok else b'{"error": "needs a token"}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_register_sends_the_token_as_bearer_and_reports_refusals(url: str) -> None:
    agency = Agency(id="acme", name="Acme", tier="federal", accounts=(Account(platform="x", account_id="Acme"),))
    StackClient(url, token=SecretStr("s3cret")).register([agency])
    with pytest.raises(StoreError, match="needs a token"):
        StackClient(url).register([agency])
    assert _Recorder.seen[-2:] == ["Bearer s3cret", None]
