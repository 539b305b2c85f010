"""The Mastodon stream against a loopback instance: SSE and websocket, a dropped stream resumed by the REST
catch-up without gap or duplicate, deletes, refused connections, and fuzzing of the SSE and frame parsers.

Fixtures (tests/fixtures/payloads/mastodon/): ``streaming_user.sse`` (raw ``text/event-stream``: ``:)`` and
``:thump`` heartbeats, update of aisyah's comment C, its mention notification, update of the agency's reply R, R
edited, a favourite of the post P, a delete of an unknown status), ``streaming_websocket_frames.ndjson`` (the same
as websocket frames with double-encoded payloads, a hashtag-stream update of P, a delete, ``filters_changed``).
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Page, Parsed, Rejected
from connectors.core.errors import AccountError, Retry, Unreachable
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.mastodon_parse import NOTHING_LEARNT, decode_frame, decode_sse, parse_stream_event
from connectors.streams.mastodon import HOME_PATH, MastodonStream
from connectors.streams.sse import SseDecoder, SseEvent, parse_sse
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform, Reaction
from tests.helpers.fake_platform import DROP, Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.polling import MASTODON_AGENCY, MASTODON_CITIZEN, MASTODON_HOST, MASTODON_TOKEN, account_context
from tests.helpers.webhooks import (
    PSEUDO,
    account,
    agency,
    assert_parsed,
    directory,
    fuzz_never_raises,
    fuzz_settings,
    json_values,
    mutated,
)

MASTODON = Platform.MASTODON
HOST, AGENCY = MASTODON_HOST, MASTODON_AGENCY
CITIZEN = MASTODON_CITIZEN
TOKEN = MASTODON_TOKEN
pseudonym = partial(PSEUDO.pseudonym, MASTODON.value)
DIRECTORY = directory(agency("jkn", "JKN Selangor (Fictional)", "state", account(MASTODON, AGENCY, "jknselangor")))
CONTEXT = account_context(DIRECTORY, "jkn", MASTODON, datetime(2024, 5, 1, tzinfo=UTC))
SSE_PATH, WS_PATH, NOTIFICATIONS = "/api/v1/streaming/user", "/api/v1/streaming", "/api/v1/notifications"
SSE_BODY = (PAYLOADS / "mastodon" / "streaming_user.sse").read_bytes()
FRAMES = (PAYLOADS / "mastodon" / "streaming_websocket_frames.ndjson").read_text().splitlines()
REST: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "rest_statuses_context_notifications.json")
R_STATUS, P_STATUS = REST["account_statuses"]["response"]
MENTION = REST["notifications_mentions"]["response"][0]
C_STATUS = MENTION["status"]
P_KEY = f"{AGENCY}/statuses/112345678901234567"
R_KEY = f"{AGENCY}/statuses/112345720000000111"
C_KEY = f"{pseudonym(CITIZEN)}/statuses/112345692300000000"
FAVOURITE = {**copy.deepcopy(MENTION), "id": "34975899", "type": "favourite", "status": P_STATUS}
FAVOURITE["created_at"] = "2024-05-01T10:12:09.850Z"
ANCHORED = {"status_id": P_STATUS["id"], "notification_id": "34975800"}


def _sse(name: str, payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f"event: {name}\ndata: {data}\n\n".encode()


def _stream(platform: FakePlatform, clock: FakeClock | None = None, **options: Any) -> MastodonStream:
    return MastodonStream(
        CONTEXT, Urllib3Client(timeout_seconds=5), credentials=SecretStr(TOKEN), instance_url=platform.url(),
        clock=clock or FakeClock(), backoff=Backoff(rng=__import__("random").Random(1)), **options,
    )  # fmt: skip


def _read(stream: MastodonStream, platform: FakePlatform | None = None) -> tuple[list[Page], BaseException | None]:
    """Every page of one connection, and the exception that ended it (``None``: the stream ended).

    With ``platform``, a stream waiting on a ``None`` chunk goes on once a page with items was read (so a
    ``DROP`` after it cannot discard what the server had not flushed yet).
    """

    async def read() -> tuple[list[Page], BaseException | None]:
        pages: list[Page] = []
        try:
            async for page in stream.pages():
                pages.append(page)
                if platform is not None and page.items:
                    platform.release()
        except Exception as exc:  # the test inspects it
            return pages, exc
        return pages, None

    return asyncio.run(read())


def _events(pages: list[Page]) -> list[Any]:
    return assert_parsed(item for page in pages for item in page.items)


# --- server-sent events ----------------------------------------------------------------------------------------


def test_the_documented_sse_stream_with_heartbeats_in_odd_chunks() -> None:
    chunks = [SSE_BODY[i : i + 37] for i in range(0, len(SSE_BODY), 37)]  # lines and UTF-8 split anywhere
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, [P_STATUS]))
        platform.script(NOTIFICATIONS, Answer(200, []))
        platform.stream(SSE_PATH, chunks)
        stream = _stream(platform)
        pages, ended = _read(stream)
        assert [r.query for r in platform.seen(HOME_PATH)] == [{"limit": "1"}]  # a first start only anchors
        assert platform.seen(SSE_PATH)[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert ended is None
    assert pages[0].items == []  # the anchor's page carries the cursor
    comment, reply, edit, favourite = _events(pages)  # the mention of C is C again: skipped; the delete unknown
    assert isinstance(comment, Interaction)
    assert (comment.event_id, comment.kind, comment.root_id) == (f"mastodon:{C_KEY}", InteractionKind.COMMENT, P_KEY)
    assert isinstance(reply, Interaction)
    assert (reply.parent_id, reply.root_id, reply.author_role) == (C_KEY, P_KEY, AuthorRole.AGENCY)  # learnt from C
    assert isinstance(edit, Change)
    assert (edit.op, edit.target_id, edit.root_id) == (ChangeOp.EDIT, R_KEY, P_KEY)
    assert edit.event_id == f"mastodon:{R_KEY}:edit:2024-05-01T10:09:02.118Z"
    assert isinstance(favourite, Reaction)
    assert favourite.event_id == f"mastodon:{P_KEY}:favourite:{pseudonym(CITIZEN)}"
    assert all(e.source == "stream:mastodon" for e in (comment, reply, edit, favourite))
    assert stream.snapshot() == {"version": 1, "status_id": R_STATUS["id"], "notification_id": "34975899"}


@pytest.mark.parametrize("new_process", [False, True])
def test_a_dropped_stream_resumes_with_a_rest_catch_up_without_gap_or_duplicate(new_process: bool) -> None:
    late = {**copy.deepcopy(C_STATUS), "id": "112345800000000001", "uri": f"{CITIZEN}/statuses/112345800000000001"}
    late_key = f"{pseudonym(CITIZEN)}/statuses/112345800000000001"
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, []), Answer(200, [R_STATUS]))  # R was sent while disconnected
        platform.script(NOTIFICATIONS, Answer(200, []), Answer(200, [FAVOURITE]))
        platform.stream(
            SSE_PATH,
            [b":)\n", _sse("update", C_STATUS), b":thump\n", None, DROP],
            # the new connection repeats what the catch-up gave (R, the favourite), then something new
            [b":)\n", _sse("update", R_STATUS), _sse("notification", FAVOURITE), b":thump\n", _sse("update", late)],
        )
        first = _stream(platform)
        first.resume(ANCHORED)
        pages, dropped = _read(first, platform)
        assert isinstance(dropped, Unreachable)
        second = first
        if new_process:
            second = _stream(platform)
            second.resume(orjson.loads(orjson.dumps(first.snapshot())))
        more, ended = _read(second)
        home = [r.query.get("min_id") for r in platform.seen(HOME_PATH)]
        notifications = [r.query.get("min_id") for r in platform.seen(NOTIFICATIONS)]
    assert ended is None
    assert home == [P_STATUS["id"], C_STATUS["id"]]  # the gap starts after the last status seen
    assert notifications == ["34975800", "34975800"]
    ids = [e.event_id for e in _events(pages + more)]
    favourite = f"mastodon:{P_KEY}:favourite:{pseudonym(CITIZEN)}"
    assert ids == [f"mastodon:{k}" for k in (C_KEY, R_KEY)] + [favourite, f"mastodon:{late_key}"]
    assert second.snapshot() == {"version": 1, "status_id": late["id"], "notification_id": "34975899"}


def test_a_refused_token_is_an_account_error_and_a_429_waits_for_the_reset() -> None:
    clock = FakeClock()
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-01-01T00:10:00.000000Z"}
    with FakePlatform() as platform:
        platform.script(SSE_PATH, Answer(401, {"error": "The access token is invalid"}), Answer(429, {}, reset))
        _, refused = _read(_stream(platform, clock))
        _, limited = _read(_stream(platform, clock))
    assert isinstance(refused, AccountError)
    assert "The access token is invalid" in refused.reason
    assert TOKEN not in str(refused)
    assert isinstance(limited, Retry)
    assert limited.after_seconds == 600


def test_a_rate_limited_catch_up_raises_retry_after_the_pages_it_gave() -> None:
    clock = FakeClock()
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-01-01T00:01:00.000000Z"}
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, [R_STATUS], {}))
        platform.script(NOTIFICATIONS, Answer(429, {"error": "Too many requests"}, reset))
        platform.stream(SSE_PATH, [b":thump\n"])
        stream = _stream(platform, clock)
        stream.resume(ANCHORED)
        pages, ended = _read(stream)
    assert isinstance(ended, Retry)
    assert ended.after_seconds == 60
    assert [e.event_id for e in _events(pages)] == [f"mastodon:{R_KEY}"]
    assert stream.snapshot()["status_id"] == R_STATUS["id"]  # what was caught up stays caught up


def test_a_broken_event_is_rejected_and_the_stream_goes_on() -> None:
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, []))
        platform.script(NOTIFICATIONS, Answer(200, []))
        platform.stream(SSE_PATH, [_sse("update", "{not json"), _sse("update", {"id": "1"}), _sse("update", C_STATUS)])
        stream = _stream(platform)
        stream.resume(ANCHORED)
        pages, _ = _read(stream)
    rejected = [i for p in pages for i in p.items if isinstance(i, Rejected)]
    assert [r.reason.split(":")[1].strip() for r in rejected] == ["stream update", "stream update"]
    assert [e.event_id for e in _events(pages)] == [f"mastodon:{C_KEY}"]


# --- websocket -------------------------------------------------------------------------------------------------


def test_websocket_frames_are_parsed_twice_and_a_known_status_delete_is_a_removal() -> None:
    delete_r = orjson.dumps({"stream": ["user"], "event": "delete", "payload": R_STATUS["id"]}).decode()
    frames = [*FRAMES[:3], FRAMES[0], "not json", '{"event": "update", "payload": "{broken"}', *FRAMES[3:], delete_r]
    clock = FakeClock()
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, []))
        platform.script(NOTIFICATIONS, Answer(200, []))
        platform.websocket(WS_PATH, frames)
        platform.stream(SSE_PATH, [])  # never used: the flag chose the websocket
        stream = _stream(platform, clock, transport="websocket")
        stream.resume(ANCHORED)
        pages, ended = _read(stream)
        assert platform.seen(WS_PATH)[0].query == {"stream": "user"}
        assert platform.seen(WS_PATH)[0].headers["authorization"] == f"Bearer {TOKEN}"
        assert platform.seen(SSE_PATH) == []
    assert ended is None
    items = [i for p in pages for i in p.items]
    reasons = [i.reason for i in items if isinstance(i, Rejected)]
    assert reasons == ["mastodon: websocket frame is not JSON", "mastodon: websocket update: payload is not JSON"]
    events = _events(pages)
    assert [e.event_id for e in events] == [
        f"mastodon:{C_KEY}",
        f"mastodon:{R_KEY}:edit:2024-05-01T10:09:02.118Z",
        f"mastodon:{P_KEY}",
        f"mastodon:{R_KEY}:remove",
    ]  # fmt: skip  (the repeated update of C was skipped; the unknown delete too; status.update taught R)
    removal = events[-1]
    assert isinstance(removal, Change)
    assert (removal.op, removal.target_id, removal.author_role, removal.created_at) == (
        ChangeOp.REMOVE, R_KEY, AuthorRole.AGENCY, clock.now(),
    )  # fmt: skip


def test_a_refused_websocket_is_an_account_error() -> None:
    with FakePlatform() as platform:
        platform.script(WS_PATH, Answer(403, {"error": "This action is not allowed"}))
        _, refused = _read(_stream(platform, transport="websocket"))
    assert isinstance(refused, AccountError)


def test_settings_are_checked() -> None:
    with FakePlatform() as platform, pytest.raises(ValueError, match="transport"):
        _stream(platform, transport="carrier-pigeon")
    assert (MastodonStream.source, MastodonStream.platform) == ("stream:mastodon", MASTODON)


# --- the pure parsers ------------------------------------------------------------------------------------------


def test_sse_grammar() -> None:
    text = "\ufeff:)\r\nevent: update\r\ndata:a\ndata:  b\rid: 7\n\nevent: x\n\ndata\n\n: c\nretry: 5\n"
    assert parse_sse(text) == [SseEvent("update", "a\n b", "7"), SseEvent("message", "", "7")]
    assert [e.event for e in parse_sse(SSE_BODY)] == [
        "update", "notification", "update", "status.update", "notification", "delete",
    ]  # fmt: skip
    decoder = SseDecoder(max_line_bytes=16)
    assert decoder.feed(b"data: " + b"x" * 40) == []
    assert decoder.feed(b"x\ndata: ok\n\n") == [SseEvent("message", "ok")]  # the long line was dropped whole


def test_decoders() -> None:
    assert decode_sse(SseEvent("delete", " 1123 ")) == ("delete", "1123")
    assert decode_sse(SseEvent("filters_changed", "")) is None
    assert decode_frame(FRAMES[-1]) is None  # filters_changed
    assert decode_frame(FRAMES[-2]) == ("delete", "112345699999999999")
    name, payload = decode_frame(FRAMES[0])  # type: ignore[misc]
    assert (name, payload["id"]) == ("update", C_STATUS["id"])
    assert decode_frame(orjson.dumps({"event": "update", "payload": C_STATUS})) == ("update", C_STATUS)


@fuzz_settings(300)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_sse_chunking_never_changes_the_events(data: bytes, cuts: list[int]) -> None:
    whole = parse_sse(data)
    decoder, events, start = SseDecoder(), [], 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        events += decoder.feed(data[start:cut])
        start = cut
    events += decoder.feed(data[start:]) + decoder.feed(b"\n" if data.endswith(b"\r") else b"")
    assert events == whole


@fuzz_settings(200)
@given(text=st.text(alphabet=st.sampled_from(list("event:data :thump\r\n{}id")), max_size=200))
def test_random_sse_text_never_raises(text: str) -> None:
    for event in parse_sse(text):
        decoded = decode_sse(event)
        assert decoded is None or isinstance(decoded, Rejected | tuple)


_noise = json_values(st.sampled_from([C_STATUS["id"], R_STATUS["id"], AGENCY, CITIZEN, "2024-05-01T10:00:00Z"]))
_keys = ["id", "uri", "account", "status", "type", "in_reply_to_id", "mentions", "edited_at"]
_frames = st.one_of(
    st.text(max_size=50),
    st.builds(json.dumps, mutated(orjson.loads(FRAMES[1]), _noise, ["payload", "event"])),  # big ints too
    st.builds(json.dumps, _noise),
    st.binary(max_size=50),
)


@fuzz_settings(200)
@given(frame=_frames)
def test_random_frames_never_raise(frame: str | bytes) -> None:
    decoded = decode_frame(frame)
    assert decoded is None or isinstance(decoded, Rejected | tuple)


def _parse_event(drawn: tuple[str, Any]) -> list[Parsed]:
    name, payload = drawn
    at = datetime(2024, 5, 1, tzinfo=UTC)
    return parse_stream_event(name, payload, CONTEXT, source="stream:mastodon", at=at, learnt=NOTHING_LEARNT)


test_random_stream_events_never_raise = fuzz_never_raises(
    _parse_event,
    st.tuples(
        st.sampled_from(["update", "status.update", "notification", "delete", "filters_changed"]),
        st.one_of(mutated(C_STATUS, _noise, _keys), mutated(FAVOURITE, _noise, _keys), _noise),
    ),
    "mastodon: ",
)
