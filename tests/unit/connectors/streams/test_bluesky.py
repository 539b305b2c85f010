"""Bluesky Jetstream: frames to events, ids without citizens' DIDs, the websocket stream, its cursor and resume.

tests/fixtures/payloads/bluesky/jetstream_events.ndjson (the reference frames) then jetstream_conversation.ndjson
(written for these tests), read in that order. Agency jkn = did:plc:4kq2..., other agency jkm = did:plc:m3kq...;
citizens aisyah (7hx3...), hafiz (q2w3...), nurul (c3tz...).

 frame                                                   expected
 events 0  jkn post                                      Post
 events 1  aisyah replies to the post                    citizen comment
 events 2/4/5  likes and a repost of jkn's records       Reaction like / like / repost
 events 3  jkn answers aisyah                            agency reply, parent = aisyah's pseudonymised key
 events 6  hafiz deletes his like                        Change remove of the like (remembered)
 events 7/8  identity, account                           dropped
 conv 0  nurul answers jkn's reply (link facet)          citizen reply, the facet's full URL
 conv 1  hafiz mentions jkn (mention facet), no reply    citizen mention, its own root
 conv 2  jkm comments on jkn's post                      other_agency comment in jkn's conversation
 conv 3/4  citizen reply and like elsewhere              dropped (unrelated)
 conv 5  jkn edits its post (update)                     Change edit at time_us
 conv 6  aisyah deletes her comment                      Change remove of her (pseudonymised) key
 conv 7/8  hafiz posts; jkn answers him                  dropped; agency reply rooted at hafiz's key
 conv 9  nurul's comment dated 2030                      comment at time_us
 conv 10  aisyah's reply without createdAt               reply at time_us
 conv 11  jkn deletes a post never seen                  Change remove, its own root
 conv 12  nurul likes jkn's answer to hafiz              like in hafiz's thread (remembered root)
 conv 13  identity                                       dropped
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.core.backoff import Backoff
from connectors.core.contracts import Page, Parsed, Rejected
from connectors.core.errors import Retry, Unreachable
from connectors.core.publisher import PageMark
from connectors.core.runner import follow_stream
from connectors.core.testing import FakeClock, load_payload
from connectors.streams.bluesky import BlueskyJetstream, JetstreamReader, subscribe_url
from connectors.streams.bluesky_parse import SOURCE, parse_jetstream, read_frame
from schemas.events import AuthorRole, Change, Event, Interaction, Platform, Post, Reaction
from tests.helpers.fake_platform import DROP, Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import (
    PSEUDO,
    account,
    agency,
    assert_parsed,
    assert_published_without,
    directory,
    fuzz_never_raises,
    fuzz_settings,
    json_values,
    mutated,
)

BSKY = Platform.BLUESKY
AGENCY = "did:plc:4kq2m7xz5vhw3jnr6tbeyd2a"
OTHER_AGENCY = "did:plc:m3kq7vx2jw5nr4tbhy6d2czs"
AISYAH = "did:plc:7hx3p2wqk5n6rf4zbt2ymc3e"
HAFIZ = "did:plc:q2w3e4r5t6y7u2i3o4p5a6s7"
NURUL = "did:plc:c3tz5wq2xk7yr4mn6pd2hb5v"
CITIZENS = (AISYAH, HAFIZ, NURUL)
DIRECTORY = directory(
    agency("jkn", "Jabatan Kesihatan (Fictional)", "state", account(BSKY, AGENCY, "jknselangor-fictional.bsky.social")),
    agency("jkm", "Jabatan Kebajikan Masyarakat (Fictional)", "state", account(BSKY, OTHER_AGENCY)),
)
pseudonym = partial(PSEUDO.pseudonym, BSKY.value)
POST = f"at://{AGENCY}/app.bsky.feed.post/3ksz2q7lm4c2x"
AGENCY_REPLY = f"at://{AGENCY}/app.bsky.feed.post/3ksz3b6nqrs2k"
AISYAH_COMMENT = f"at://{pseudonym(AISYAH)}/app.bsky.feed.post/3ksz2w4kdpf2a"
HAFIZ_POST = f"at://{pseudonym(HAFIZ)}/app.bsky.feed.post/3ksz4p2qr3s2t"
REFERENCE: list[dict[str, Any]] = load_payload(PAYLOADS / "bluesky" / "jetstream_events.ndjson")
CONVERSATION: list[dict[str, Any]] = load_payload(PAYLOADS / "bluesky" / "jetstream_conversation.ndjson")
FRAMES = [*REFERENCE, *CONVERSATION]
LINES = [orjson.dumps(frame).decode() for frame in FRAMES]
SINCE = datetime(2024, 5, 1, 10, tzinfo=UTC)
T0 = FRAMES[0]["time_us"]
_T = TypeVar("_T")

EXPECTED: list[tuple[str, ...] | None] = [
    ("post", "jkn"), ("comment", "citizen", "jkn"), ("like", "jkn"), ("reply", "agency", "jkn"), ("like", "jkn"),
    ("repost", "jkn"), ("remove", "citizen", "jkn"), None, None,
    ("reply", "citizen", "jkn"), ("mention", "citizen", "jkn"), ("comment", "other_agency", "jkn"), None, None,
    ("edit", "agency", "jkn"), ("remove", "citizen", "jkn"), None, ("reply", "agency", "jkn"),
    ("comment", "citizen", "jkn"), ("reply", "citizen", "jkn"), ("remove", "agency", "jkn"), ("like", "jkn"), None,
]  # fmt: skip


def _summary(item: Parsed) -> tuple[str, ...]:
    if isinstance(item, Rejected):
        return ("rejected", item.error_type)
    if isinstance(item, Post):
        return ("post", item.agency_id)
    if isinstance(item, Interaction):
        return (item.kind.value, item.author_role.value, item.agency_id)
    if isinstance(item, Reaction):
        return (item.reaction_type, item.agency_id)
    return (item.op.value, str(item.author_role), item.agency_id)


def _the(per_frame: list[list[Parsed]], index: int, kind: type[_T]) -> _T:
    """The one item frame ``index`` gave, which must be a ``kind``."""
    (item,) = per_frame[index]
    assert isinstance(item, kind), item
    return item


def _read_all(lines: Sequence[str] = LINES, **options: Any) -> list[list[Parsed]]:
    reader = JetstreamReader(DIRECTORY, pseudonym, **options)
    return [reader.read(line).items for line in lines]


@pytest.fixture(scope="module")
def per_frame() -> list[list[Parsed]]:
    return _read_all()


@pytest.fixture(scope="module")
def events(per_frame: list[list[Parsed]]) -> list[Event]:
    return assert_parsed(item for items in per_frame for item in items)


# --- frames to events ------------------------------------------------------------------------------------------


def test_every_frame_maps_as_documented(per_frame: list[list[Parsed]]) -> None:
    assert [_summary(items[0]) if items else None for items in per_frame] == EXPECTED
    assert all(len(items) <= 1 for items in per_frame)


def test_threads_use_the_same_keys_for_citizens_posts(per_frame: list[list[Parsed]]) -> None:
    comment, agency_reply = _the(per_frame, 1, Interaction), _the(per_frame, 3, Interaction)
    removal = _the(per_frame, 15, Change)
    assert comment.message_id == agency_reply.parent_id == removal.target_id == AISYAH_COMMENT
    assert (comment.root_id, comment.parent_id, comment.parent_author_id) == (POST, POST, AGENCY)
    assert (agency_reply.root_id, agency_reply.parent_author_id) == (POST, AISYAH)
    assert (removal.root_id, removal.author_id, removal.event_id) == (POST, AISYAH, f"bluesky:{AISYAH_COMMENT}:remove")


def test_deeper_replies_mentions_and_other_agencies(per_frame: list[list[Parsed]]) -> None:
    deeper, mention, other = (_the(per_frame, i, Interaction) for i in (9, 10, 11))
    assert (deeper.root_id, deeper.parent_id, deeper.author_id) == (POST, AGENCY_REPLY, NURUL)
    assert deeper.links == ("https://example.my/aplikasi-temujanji",)
    assert mention.root_id == mention.message_id == f"at://{pseudonym(HAFIZ)}/app.bsky.feed.post/3ksz4c3de4f2y"
    assert (mention.parent_id, mention.account_id) == (None, AGENCY)
    assert (other.author_id, other.author_role, other.account_id) == (OTHER_AGENCY, AuthorRole.OTHER_AGENCY, AGENCY)
    assert other.message_id.startswith(f"at://{OTHER_AGENCY}/")  # an agency's key keeps its DID


def test_an_agency_reply_in_a_citizens_thread_and_its_like(per_frame: list[list[Parsed]]) -> None:
    reply, like = _the(per_frame, 17, Interaction), _the(per_frame, 21, Reaction)
    assert (reply.root_id, reply.parent_id, reply.parent_author_id) == (HAFIZ_POST, HAFIZ_POST, HAFIZ)
    assert (like.target_id, like.root_id, like.author_id) == (reply.message_id, HAFIZ_POST, NURUL)
    assert like.event_id == f"bluesky:at://{pseudonym(NURUL)}/app.bsky.feed.like/3ksz4z4ab5c2d"


def test_reactions_edits_and_removals(per_frame: list[list[Parsed]]) -> None:
    like = _the(per_frame, 2, Reaction)
    unlike, edit, unknown = (_the(per_frame, i, Change) for i in (6, 14, 20))
    assert (like.target_id, like.root_id, like.author_id) == (POST, POST, HAFIZ)
    assert (unlike.target_id, unlike.root_id) == (like.event_id.removeprefix("bluesky:"), POST)
    assert edit.event_id == f"bluesky:{POST}:edit:3ksz4k9ab7c2q"
    assert edit.created_at == datetime(2024, 5, 1, 10, 31, 40, 600000, UTC)  # time_us: createdAt is the original's
    assert "Senarai klinik" in (edit.text or "")
    assert (unknown.target_id, unknown.root_id) == (unknown.root_id, f"at://{AGENCY}/app.bsky.feed.post/3ksy9old1ab2c")


def test_created_at_is_created_at_unless_later_than_jetstream_received_it(per_frame: list[list[Parsed]]) -> None:
    post, future, missing = _the(per_frame, 0, Post), _the(per_frame, 18, Interaction), _the(per_frame, 19, Interaction)
    assert post.created_at == datetime(2024, 5, 1, 10, 0, 0, 118000, UTC)
    assert future.created_at == datetime(2024, 5, 1, 10, 38, 21, 0, UTC)
    assert missing.created_at == datetime(2024, 5, 1, 10, 40, 1, 100000, UTC)


@pytest.mark.parametrize(
    "created", ["2024-05-01T10:03:27", "yesterday", 1714557807, None, "0001-01-01T00:00:00+00:00", "2024-13-01T00:00Z"]
)
def test_an_unusable_created_at_falls_back_to_time_us(created: Any) -> None:
    frame = copy.deepcopy(REFERENCE[1])
    frame["commit"]["record"]["createdAt"] = created
    (event,) = parse_jetstream(frame, DIRECTORY, pseudonym)
    assert event.created_at == datetime(2024, 5, 1, 10, 3, 27, 904000, UTC)  # type: ignore[union-attr]


def test_no_event_names_a_citizen_by_did(events: list[Event]) -> None:
    for event in events:
        ids = [event.event_id, *(getattr(event, name, None) or "" for name in ("post_id", "message_id", "root_id"))]
        ids += [getattr(event, name, None) or "" for name in ("parent_id", "target_id")]
        assert not [i for i in ids for did in CITIZENS if did in i], event


def test_published_events_hide_citizens(events: list[Event]) -> None:
    assert_published_without(events, DIRECTORY, SOURCE, kept=AGENCY, hidden=CITIZENS)


def test_a_citizens_key_uses_the_pseudonym_the_publisher_gives_the_author(events: list[Event]) -> None:
    comment = next(e for e in events if isinstance(e, Interaction) and e.author_id == AISYAH)
    assert comment.message_id.startswith(f"at://{PSEUDO.pseudonym('bluesky', AISYAH)}/")


# --- what is dropped and what is rejected ----------------------------------------------------------------------


def test_dropped_frames_are_counted_by_reason() -> None:
    reader = JetstreamReader(DIRECTORY, pseudonym)
    follow = {**REFERENCE[0], "commit": {**REFERENCE[0]["commit"], "collection": "app.bsky.graph.follow"}}
    odd_op = {**REFERENCE[0], "commit": {**REFERENCE[0]["commit"], "operation": "rename"}}
    like_edit = {**REFERENCE[2], "commit": {**REFERENCE[2]["commit"], "operation": "update"}}
    for frame in [*FRAMES, follow, odd_op, like_edit, {**REFERENCE[7], "kind": "labels"}]:
        reader.read(orjson.dumps(frame))
    assert reader.dropped == {"identity": 2, "account": 1, "unrelated": 4, "collection": 1, "operation": 1, "kind": 1}


def test_deletes_need_the_memory_of_what_was_emitted() -> None:
    forgetful = _read_all(LINES, max_known=1)
    assert forgetful[6] == []  # the like was forgotten: its delete names no subject
    fresh = JetstreamReader(DIRECTORY, pseudonym)
    assert fresh.read(LINES[6]).items == []
    assert fresh.dropped == {"unrelated": 1}
    with pytest.raises(ValueError, match="max_known"):
        JetstreamReader(DIRECTORY, pseudonym, max_known=0)


def _commit_frame(**changes: Any) -> dict[str, Any]:
    frame = copy.deepcopy(REFERENCE[1])
    frame["commit"].update(changes)
    return frame


_REPLY = REFERENCE[1]["commit"]["record"]["reply"]


@pytest.mark.parametrize(
    ("frame", "reason", "error_type"),
    [
        pytest.param([1, 2], "bluesky: frame is a list, not a JSON object", "invalid", id="array"),
        pytest.param({**REFERENCE[1], "time_us": "1714557807904000"}, "without a time_us", "invalid", id="text-time"),
        pytest.param({**REFERENCE[1], "time_us": True}, "without a time_us", "invalid", id="bool-time"),
        pytest.param({**REFERENCE[1], "time_us": 10**20}, "without a time_us", "invalid", id="far-time"),
        pytest.param({**REFERENCE[1], "kind": None}, "without a kind", "invalid", id="no-kind"),
        pytest.param(_commit_frame(rkey=""), "without did, operation", "invalid", id="no-rkey"),
        pytest.param({**REFERENCE[1], "commit": "x"}, "without did, operation", "invalid", id="commit-text"),
        pytest.param({**REFERENCE[1], "did": 7}, "without did, operation", "invalid", id="did-number"),
        pytest.param(
            _commit_frame(record={**REFERENCE[1]["commit"]["record"], "reply": {"root": _REPLY["root"]}}),
            "create app.bsky.feed.post/3ksz2w4kdpf2a at time_us 1714557807904000: reply without root and parent",
            "invalid",
            id="reply-without-parent",
        ),
        pytest.param(
            {**REFERENCE[0], "commit": {**REFERENCE[0]["commit"], "record": "x"}},
            "post without a record",
            "invalid",
            id="agency-post-record-text",
        ),
        pytest.param(
            _commit_frame(record={**REFERENCE[1]["commit"]["record"], "text": "x" * 70_000}),
            "text",
            "schema",
            id="text-too-long",
        ),
    ],
)
def test_bad_frames_are_rejected_with_where_and_why(frame: Any, reason: str, error_type: str) -> None:
    (rejected,) = parse_jetstream(frame, DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("bluesky: ")
    assert reason in rejected.reason
    assert rejected.error_type == error_type
    assert AISYAH not in repr(rejected.raw)  # citizens' DIDs are pseudonymised for the dead letter
    assert AISYAH not in rejected.reason


def test_unrelated_malformed_commits_are_dropped_not_rejected() -> None:
    frame = _commit_frame(record={"text": "x", "reply": {"root": "nonsense"}})
    frame["did"] = NURUL
    assert parse_jetstream(frame, DIRECTORY, pseudonym) == []


def test_text_that_is_not_json_is_rejected_without_citizens_dids() -> None:
    frame = read_frame(f'{{"did":"{HAFIZ}", "time_us": 17', DIRECTORY, pseudonym)
    (rejected,) = frame.items
    assert isinstance(rejected, Rejected)
    assert (rejected.error_type, rejected.reason[:26]) == ("not_json", "bluesky: frame is not JSON")
    assert HAFIZ not in rejected.raw
    assert pseudonym(HAFIZ) in rejected.raw
    assert frame.time_us is None


# --- the stream ------------------------------------------------------------------------------------------------


def _stream(platform: FakePlatform, path: str = "/subscribe", **options: Any) -> BlueskyJetstream:
    options.setdefault("since", SINCE)
    return BlueskyJetstream(DIRECTORY, pseudonym, base_url=platform.ws_url(path), clock=FakeClock(), **options)


async def _pages(stream: BlueskyJetstream) -> tuple[list[tuple[Page, dict[str, int]]], Exception | None]:
    """The pages of one connection with the cursor after each, and the error that ended it (if any)."""
    pages: list[tuple[Page, dict[str, int]]] = []
    try:
        async for page in stream.pages():
            pages.append((page, stream.snapshot()))
    except (Retry, Unreachable) as exc:
        return pages, exc
    return pages, None


def _ids(pages: Sequence[tuple[Page, Any]]) -> list[str]:
    return [item.event_id for page, _ in pages for item in page.items if not isinstance(item, Rejected)]


def test_pages_move_the_cursor_frame_by_frame() -> None:
    with FakePlatform() as platform:
        platform.websocket("/subscribe", LINES[:7])
        stream = _stream(platform, max_frames=3)
        pages, error = asyncio.run(_pages(stream))
        (seen,) = platform.seen("/subscribe")
    assert error is None
    assert [len(page.items) for page, _ in pages] == [3, 3, 1]
    assert [cursor["time_us"] for _, cursor in pages] == [FRAMES[i]["time_us"] for i in (2, 5, 6)]
    assert [page.newest for page, _ in pages] == [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=FRAMES[i]["time_us"]) for i in (2, 5, 6)]  # fmt: skip
    since_us = (SINCE - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert seen.query["cursor"] == str(since_us - 5_000_000)
    assert "wantedCollections" in seen.query


def test_a_dropped_stream_resumes_from_the_rewound_cursor_without_losing_events() -> None:
    last = FRAMES[4]["time_us"]
    replay = [line for frame, line in zip(FRAMES, LINES, strict=True) if frame["time_us"] >= last - 5_000_000]
    with FakePlatform() as platform:
        platform.websocket("/subscribe", [*LINES[:5], "not json", DROP], replay)
        stream = _stream(platform, max_frames=2)
        first, dropped = asyncio.run(_pages(stream))
        assert stream.snapshot() == {"time_us": last}
        second, ended = asyncio.run(_pages(stream))
        connections = platform.seen("/subscribe")
    assert isinstance(dropped, Unreachable)
    assert ended is None
    assert connections[1].query["cursor"] == str(last - 5_000_000)
    assert stream.url() == subscribe_url(platform.ws_url("/subscribe"), _COLLECTIONS, FRAMES[-1]["time_us"] - 5_000_000)
    expected = [e.event_id for items in _read_all() for e in items if not isinstance(e, Rejected)]
    got = _ids(first) + _ids(second)
    assert set(got) == set(expected)
    assert len(got) == len(expected) + 1  # the one like inside the rewind came twice: same event id
    assert next(i for page, _ in first for i in page.items if isinstance(i, Rejected)).error_type == "not_json"


_COLLECTIONS = ("app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost")


def test_an_idle_stream_yields_empty_pages_so_a_runner_can_stop() -> None:
    with FakePlatform() as platform:
        platform.websocket("/subscribe", [LINES[0], None, LINES[1]])
        stream = _stream(platform, max_wait_seconds=0.05)

        async def read() -> list[int]:
            sizes: list[int] = []
            async for page in stream.pages():
                sizes.append(len(page.items))
                if not page.items and len(sizes) < 3:
                    platform.release()
            return sizes

        sizes = asyncio.run(read())
    assert (sizes[0], sizes[-1], 0 in sizes) == (1, 1, True)
    assert stream.snapshot() == {"time_us": FRAMES[1]["time_us"]}


class _Pages:
    """A page publisher for follow_stream: keeps pages, sets ``stop`` once ``wanted`` event ids were published."""

    def __init__(self, wanted: set[str], stop: threading.Event) -> None:
        self.wanted, self.stop, self.marks, self.ids = wanted, stop, [], set()  # type: ignore[var-annotated]

    def publish_page(self, items: Sequence[Parsed], mark: PageMark) -> int:
        self.marks.append(mark)
        self.ids.update(i.event_id for i in items if not isinstance(i, Rejected))
        if self.wanted <= self.ids:
            self.stop.set()
        return sum(not isinstance(i, Rejected) for i in items)


def test_the_runner_reconnects_after_a_drop_and_publishes_every_event() -> None:
    wanted = {e.event_id for items in _read_all() for e in items if not isinstance(e, Rejected)}
    stop = threading.Event()
    sink = _Pages(wanted, stop)
    with FakePlatform() as platform:
        platform.websocket("/subscribe", [*LINES[:9], DROP], LINES[8:])
        stream = _stream(platform)
        clock = FakeClock()
        asyncio.run(follow_stream(stream, sink, stop, account="bluesky:jetstream", clock=clock, backoff=Backoff()))
        cursors = [q.query["cursor"] for q in platform.seen("/subscribe")]
    assert sink.ids == wanted
    assert cursors[1] == str(FRAMES[8]["time_us"] - 5_000_000)
    assert [m.state["time_us"] for m in sink.marks] == sorted(m.state["time_us"] for m in sink.marks)
    assert len(clock.sleeps) == 1  # one back-off before the reconnect, on the fake clock


def test_a_refused_handshake_is_a_wait_or_unreachable() -> None:
    with FakePlatform() as platform:
        platform.script("/busy", Answer(429, {}, {"Retry-After": "7"}), Answer(503, {}))
        platform.script("/dated", Answer(429, {}, {"Retry-After": "Thu, 01 Jan 2026 00:01:00 GMT"}))
        busy, dated = _stream(platform, "/busy"), _stream(platform, "/dated")
        (_, limited), (_, down), (_, later) = (asyncio.run(_pages(s)) for s in (busy, busy, dated))
        closed = BlueskyJetstream(DIRECTORY, pseudonym, since=SINCE, base_url="ws://127.0.0.1:1/subscribe")
        _, refused = asyncio.run(_pages(closed))
    assert isinstance(limited, Retry)
    assert limited.after_seconds == 7
    assert "HTTP 429" in limited.reason
    assert isinstance(later, Retry)
    assert later.after_seconds == 60  # FakeClock starts at 2026-01-01 00:00 UTC
    assert isinstance(down, Unreachable)
    assert "HTTP 503" in str(down)
    assert isinstance(refused, Unreachable)


def test_cursor_state_round_trips_and_refuses_strangers() -> None:
    stream = BlueskyJetstream(DIRECTORY, pseudonym, since=SINCE, base_url="wss://j/subscribe", rewind_seconds=0)
    stream.resume({"time_us": 1714557807904000})
    assert stream.snapshot() == {"time_us": 1714557807904000}
    assert stream.url() == (
        "wss://j/subscribe?wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.feed.like"
        "&wantedCollections=app.bsky.feed.repost&cursor=1714557807904000"
    )
    for bad in ({}, {"time_us": "1"}, {"time_us": -1}, {"time_us": True}, None):
        with pytest.raises(ValueError, match="not a Jetstream cursor"):
            stream.resume(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        BlueskyJetstream(DIRECTORY, pseudonym, since=datetime(2024, 5, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="max_frames"):
        BlueskyJetstream(DIRECTORY, pseudonym, since=SINCE, max_frames=0)
    with_query = subscribe_url("wss://j/subscribe?compress=false", ["a"], 1)
    assert with_query == "wss://j/subscribe?compress=false&wantedCollections=a&cursor=1"


# --- hostile input ---------------------------------------------------------------------------------------------

_json = json_values(
    st.sampled_from([AGENCY, OTHER_AGENCY, *CITIZENS, POST, AISYAH_COMMENT, f"at://{NURUL}/app.bsky.feed.post/x"]),
    st.sampled_from(["commit", "identity", "create", "update", "delete", *_COLLECTIONS]),
    st.sampled_from(["app.bsky.richtext.facet#mention", "app.bsky.richtext.facet#link", "https://x.my/a"]),
    st.integers(T0 - 10**12, T0 + 10**12),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
)  # fmt: skip
_KEYS = ["did", "time_us", "kind", "commit", "record", "reply", "root", "parent", "uri", "subject", "createdAt"]
_mutated_frames = st.sampled_from(FRAMES).flatmap(lambda frame: mutated(copy.deepcopy(frame), _json, _KEYS, change=3))
_parse = partial(parse_jetstream, directory=DIRECTORY, pseudonym=pseudonym)

test_random_json_never_raises = fuzz_never_raises(_parse, _json, "bluesky: ")
test_random_commits_never_raise = fuzz_never_raises(
    _parse, st.builds(lambda c: {"did": NURUL, "time_us": T0, "kind": "commit", "commit": c}, _json), "bluesky: "
)


@fuzz_settings(150)
@given(frames=st.lists(_mutated_frames, min_size=1, max_size=8))
def test_a_reader_fed_mutated_frames_never_raises_nor_names_citizens(frames: list[Any]) -> None:
    reader = JetstreamReader(DIRECTORY, pseudonym, max_known=4)
    for frame in frames:
        for event in assert_parsed(reader.read(json.dumps(frame)).items, "bluesky: "):
            assert not [did for did in CITIZENS if did in event.event_id], event


@fuzz_settings(150)
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200), st.sampled_from(LINES).map(lambda s: s[:-7])))
def test_any_text_never_raises(text: str | bytes) -> None:
    assert_parsed(read_frame(text, DIRECTORY, pseudonym).items, "bluesky: ")
