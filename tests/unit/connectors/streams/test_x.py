"""The X API v2 filtered stream: line splitting, keep-alives, disconnect notices, dropped connections, resume, fuzz.

Fixtures in tests/fixtures/payloads/x_twitter (agency @MOHfictional = 1498765432109876543):

 file                                exercises                                       expected
 v2_filtered_stream.ndjson           citizen reply, agency reply, quote, disconnect  comment, reply, mention + Post
 v2_filtered_stream_raw_capture.txt  the raw bytes with bare CRLF keep-alives         the events, keep-alives skipped
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.contracts import AccountContext, Page, Parsed, Rejected
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.testing import FakeClock, load_payload
from connectors.streams.x import XFilteredStream, parse_stream_line, split_lines
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, Post
from tests.helpers.fake_platform import DROP, Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.polling import (
    X_AGENCY_REPLY,
    X_AGENCY_USER,
    X_CITIZEN,
    X_CITIZEN_REPLY,
    X_DIRECTORY,
    X_OTHER_AGENCY_USER,
    X_POST_ID,
    X_QUOTE,
    X_TOKEN_TEXT,
    account_context,
)
from tests.helpers.webhooks import (
    assert_parsed,
    fuzz_never_raises,
    fuzz_settings,
    json_values,
    mutated,
)

AGENCY_USER, OTHER_AGENCY_USER, CITIZEN = X_AGENCY_USER, X_OTHER_AGENCY_USER, X_CITIZEN
POST_ID, CITIZEN_REPLY, AGENCY_REPLY, QUOTE = X_POST_ID, X_CITIZEN_REPLY, X_AGENCY_REPLY, X_QUOTE
DIRECTORY = X_DIRECTORY


def _context(user: str = AGENCY_USER, agency_id: str = "moh") -> AccountContext:
    return account_context(DIRECTORY, agency_id, Platform.X, datetime(2024, 4, 28, tzinfo=UTC), user)


CONTEXT = _context()
X = PAYLOADS / "x_twitter"
OBJECTS: list[Any] = load_payload(X / "v2_filtered_stream.ndjson")
RAW = (X / "v2_filtered_stream_raw_capture.txt").read_bytes()
LINES = [orjson.dumps(obj) + b"\r\n" for obj in OBJECTS]  # reply, agency reply, quote, disconnect notice
PATH = "/2/tweets/search/stream"
TOKEN = SecretStr(X_TOKEN_TEXT)


def _ids(items: list[Parsed]) -> list[str]:
    return [event.event_id for event in assert_parsed(items)]


# --- the line splitter -------------------------------------------------------------------------------------------


def test_split_lines_keeps_the_unfinished_rest() -> None:
    assert split_lines(b"", b"") == ([], b"")
    assert split_lines(b"", b"\r\n") == ([b""], b"")
    assert split_lines(b'{"a', b'":1}\r\n\r\n{"b') == ([b'{"a":1}', b""], b'{"b')
    assert split_lines(b'{"b', b'":2}\n') == ([b'{"b":2}'], b"")


@fuzz_settings(200)
@given(
    body=st.binary(max_size=300)
    | st.lists(st.sampled_from([*LINES, b"\r\n", b"\r", b"\n", b"x"]), max_size=8).map(b"".join),
    cuts=st.lists(st.integers(0, 300), max_size=8),
)
def test_any_chunking_gives_the_same_lines(body: bytes, cuts: list[int]) -> None:
    points = sorted({min(cut, len(body)) for cut in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    lines: list[bytes] = []
    pending = b""
    for chunk in chunks:
        found, pending = split_lines(pending, chunk)
        lines.extend(found)
    whole, rest = split_lines(b"", body)
    assert (lines, pending) == (whole, rest)
    assert all(b"\n" not in line for line in lines)
    assert b"\n" not in pending
    assert len(lines) == body.count(b"\n")


# --- one line ----------------------------------------------------------------------------------------------------


def test_the_stream_lines_become_events() -> None:
    reply, agency_reply, quote, notice = (parse_stream_line(line.rstrip(), CONTEXT) for line in LINES)
    assert _ids(reply.items) == [f"x:{CITIZEN_REPLY}", f"x:{POST_ID}"]  # the quoted agency post is included
    event = reply.items[0]
    assert isinstance(event, Interaction)
    assert (event.kind, event.root_id, event.source) == (InteractionKind.COMMENT, POST_ID, "stream:x")
    assert isinstance(reply.items[1], Post)
    (answer,) = agency_reply.items
    assert isinstance(answer, Interaction)
    assert (answer.author_role, answer.kind, answer.parent_id) == (
        AuthorRole.AGENCY,
        InteractionKind.REPLY,
        CITIZEN_REPLY,
    )
    assert _ids(quote.items) == [f"x:{QUOTE}", f"x:{POST_ID}"]
    assert quote.newest_id == QUOTE
    assert notice.items == []
    assert notice.disconnect is not None
    assert notice.disconnect.startswith("operational-disconnect: This stream has been disconnected")


def test_keep_alives_and_bad_lines() -> None:
    assert parse_stream_line(b"", CONTEXT) == parse_stream_line(b"  ", CONTEXT)
    assert parse_stream_line(b"", CONTEXT).items == []
    (bad,) = parse_stream_line(b'{"data": {"id": "1"', CONTEXT).items
    assert isinstance(bad, Rejected)
    assert bad.reason.startswith("x stream: line is not JSON")
    (shapeless,) = parse_stream_line(b"[1, 2]", CONTEXT).items
    assert isinstance(shapeless, Rejected)
    assert "not a JSON object" in shapeless.reason


def test_another_agencys_tweets_are_skipped() -> None:
    other = _context(OTHER_AGENCY_USER, "jkm")
    line = LINES[1].rstrip()  # the MOH agency reply to a citizen: nothing to do with JKM
    assert parse_stream_line(line, other).skipped
    assert not parse_stream_line(line, CONTEXT).skipped
    assert parse_stream_line(line, other, roots=[POST_ID]).items  # unless JKM's conversation


_NOISE = json_values(
    st.sampled_from([AGENCY_USER, CITIZEN, POST_ID, "1" * 40]), st.sampled_from(["2024-05-01T10:03:27.000Z"])
)


def _line_items(payload: Any) -> list[Parsed]:
    line = json.dumps(payload).encode()  # not orjson: integers past 64 bits must reach the parser too
    return parse_stream_line(line, CONTEXT, roots=[POST_ID]).items


test_random_lines_never_raise = fuzz_never_raises(_line_items, _NOISE, "x stream")
test_mutated_lines_never_raise = fuzz_never_raises(
    _line_items,
    st.sampled_from(OBJECTS).flatmap(lambda obj: mutated(obj, _NOISE, ("data", "errors", "includes"))),
    "x stream",
)


@fuzz_settings(150)
@given(line=st.binary(max_size=200))
def test_random_bytes_never_raise(line: bytes) -> None:
    assert_parsed(parse_stream_line(line, CONTEXT).items, "x stream")


# --- the stream on a loopback platform ----------------------------------------------------------------------------


def _stream(platform: FakePlatform, **options: Any) -> XFilteredStream:
    return XFilteredStream(
        CONTEXT, credentials=options.pop("credentials", TOKEN), base_url=platform.url(), clock=FakeClock(), **options
    )


def _read(stream: XFilteredStream) -> tuple[list[Page], BaseException | None]:
    async def run() -> tuple[list[Page], BaseException | None]:
        pages: list[Page] = []
        try:
            async for page in stream.pages():
                pages.append(page)
        except Exception as exc:
            return pages, exc
        return pages, None

    return asyncio.run(run())


def _events(pages: list[Page]) -> list[str]:
    return [event for page in pages for event in _ids(list(page.items))]


def test_the_raw_capture_with_keep_alives_in_odd_chunks() -> None:
    chunks = [RAW[i : i + 700] for i in range(0, len(RAW), 700)]
    with FakePlatform() as platform:
        platform.stream(PATH, chunks)
        stream = _stream(platform)
        pages, ended = _read(stream)
        (seen,) = platform.seen(PATH)
    assert ended is None  # the body ended: the runner reconnects
    assert _events(pages) == [f"x:{CITIZEN_REPLY}", f"x:{POST_ID}", f"x:{AGENCY_REPLY}"]
    assert seen.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}"
    assert "conversation_id" in seen.query["tweet.fields"]
    assert "backfill_minutes" not in seen.query
    assert stream.since_id == AGENCY_REPLY
    assert pages[-1].newest == datetime(2024, 5, 1, 10, 7, 45, tzinfo=UTC)


def test_a_dropped_connection_resumes_without_duplicates() -> None:
    half = len(LINES[1]) // 2
    first = [LINES[0], b"\r\n", LINES[1][:half], DROP]
    second = [LINES[0], LINES[1], b"\r\n", LINES[2]]  # X repeats a tweet around the reconnect
    with FakePlatform() as platform:
        platform.stream(PATH, first, second)
        stream = _stream(platform)
        before, dropped = _read(stream)
        assert isinstance(dropped, Unreachable)
        state = orjson.loads(orjson.dumps(stream.snapshot()))
        assert state["newest_id"] == CITIZEN_REPLY
        after, ended = _read(stream)
    assert ended is None
    assert _events(before) == [f"x:{CITIZEN_REPLY}", f"x:{POST_ID}"]
    assert _events(after) == [f"x:{AGENCY_REPLY}", f"x:{QUOTE}"]
    assert stream.since_id == QUOTE
    fresh = XFilteredStream(CONTEXT, credentials=TOKEN)
    fresh.resume(state)
    assert fresh.since_id == CITIZEN_REPLY
    assert fresh.snapshot() == state


def test_a_disconnect_notice_ends_the_connection() -> None:
    with FakePlatform() as platform:
        platform.stream(PATH, [LINES[0], LINES[3], LINES[2]])
        pages, ended = _read(_stream(platform))
    assert ended is None
    assert _events(pages) == [f"x:{CITIZEN_REPLY}", f"x:{POST_ID}"]  # nothing after the notice


def test_silence_is_a_stalled_connection() -> None:
    with FakePlatform() as platform:
        platform.stream(PATH, [LINES[0], None, LINES[1]])
        pages, ended = _read(_stream(platform, read_timeout_seconds=0.3))
        platform.release()
    assert isinstance(ended, Unreachable)
    assert "Timeout" in str(ended)
    assert _events(pages) == [f"x:{CITIZEN_REPLY}", f"x:{POST_ID}"]


def test_an_endless_line_drops_the_connection() -> None:
    with FakePlatform() as platform:
        platform.stream(PATH, [b"{" + b" " * 2000, b" " * 2000])
        _, ended = _read(_stream(platform, max_line_bytes=1000))
    assert isinstance(ended, Unreachable)
    assert "passed 1000 bytes" in str(ended)


def test_refused_connections() -> None:
    limited = {"x-rate-limit-reset": str(int(FakeClock().now().timestamp()) + 120)}
    with FakePlatform() as platform:
        platform.script(PATH, Answer(429, {"title": "ConnectionException", "detail": "Too many connections"}, limited))
        _, ended = _read(_stream(platform))
    assert isinstance(ended, Retry)
    assert ended.after_seconds == 121.0
    with FakePlatform() as platform:
        platform.script(PATH, Answer(401, {"title": "Unauthorized", "status": 401}))
        _, ended = _read(_stream(platform))
    assert isinstance(ended, AccountError)
    assert ended.account == AGENCY_USER
    with FakePlatform() as platform:
        platform.script(PATH, Answer(503, b"busy"))
        _, ended = _read(_stream(platform))
    assert isinstance(ended, Unreachable)
    assert "503" in str(ended)
    with FakePlatform() as platform:
        _, ended = _read(_stream(platform, credentials=None))
    assert isinstance(ended, AccountError)
    assert "no bearer token" in str(ended)


def test_backfill_minutes_is_asked_for_when_set() -> None:
    with FakePlatform() as platform:
        platform.stream(PATH, [LINES[0]])
        _read(_stream(platform, backfill_minutes=2))
        assert platform.seen(PATH)[0].query["backfill_minutes"] == "2"


def test_resume_refuses_what_is_not_a_cursor() -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        XFilteredStream(CONTEXT, credentials=TOKEN).resume({"newest_id": 5})
