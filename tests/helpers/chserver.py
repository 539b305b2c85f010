"""A ClickHouse HTTP server backed by chDB, so several test processes can share one ClickHouse database.

No ClickHouse server can run on this machine; chDB (ClickHouse's engine in-process, one process per data dir)
can. This process owns the chDB data dir and answers ClickHouse's HTTP interface well enough for
clickhouse-connect's HTTP client and for :class:`pipeline.storage.store.Store` with an ``http://`` URL::

    with clickhouse_server(tmp_path / "ch") as url:  # "http://127.0.0.1:PORT/"
        client = clickhouse_connect.get_client(dsn=url)

By hand: ``python -m tests.helpers.chserver --path DIR --port 0`` prints ``chserver listening on URL`` once it
answers; SIGTERM stops it cleanly and a later server can open the same data dir.

What runs for real, in ClickHouse's own engine: every query, DDL statement and insert; bound ``param_<name>``
values (URL or multipart form); settings given as URL parameters (an unknown one fails as on a server);
``readonly=1/2`` and GET requests (readonly as on a server) refuse writes with ``READONLY``; output in the SQL's
``FORMAT`` or ``default_format`` (TabSeparated); errors as ``Code: N. DB::Exception: ... (NAME)`` with
``X-ClickHouse-Exception-Code`` and ClickHouse's HTTP status; request bodies in ``Content-Encoding`` lz4, zstd,
gzip or deflate, and (with ``enable_http_compression=1``) answers in the first of those the client accepts.

Where it differs from a server (chDB has no users, no sessions, no native protocol):

- Access control is parsed, not enforced: CREATE/ALTER/DROP USER, ROLE, SETTINGS PROFILE, QUOTA, ROW POLICY,
  GRANT, REVOKE and SET ROLE must pass ClickHouse's parser (``formatQuery``) and then answer success without
  effect. Any user name and password are accepted and every user may do everything (``readonly`` still works).
- No HTTP sessions: ``session_id`` is ignored, and ``SET``/``USE`` are refused (pass settings and ``database`` as
  URL parameters), so a request can never change the settings of another one.
- Refused with NOT_IMPLEMENTED: external data tables and ClickHouse's block compression (``compress=1``,
  ``decompress=1``). ``client_protocol_version`` is ignored (clickhouse-connect then reads plain Native).
- A request line (URL) may hold 64 KiB (Python's http.server; ClickHouse allows 1 MiB): longer bound values
  belong in the body, where clickhouse-connect's ``query`` puts them past 4 KiB (multipart form).
- One lock serialises the chDB calls: statements run one at a time; reading bodies, (de)compression and
  parsing run outside it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import lz4.frame  # type: ignore[import-untyped]
from backports import zstd

__all__ = ["ChServer", "ClickHouseError", "Engine", "clickhouse_server", "main"]

_ROOT = Path(__file__).resolve().parents[2]
# URL parameters that steer the HTTP layer; every other one is a ClickHouse setting.
_TRANSPORT_NAMES = """query database default_format query_id session_id session_timeout session_check
wait_end_of_query send_progress_in_http_headers http_headers_progress_interval_ms enable_http_compression
cancel_http_readonly_queries_on_client_close http_write_exception_in_output_format client_protocol_version
buffer_size http_response_buffer_size quota_key role user password compress decompress"""
_TRANSPORT = frozenset(_TRANSPORT_NAMES.split())
# ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp: "status ERROR_NAME ..." (everything else is 500).
_STATUS_TABLE = """
401 REQUIRED_PASSWORD
403 UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE ACCESS_DENIED
400 BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE CANNOT_PARSE_QUOTED_STRING
400 CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
400 CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN
400 ILLEGAL_COLUMN UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST
400 UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
404 UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE UNKNOWN_SETTING
404 UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE
404 UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE
413 QUERY_IS_TOO_LARGE
501 NOT_IMPLEMENTED
503 SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK
411 HTTP_LENGTH_REQUIRED
408 TIMEOUT_EXCEEDED
415 UNSUPPORTED_MEDIA_TYPE
"""
_STATUS_OF = {name: int(line.split()[0]) for line in _STATUS_TABLE.strip().splitlines() for name in line.split()[1:]}
_CONTENT_TYPES = (
    (re.compile(r"^(TabSeparated|TSV)", re.I), "text/tab-separated-values; charset=UTF-8"),
    (re.compile(r"^CSV", re.I), "text/csv; charset=UTF-8; header=absent"),
    (re.compile(r"^JSON", re.I), "application/json; charset=UTF-8"),
    (re.compile(r"^(Native|RowBinary|Arrow|Parquet|ORC|Avro|MsgPack|Protobuf)", re.I), "application/octet-stream"),
)
_ENCODERS = {
    "lz4": lz4.frame.compress,
    "zstd": zstd.compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<comment>--[^\n]*|\#[\s!][^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^'\\]|\\.|'')*')
    | (?P<ident>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")
_RESULT_WORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "("})
_ACCESS_OBJECTS = frozenset({"USER", "ROLE", "QUOTA", "ROW", "POLICY", "SETTINGS", "PROFILE"})
_INSERT_HEAD_BYTES = 1 << 20  # an INSERT's statement ends within its first MiB; the rest is data


class ClickHouseError(Exception):
    """An error as ClickHouse reports it: ``Code: N. DB::Exception: ... (NAME)``."""

    def __init__(self, code: int, name: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text

    @classmethod
    def of(cls, code: int, name: str, message: str) -> ClickHouseError:
        """An error this server raises itself (``message`` without the ``Code:`` prefix)."""
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        """chDB's exception text, from its ``Code:`` on (chDB prefixes some with its own words)."""
        text = str(exc)
        start = text.find("Code: ")
        text = text[start:].strip() if start >= 0 else f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
        code = re.match(r"Code: (\d+)", text)
        names = re.findall(r"\(([A-Z][A-Z0-9_]{2,})\)", text)
        return cls(int(code.group(1)) if code else 1001, names[-1] if names else "STD_EXCEPTION", text)

    @property
    def status(self) -> int:
        """The HTTP status ClickHouse answers this error with."""
        return _STATUS_OF.get(self.name, 500)


class Engine:
    """chDB in one data dir: one connection per (database, settings), every call under one lock.

    A connection keeps its settings (``SET`` once, when it is opened), so a request pays no settings round trip
    and no request can see another's settings. ``readonly`` is set last: it forbids changing settings after it.
    """

    def __init__(self, path: Path, *, max_connections: int = 32) -> None:
        import chdb

        self._path = str(path)
        self._chdb: Any = chdb
        self._lock = threading.Lock()
        self._max = max_connections
        self._connections: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Any] = OrderedDict()
        self._closed = False
        # The base connection holds the engine (and the data dir's lock) for the server's lifetime.
        self._base = self._chdb.connect(self._path)
        first = self._base.query("SELECT version(), timezone()", "TabSeparated").bytes().decode()
        self.version, self.timezone = first.split()

    def query(self, sql: str, fmt: str, params: Mapping[str, str], database: str, settings: Mapping[str, str]) -> Any:
        """Run one statement; the chDB result (``bytes()``, ``rows_read()``, ...)."""
        with self._lock:
            conn = self._connection(database, settings)
            try:
                return conn.query(sql, fmt, params=dict(params))
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None

    def insert(self, header: str, fmt: str, data: bytes, database: str, settings: Mapping[str, str]) -> Any:
        """``header`` (``INSERT INTO t (cols) [SETTINGS ...]``) with ``data`` in ``fmt``; chDB's insert result."""
        with self._lock:
            conn = self._connection(database, settings)
            try:
                inserter = conn.send_insert(header, fmt)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            try:
                if data:
                    inserter.append(data)
                return inserter.finish()
            except Exception as exc:
                with suppress(Exception):  # the engine's own error is the one to report
                    inserter.cancel()
                raise ClickHouseError.from_engine(exc) from None

    def check_parses(self, sql: str) -> None:
        """Raise ClickHouse's SYNTAX_ERROR unless its parser accepts ``sql`` (placeholders included)."""
        with self._lock:
            self._check_open()
            try:
                self._base.query("SELECT formatQuery({q:String})", "TabSeparated", params={"q": _escape(sql)})
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None

    def close(self) -> None:
        """Close every connection (after the running call); the data dir is then free for another process."""
        with self._lock:
            self._closed = True
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()
            self._base.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClickHouseError.of(210, "NETWORK_ERROR", "the server is shutting down")

    def _connection(self, database: str, settings: Mapping[str, str]) -> Any:
        # The caller holds the lock.
        self._check_open()
        key = (database, tuple(sorted(settings.items())))
        conn = self._connections.get(key)
        if conn is not None:
            self._connections.move_to_end(key)
            return conn
        conn = self._chdb.connect(self._path)
        try:
            conn.query(f"USE {_quote_name(database)}", "TabSeparated")
            for name, value in sorted(settings.items(), key=lambda item: item[0] == "readonly"):
                conn.query(f"SET {name} = {_quote_value(value)}", "TabSeparated")
        except Exception as exc:
            conn.close()
            raise ClickHouseError.from_engine(exc) from None
        self._connections[key] = conn
        if len(self._connections) > self._max:
            self._connections.popitem(last=False)[1].close()
        return conn


@dataclass
class Statement:
    """What the HTTP layer needs to know of one statement before chDB runs it."""

    kind: str  # "insert_data" | "access" | "session" | "sql"
    sql: str = ""  # the statement (for insert_data: its head, up to FORMAT)
    fmt: str | None = None  # the FORMAT clause's format name, if any
    data_at: int = 0  # insert_data: where the data starts in the request's text
    result: bool = False  # it answers with a result set (X-ClickHouse-Format)


@dataclass
class Request:
    """One HTTP query request, decoded: URL parameters, headers and the (decompressed) body."""

    method: str
    params: dict[str, str]
    headers: Message
    body: bytes
    bound: dict[str, str] = field(default_factory=dict)

    @classmethod
    def decode(cls, method: str, query_string: str, headers: Message, body: bytes) -> Request:
        """Split the URL parameters, decompress the body and read a multipart form's fields."""
        params = dict(parse_qsl(query_string, keep_blank_values=True))
        for name in ("compress", "decompress"):
            if params.get(name, "0") not in ("0", "false", ""):
                msg = f"'{name}=1' (ClickHouse's block compression) is not supported by this test server"
                raise ClickHouseError.of(48, "NOT_IMPLEMENTED", msg)
        body = _decompress(body, headers.get("Content-Encoding", ""))
        content_type = headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            params.update(_form_fields(body, content_type))
            body = b""
        bound = {name.removeprefix("param_"): value for name, value in params.items() if name.startswith("param_")}
        return cls(method, params, headers, body, bound)

    @cached_property
    def text(self) -> bytes:
        """The statement and its data: the ``query`` parameter, a newline, the body (as ClickHouse reads it)."""
        query = self.params.get("query", "")
        return query.encode() + b"\n" + self.body if query else self.body

    @property
    def database(self) -> str:
        """The ``database`` parameter (or ``X-ClickHouse-Database`` header); ``default`` if none."""
        return self.params.get("database") or self.headers.get("X-ClickHouse-Database") or "default"

    @cached_property
    def settings(self) -> dict[str, str]:
        """The ClickHouse settings in the URL; a GET request is readonly=2 unless it asks for 1 (as a server)."""
        found = {k: v for k, v in self.params.items() if k not in _TRANSPORT and not k.startswith("param_")}
        for name in found:
            if not _SETTING_NAME.match(name):
                raise ClickHouseError.of(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
        if self.method == "GET" and found.get("readonly", "0") in ("0", ""):
            found["readonly"] = "2"
        return found

    @property
    def readonly(self) -> bool:
        """Whether writes are refused (``readonly`` 1 or 2)."""
        return self.settings.get("readonly", "0") not in ("0", "")


def analyse(text: bytes) -> Statement:
    """Classify the statement at the start of ``text`` without running it (ClickHouse's lexer rules, roughly)."""
    head = text[:_INSERT_HEAD_BYTES].decode("latin-1")  # one char per byte: offsets stay byte offsets
    tokens = _significant(head)
    first = next(tokens, None)
    if first is None:
        raise ClickHouseError.of(62, "SYNTAX_ERROR", "Empty query")
    if first[0].upper() == "INSERT":
        found = _insert_data(text, head, tokens)
        if found is not None:
            return found
    sql = _utf8(text)
    tokens_of_sql = _statement_tokens(sql)
    words = [value.upper() for value, _, _ in tokens_of_sql]
    access = words[0] in ("GRANT", "REVOKE") or (words[0] == "SET" and words[1:2] in (["ROLE"], ["DEFAULT"]))
    if words[0] in ("CREATE", "ALTER", "DROP"):
        rest = [w for w in words[1:4] if w not in ("OR", "REPLACE", "IF", "NOT", "EXISTS")]
        access = bool(rest) and rest[0] in _ACCESS_OBJECTS
    if access:
        return Statement("access", sql)
    if words[0] in ("SET", "USE"):
        return Statement("session", sql)
    fmt = _trailing_format(tokens_of_sql)
    return Statement("sql", sql, fmt, result=fmt is not None or words[0] in _RESULT_WORDS)


def _significant(text: str, start: int = 0) -> Iterator[tuple[str, int, int]]:
    for match in _TOKEN.finditer(text, start):
        if match.lastgroup not in ("space", "comment"):
            yield match.group(), match.start(), match.end()


def _insert_data(text: bytes, head: str, tokens: Iterator[tuple[str, int, int]]) -> Statement | None:
    # INSERT ... FORMAT name <data>: the data starts after spaces and one line break (ParserInsertQuery).
    depth = 0
    for value, start, _ in tokens:
        depth += {"(": 1, ")": -1}.get(value, 0)
        word = value.upper()
        if depth == 0 and word in ("VALUES", "SELECT", "WITH"):
            return None
        if depth == 0 and word == "FORMAT":
            name = next(tokens, None)
            if name is None or not name[0][:1].isalpha():
                raise ClickHouseError.of(62, "SYNTAX_ERROR", "a format name must follow FORMAT")
            at = name[2]
            while at < len(head) and head[at] in " \t\f":
                at += 1
            at += head.startswith("\r", at)
            at += head.startswith("\n", at)
            return Statement("insert_data", _utf8(text[:start]).strip(), name[0], data_at=at)
    return None


def _statement_tokens(sql: str) -> list[tuple[str, int, int]]:
    # Every token of one statement; ClickHouse's HTTP interface refuses a second one.
    found = list(_significant(sql))
    for index, (value, start, _) in enumerate(found):
        if value == ";" and any(v != ";" for v, _, _ in found[index + 1 :]):
            msg = f"Syntax error (Multi-statements are not allowed): failed at position {start + 1}"
            raise ClickHouseError.of(62, "SYNTAX_ERROR", msg)
    return found


def _trailing_format(tokens: list[tuple[str, int, int]]) -> str | None:
    # The format of ``... FORMAT name [SETTINGS ...][;]`` at the top level (not a column named ``format``).
    depth = 0
    for index, (value, _, _) in enumerate(tokens):
        depth += {"(": 1, ")": -1}.get(value, 0)
        if depth or value.upper() != "FORMAT" or index + 1 >= len(tokens):
            continue
        name, after = tokens[index + 1][0], tokens[index + 2 : index + 3]
        if name[:1].isalpha() and (not after or after[0][0] == ";" or after[0][0].upper() == "SETTINGS"):
            return name
    return None


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"the query is not valid UTF-8 at byte {exc.start}"
        raise ClickHouseError.of(62, "SYNTAX_ERROR", msg) from None


def _escape(value: str) -> str:
    # A String parameter is read in TabSeparated's escaping (as the HTTP interface reads param_ values).
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _quote_name(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_value(value: str) -> str:
    # Quoted always: ClickHouse converts a quoted literal to a numeric setting where needed.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _decompress(body: bytes, encoding: str) -> bytes:
    name = encoding.strip().lower()
    try:
        if name in ("", "identity"):
            return body
        if name == "lz4":
            return _lz4_frames(body)
        if name == "zstd":
            return zstd.decompress(body)
        if name in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if name == "deflate":
            return zlib.decompress(body)
    except Exception as exc:
        msg = f"cannot decompress the request body ({name}): {exc}"
        raise ClickHouseError.of(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", msg) from None
    msg = f"Unknown Content-Encoding of HTTP request: {name} (this test server reads lz4, zstd, gzip, deflate)"
    raise ClickHouseError.of(89, "UNKNOWN_COMPRESSION_METHOD", msg)


def _lz4_frames(body: bytes) -> bytes:
    # clickhouse-connect compresses each block as its own LZ4 frame, one after the other.
    parts = []
    while body:
        frame = lz4.frame.LZ4FrameDecompressor()
        parts.append(frame.decompress(body))
        if not frame.eof:
            msg = "truncated LZ4 frame"
            raise ValueError(msg)
        body = frame.unused_data or b""
    return b"".join(parts)


def _form_fields(body: bytes, content_type: str) -> dict[str, str]:
    # clickhouse-connect sends long bound parameters as a multipart form (query and param_* fields).
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_filename() is not None:
            msg = "external data tables are not supported by this test server"
            raise ClickHouseError.of(48, "NOT_IMPLEMENTED", msg)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8")
    return fields


def _encoding(accept: str) -> str | None:
    # The first encoding of Accept-Encoding this server writes (q=0 means "not this one").
    for item in accept.split(","):
        name, _, options = item.partition(";")
        quality = re.search(r"q\s*=\s*([0-9.]+)", options)
        if name.strip().lower() in _ENCODERS and not (quality and float(quality.group(1)) == 0):
            return name.strip().lower()
    return None


@dataclass
class Answer:
    """An HTTP answer: status, headers and body."""

    status: int
    body: bytes
    headers: dict[str, str]


class ChServer(ThreadingHTTPServer):
    """The threaded HTTP server; one :class:`Engine` (and its lock) behind every request."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self.display_name = socket.gethostname()

    @property
    def url(self) -> str:
        """``http://host:port/`` of this server."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"

    def execute(self, request: Request) -> Answer:
        """Run one decoded request; raise :class:`ClickHouseError` as ClickHouse would."""
        statement = analyse(request.text)
        if statement.kind == "insert_data":
            data = request.text[statement.data_at :]
            assert statement.fmt is not None
            result = self.engine.insert(statement.sql, statement.fmt, data, request.database, request.settings)
            summary = {"written_rows": result.rows_written, "written_bytes": result.bytes_written}
            return Answer(200, b"", self._headers(request, summary, result.elapsed))
        if statement.kind == "session":
            msg = (
                "SET and USE need an HTTP session, which this test server does not keep: "
                "pass settings and the database as URL parameters"
            )
            raise ClickHouseError.of(48, "NOT_IMPLEMENTED", msg)
        if statement.kind == "access":
            return self._access(request, statement.sql)
        fmt = statement.fmt or request.params.get("default_format") or "TabSeparated"
        result = self.engine.query(statement.sql, fmt, request.bound, request.database, request.settings)
        summary = {
            "read_rows": result.rows_read(),
            "read_bytes": result.bytes_read(),
            "written_rows": result.rows_written(),
            "written_bytes": result.bytes_written(),
        }
        headers = self._headers(request, summary, result.elapsed())
        if statement.result:
            headers["X-ClickHouse-Format"] = fmt
            headers["Content-Type"] = next((t for p, t in _CONTENT_TYPES if p.match(fmt)), headers["Content-Type"])
        return Answer(200, result.bytes() or b"", headers)

    def _access(self, request: Request, sql: str) -> Answer:
        # chDB has no access control: check the statement as a server's parser would, then answer success.
        if request.readonly:
            raise ClickHouseError.of(164, "READONLY", "Cannot execute query in readonly mode")
        missing = sorted(set(_PLACEHOLDER.findall(sql)) - set(request.bound))
        if missing:
            raise ClickHouseError.of(456, "UNKNOWN_QUERY_PARAMETER", f"Substitution `{missing[0]}` is not set")
        self.engine.check_parses(sql)
        return Answer(200, b"", self._headers(request, {}, 0.0))

    def _headers(self, request: Request, summary: Mapping[str, int], elapsed_s: float) -> dict[str, str]:
        counts = {"read_rows": 0, "read_bytes": 0, "written_rows": 0, "written_bytes": 0, "total_rows_to_read": 0}
        counts.update(summary)
        shown = {name: str(value) for name, value in counts.items()}
        shown["elapsed_ns"] = str(int(elapsed_s * 1e9))
        return {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Server-Display-Name": self.display_name,
            "X-ClickHouse-Query-Id": request.params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": request.settings.get("session_timezone") or self.engine.timezone,
            "X-ClickHouse-Summary": json.dumps(shown, separators=(",", ":")),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    disable_nagle_algorithm = True  # headers and body are two writes; never wait for a delayed ACK between them
    server: ChServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        asks = "query" in dict(parse_qsl(url.query))
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and not asks):
            self._read_body()
            self._send(Answer(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"}))
            return
        self._query("GET")

    def do_POST(self) -> None:
        self._query("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        # One line per request would drown the test output; errors are written by _query.
        return

    def _query(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            self.close_connection = True
            self._send_error(ClickHouseError.of(33, "CANNOT_READ_ALL_DATA", f"cannot read the request body: {exc}"))
            return
        if url.path != "/":
            self._send_error(ClickHouseError.of(1000, "POCO_EXCEPTION", f"There is no handle {url.path}"), 404)
            return
        try:
            request = Request.decode(method, url.query, self.headers, body)
            answer = self.server.execute(request)
        except ClickHouseError as exc:
            self._send_error(exc)
            return
        except Exception as exc:
            traceback.print_exc()
            self._send_error(ClickHouseError.of(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}"))
            return
        # As a server: compressed only when the request enables it, in an encoding the client accepts.
        enabled = request.params.get("enable_http_compression", "0") in ("1", "true")
        encoding = _encoding(self.headers.get("Accept-Encoding", "")) if enabled else None
        if encoding is not None and answer.body:
            answer.body = _ENCODERS[encoding](answer.body)
            answer.headers["Content-Encoding"] = encoding
        self._send(answer)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send_error(self, error: ClickHouseError, status: int | None = None) -> None:
        version = "" if "(version " in error.text else f" (version {self.server.engine.version})"
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        self._send(Answer(status or error.status, f"{error.text}{version}\n".encode(), headers))

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)


def main(argv: list[str] | None = None) -> int:
    """Serve ClickHouse's HTTP interface on the chDB data dir ``--path`` until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.chserver", description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, required=True, help="chDB data dir (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 = any free port (default)")
    args = parser.parse_args(argv)
    args.path.mkdir(parents=True, exist_ok=True)
    engine = Engine(args.path)
    server = ChServer((args.host, args.port), engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="chserver", daemon=True)
    serving.start()
    print(f"chserver listening on {server.url}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    engine.close()
    return 0


@contextmanager
def clickhouse_server(path: Path, *, timeout_s: float = 60.0) -> Iterator[str]:
    """Run the server on the chDB data dir ``path`` in a subprocess; yield its URL once it answers ``/ping``.

    On exit it is stopped with SIGTERM; a server that does not exit 0 fails the test with its stderr.
    Example: ``with clickhouse_server(tmp_path / "ch") as url: Store(load_settings(clickhouse_url=SecretStr(url)))``.
    """
    command = [sys.executable, "-m", "tests.helpers.chserver", "--path", str(path), "--port", "0"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=_ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            url = _wait_ready(process, log, time.monotonic() + timeout_s)
            yield url
        finally:
            code = _stop(process)
        if code != 0:
            msg = f"chserver exited with {code}: {_tail(log)}"
            raise RuntimeError(msg)


def _wait_ready(process: subprocess.Popen[str], log: IO[bytes], deadline: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
    line = process.stdout.readline() if ready else ""
    if not line.startswith("chserver listening on "):
        _stop(process)
        msg = f"chserver did not start within the deadline: {line!r} {_tail(log)}"
        raise RuntimeError(msg)
    url = line.split()[-1]
    while True:  # it listens before it prints; this proves it answers
        try:
            with urllib.request.urlopen(f"{url}ping", timeout=5) as response:
                if response.read() == b"Ok.\n":
                    return url
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-4000:]


if __name__ == "__main__":
    sys.exit(main())
