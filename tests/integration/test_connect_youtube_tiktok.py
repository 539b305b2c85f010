"""The YouTube and TikTok pollers end to end: a loopback platform speaking the documented wire format, the
production runner and publisher, the embedded broker and chDB (one stack for the module).

Each platform gets three tests, on its own account of tests/fixtures/connect_more_agencies.yaml (kkm / jkns own
the accounts of tests/fixtures/payloads/<platform>/, jpj the resume and revoked ones):

- a backfill of the documented pages through pagination, the platform's rate-limit signal, a malformed page
  (retried) and bad items (dead-lettered): the event ids on Kafka == those the pure parsers give for the same pages
  == those stored, each stored once; exact rows (kind, role, root, pseudonyms) and the agency reply's response fact;
- a refused token: ``AccountError``, and nothing of that account stored (no rows, no cursor);
- a token revoked mid-backfill, then a second poller resumed from the stored cursor: it asks for the next page
  only (the platform's requests say so) and every event is stored exactly once.

A known connector quirk, allowed for here (README "Known limits"): the YouTube poller publishes the replies inlined in
a thread again when it pages the thread's ``comments.list`` (same event id: stored once, one row after the merge).

Waits (429, back-off, quota) go to a ``FakeClock``: the module never sleeps.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import AccountContext, Parsed, Rejected
from connectors.core.errors import AccountError
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.tiktok import TikTokCommentsPoller
from connectors.polling.tiktok_parse import Scope as TikTokScope
from connectors.polling.tiktok_parse import parse_business_comments, parse_business_videos
from connectors.polling.youtube import YouTubeCommentsPoller
from connectors.polling.youtube_parse import Scope as YouTubeScope
from connectors.polling.youtube_parse import Window, parse_replies, parse_threads
from schemas.agency import load_directory
from schemas.events import Platform
from schemas.privacy import Pseudonymizer
from schemas.tables import CHANGES, DEAD_LETTERS, INTERACTIONS, POSTS, RAW_TABLES
from schemas.topics import EVENTS
from tests.helpers.connect import connect_stack, one_fact, one_row, poll_into, resume_state
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.kafka import read_topic
from tests.helpers.live import LiveStack
from tests.helpers.paths import FIXTURES, PAYLOADS

AGENCIES = FIXTURES / "connect_more_agencies.yaml"
DIRECTORY = load_directory(AGENCIES)
KEY = SecretStr("connect-youtube-tiktok")
PSEUDO = Pseudonymizer(KEY)
SINCE = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the fake clock's start: the day the fixtures were captured

YT_SOURCE, TT_SOURCE = "poll:youtube", "poll:tiktok"
CHANNEL, OTHER_CHANNEL = "UC1a2B3c4D5e6F7g8H9i0JkL", "UCotherAgencyChannel00001"
YT_RESUME, YT_REVOKED = "UCjpjResumeChannel0000001", "UCjpjRevokedChannel000001"
YT_CITIZEN, VIDEO = "UCzY9x8W7v6U5t4S3r2Q1pOn", "dQ4wKpL9xYz"
EDITED, DOCUMENTED = "UgyQ9w8e7r6t5y4u3i2o1pAaABAg", "UgzX1a2b3c4d5e6f7g8h9i4AaABAg"
AGENCY_REPLY = f"{DOCUMENTED}.A3kLmN0pQrSA3kLmP1qRsT"
OTHER_REPLY, MANY = "UgwLegacyNoAuthor00000000AaABAg.B1otherAgencyReply0001", "UgxManyReplies000000000000AaABAg"
INLINED = f"{MANY}.C1reply0000000000001"  # inlined in its thread, and again the first reply of comments.list
THREADS, COMMENTS = "/youtube/v3/commentThreads", "/youtube/v3/comments"
YT = PAYLOADS / "youtube"
YT_ERRORS: dict[str, Any] = load_payload(YT / "errors.json")

BUSINESS, TT_OTHER = "-000FAKEopenIdForAgency0001", "-000FAKEopenIdOtherAgency02"
TT_RESUME, TT_REVOKED = "-000FAKEopenIdJpjResume0003", "-000FAKEopenIdJpjRevoked004"
TT_CITIZEN, TT_VIDEO, OLD_VIDEO = "-000FAKEopenIdCitizen0042", "7364512345678901234", "7360000000000000001"
CITIZEN_COMMENT, TT_AGENCY_REPLY = "7364598765432101234", "7364601234567890123"
VIDEO_LIST, COMMENT_LIST = "/open_api/v1.3/business/video/list/", "/open_api/v1.3/business/comment/list/"
TT_LINK = "jkns.gov.my/vaksin"
TT = PAYLOADS / "tiktok"
TT_ERRORS: dict[str, Any] = load_payload(TT / "business_errors.json")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[LiveStack]:
    yield from connect_stack(tmp_path_factory, chdb_dir, "connect-yt-tt", AGENCIES, KEY)


# --- what Kafka and ClickHouse hold, per account ----------------------------------------------------------------


def _context(platform: Platform, account_id: str) -> AccountContext:
    agency = DIRECTORY.owner_of(platform, account_id)
    assert agency is not None, account_id
    account = next(a for a in agency.accounts if a.account_id == account_id)
    pseudonym = partial(PSEUDO.pseudonym, platform.value)
    return AccountContext(agency=agency, account=account, directory=DIRECTORY, pseudonym=pseudonym, since=SINCE)


def _kafka_ids(live: LiveStack, source: str, account_id: str) -> Counter[str]:
    """How often each event id of ``source`` and ``account_id`` is on the events topic."""
    records = read_topic(live.stack.bootstrap_servers, EVENTS.name, live.settings.partitions)
    events = (event for record in records for event in orjson.loads(record.value)["events"])
    return Counter(e["event_id"] for e in events if e["source"] == source and e["account_id"] == account_id)


def _stored_ids(live: LiveStack, source: str, account_id: str) -> dict[str, int]:
    """Event id -> raw rows holding it (without FINAL: a duplicate shows as 2), of one account."""
    store, db = live.stack.store, live.stack.store.database
    where = "source = {source:String} AND account_id = {account:String}"
    union = " UNION ALL ".join(f"SELECT event_id FROM {db}.{table} WHERE {where}" for table in RAW_TABLES)
    rows = store.query(f"SELECT event_id, count() FROM ({union}) GROUP BY event_id", _params(source, account_id))
    return {str(event_id): int(n) for event_id, n in rows.rows}


def _dead_letters(live: LiveStack, source: str) -> set[tuple[str, str]]:
    store = live.stack.store
    sql = f"SELECT error_type, reason FROM {store.database}.{DEAD_LETTERS} FINAL WHERE source = {{source:String}}"
    return {(str(kind), str(reason)) for kind, reason in store.query(sql, {"source": source}).rows}


def _params(source: str, account_id: str) -> dict[str, Any]:
    return {"source": source, "account": account_id}


def _split(items: list[Parsed]) -> tuple[Counter[str], set[tuple[str, str]]]:
    """How often parsed items give each event id, and their rejections as dead-lettered: (error type, reason).

    A dead letter's reason is masked like the publisher masks it (long digit runs may be phone numbers).
    """
    ids = Counter(item.event_id for item in items if not isinstance(item, Rejected))
    return ids, {(item.error_type, PSEUDO.mask_text(item.reason)) for item in items if isinstance(item, Rejected)}


def _ids_of(page: Any) -> set[str]:
    """The event ids of a parsed page (which must be of the expected shape), without its rejections."""
    assert page is not None
    return set(_split(page.items)[0])


def _assert_exactly_once(
    live: LiveStack, source: str, account_id: str, expected: Counter[str], republished: Collection[str] = ()
) -> None:
    """Kafka holds the account's events as the parsers gave them (``expected``: how often each), each once but
    those ``republished`` (a known connector quirk), and ClickHouse each in one row: nothing else. A republished
    id may be in as many rows as it was published, until ClickHouse merges them.
    """
    assert {i for i, n in expected.items() if n > 1} == set(republished)
    assert _kafka_ids(live, source, account_id) == expected
    stored = _stored_ids(live, source, account_id)
    assert set(stored) == set(expected)
    assert {i: n for i, n in stored.items() if n != 1 and i not in republished} == {}
    assert all(1 <= stored[i] <= expected[i] for i in republished)


def _assert_nothing_of(live: LiveStack, source: str, platform: Platform, account_id: str) -> None:
    assert _kafka_ids(live, source, account_id) == Counter()
    assert _stored_ids(live, source, account_id) == {}
    assert resume_state(live, source, f"{platform.value}:{account_id}") is None


def _backoff() -> Backoff:
    return Backoff(base_seconds=1, cap_seconds=8, rng=random.Random(7))


# --- YouTube ------------------------------------------------------------------------------------------------------


def _youtube(platform: FakePlatform, channel: str, clock: FakeClock) -> YouTubeCommentsPoller:
    return YouTubeCommentsPoller(
        _context(Platform.YOUTUBE, channel), Urllib3Client(timeout_seconds=5), credentials=SecretStr("yt-test-key"),
        base_url=platform.url("/youtube/v3"), clock=clock, backoff=_backoff(),
    )  # fmt: skip


def _google(status: int, reason: str) -> Answer:
    return Answer(status, {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}})


def _youtube_expected() -> tuple[Counter[str], set[tuple[str, str]]]:
    """What the pure parsers give for the documented pages, as the first sweep reads them (from ``SINCE``)."""
    scope, window = YouTubeScope("kkm", CHANNEL, DIRECTORY), Window(SINCE, SINCE)
    pages = [parse_threads(load_payload(YT / f"commentThreads_page{n}.json"), scope, window) for n in (1, 2)]
    assert pages[0] is not None
    assert pages[1] is not None
    [thread] = pages[1].expansions
    replies = [
        parse_replies(load_payload(YT / f"comments_replies_page{n}.json"), scope, window, thread) for n in (1, 2)
    ]
    items = [item for page in [*pages, *replies] if page is not None for item in page.items]
    return _split(items)


@dataclass(frozen=True)
class Backfill:
    """One run of a poller over the documented pages: what the parsers expect, and what the run did."""

    expected: Counter[str]
    rejected: set[tuple[str, str]]
    published: int
    requests: Sequence[tuple[str | None, ...]]
    sleeps: list[float]


@pytest.fixture(scope="module")
def youtube_backfill(live: LiveStack) -> Backfill:
    """The documented channel polled through a 429, a cut-off body, quotaExceeded and four pages, then drained."""
    clock = FakeClock(NOW)
    with FakePlatform() as platform:
        platform.script(
            THREADS,
            _google(429, "rateLimitExceeded"),
            Answer(200, load_payload(YT / "commentThreads_page1.json")),
            Answer(200, b'{"kind": "youtube#commentThreadListResponse", "items": [{'),  # cut off: retried
            Answer(YT_ERRORS["quota_exceeded_403"]["status"], YT_ERRORS["quota_exceeded_403"]["body"]),
            Answer(200, load_payload(YT / "commentThreads_page2.json")),
        )
        platform.script(
            COMMENTS,
            Answer(200, load_payload(YT / "comments_replies_page1.json")),
            Answer(200, load_payload(YT / "comments_replies_page2.json")),
        )
        poller = _youtube(platform, CHANNEL, clock)
        published = poll_into(live, DIRECTORY, poller, account=f"youtube:{CHANNEL}", clock=clock)
        seen = [(r.path, r.query.get("pageToken"), r.query.get("parentId")) for r in platform.requests]
    live.drain()
    return Backfill(*_youtube_expected(), published, seen, clock.sleeps)


def test_youtube_backfill_through_rate_limits_and_malformed_pages_stores_each_event_once(
    live: LiveStack, youtube_backfill: Backfill
) -> None:
    assert youtube_backfill.requests == [
        (THREADS, None, None), (THREADS, None, None), (THREADS, "PAGE2", None), (THREADS, "PAGE2", None),
        (THREADS, "PAGE2", None), (COMMENTS, None, MANY), (COMMENTS, "R2", MANY),
    ]  # fmt: skip
    assert max(youtube_backfill.sleeps) > 18 * 3600  # quotaExceeded: the fake clock waited for Pacific midnight
    assert youtube_backfill.published == youtube_backfill.expected.total() == 10
    _assert_exactly_once(live, YT_SOURCE, CHANNEL, youtube_backfill.expected, republished=[f"youtube:{INLINED}"])
    assert _dead_letters(live, YT_SOURCE) == youtube_backfill.rejected
    assert len(youtube_backfill.rejected) == 2
    state = resume_state(live, YT_SOURCE, f"youtube:{CHANNEL}")
    assert (state["sweep"], state["pending"]) == (None, [])  # the whole sweep's cursor is stored


@pytest.mark.usefixtures("youtube_backfill")
def test_youtube_rows_hold_roles_roots_pseudonyms_and_the_response_fact(live: LiveStack) -> None:
    comment = one_row(live, INTERACTIONS, f"youtube:{DOCUMENTED}")
    assert (comment["kind"], comment["author_role"], comment["root_id"], comment["parent_id"]) == (
        "comment", "citizen", VIDEO, VIDEO,
    )  # fmt: skip
    assert comment["author_id"] == PSEUDO.pseudonym("youtube", YT_CITIZEN)
    reply = one_row(live, INTERACTIONS, f"youtube:{AGENCY_REPLY}")
    assert (reply["kind"], reply["author_role"], reply["author_id"], reply["parent_id"], reply["root_id"]) == (
        "reply", "agency", CHANNEL, DOCUMENTED, VIDEO,
    )  # fmt: skip
    assert (reply["agency_id"], reply["account_id"]) == ("kkm", CHANNEL)
    assert reply["parent_author_id"] == PSEUDO.pseudonym("youtube", YT_CITIZEN)
    other = one_row(live, INTERACTIONS, f"youtube:{OTHER_REPLY}")
    assert (other["author_role"], other["author_id"], other["agency_id"]) == ("other_agency", OTHER_CHANNEL, "kkm")
    edit = one_row(
        live, CHANGES, f"youtube:{EDITED}:edit:{int(datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC).timestamp())}"
    )
    assert (edit["op"], edit["target_id"], edit["root_id"]) == ("edit", EDITED, VIDEO)
    fact = one_fact(live, DOCUMENTED)
    assert (fact["reply_id"], fact["response_seconds"], fact["agency_id"]) == (AGENCY_REPLY, 258.0, "kkm")


def test_youtube_refused_key_stops_the_account_and_stores_nothing(live: LiveStack) -> None:
    blocked = YT_ERRORS["api_key_blocked_403"]
    with FakePlatform() as platform:
        platform.script(THREADS, Answer(blocked["status"], blocked["body"]))
        poller = _youtube(platform, YT_REVOKED, FakeClock(NOW))
        with pytest.raises(AccountError) as refused:
            poll_into(live, DIRECTORY, poller, account=f"youtube:{YT_REVOKED}", clock=FakeClock(NOW))
        assert len(platform.requests) == 1  # not retried: a refused key is for people to fix
    live.drain()
    assert refused.value.account == YT_REVOKED
    assert "forbidden" in refused.value.reason
    _assert_nothing_of(live, YT_SOURCE, Platform.YOUTUBE, YT_REVOKED)


class _Channel:
    """A synthetic channel: ``pages`` pages of 3 threads, newest first, by page token; one token can be refused."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.refuse: str | None = None

    def answer(self, query: dict[str, str]) -> Answer:
        token = query.get("pageToken", "P0")
        if token == self.refuse:
            return _google(401, "authError")
        page = int(token[1:])
        body: dict[str, Any] = {"items": [_thread(page * 3 + i) for i in range(3)]}
        if page + 1 < self.pages:
            body["nextPageToken"] = f"P{page + 1}"
        return Answer(200, body)


def _comment(comment_id: str, author: str, at: datetime, parent: str | None = None) -> dict[str, Any]:
    when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    snippet = {"channelId": YT_RESUME, "textOriginal": f"Mesej {comment_id[-4:]}", "authorChannelId": {"value": author},
               "publishedAt": when, "updatedAt": when}  # fmt: skip
    return {"id": comment_id, "snippet": snippet | ({"parentId": parent} if parent else {})}


def _thread(n: int) -> dict[str, Any]:
    thread_id, asked = f"UgzJpj{n:08d}AaABAg", SINCE + timedelta(hours=10, minutes=-10 * n)
    replies = [_comment(f"{thread_id}.r1", YT_RESUME, asked + timedelta(minutes=5), thread_id)] if n % 2 == 0 else []
    top = _comment(thread_id, f"UCjpjCitizen{n:013d}", asked)
    snippet = {"channelId": YT_RESUME, "videoId": "vidJpj00001", "topLevelComment": top,
               "totalReplyCount": len(replies)}  # fmt: skip
    return {"kind": "youtube#commentThread", "id": thread_id, "snippet": snippet, "replies": {"comments": replies}}


def test_youtube_resumes_from_the_stored_cursor_without_refetching_or_duplicating(live: LiveStack) -> None:
    channel, clock, account = _Channel(pages=4), FakeClock(NOW), f"youtube:{YT_RESUME}"
    scope, window = YouTubeScope("jpj", YT_RESUME, DIRECTORY), Window(SINCE, SINCE)
    per_page = [_ids_of(parse_threads(channel.answer({"pageToken": f"P{p}"}).body, scope, window)) for p in range(4)]
    with FakePlatform() as platform:
        platform.respond(THREADS, channel.answer)
        channel.refuse = "P2"  # the token is revoked in the middle of the backfill
        with pytest.raises(AccountError):
            poll_into(live, DIRECTORY, _youtube(platform, YT_RESUME, clock), account=account, clock=clock)
        live.drain()
        assert _stored_ids(live, YT_SOURCE, YT_RESUME) == dict.fromkeys(per_page[0] | per_page[1], 1)
        state = resume_state(live, YT_SOURCE, account)
        assert state["sweep"]["page_token"] == "P2"
        channel.refuse, before = None, len(platform.requests)
        second = _youtube(platform, YT_RESUME, clock)  # a new process, with nothing but the stored cursor
        second.resume(state)
        poll_into(live, DIRECTORY, second, account=account, clock=clock)
        tokens = [r.query.get("pageToken") for r in platform.requests[before:]]
    live.drain()
    assert tokens == ["P2", "P3"]  # pages 0 and 1 were not fetched again
    _assert_exactly_once(live, YT_SOURCE, YT_RESUME, Counter(set().union(*per_page)))
    assert len(set().union(*per_page)) == 18  # 12 comments and 6 agency replies


# --- TikTok -------------------------------------------------------------------------------------------------------


def _tiktok(platform: FakePlatform, account_id: str, clock: FakeClock) -> TikTokCommentsPoller:
    return TikTokCommentsPoller(
        _context(Platform.TIKTOK, account_id), Urllib3Client(timeout_seconds=5),
        credentials=SecretStr("act.tt-test-token"), base_url=platform.url(), clock=clock, backoff=_backoff(),
    )  # fmt: skip


def _tiktok_expected() -> tuple[Counter[str], set[tuple[str, str]]]:
    """What the pure parsers give for the documented pages of the first round (threshold ``SINCE``)."""
    scope = TikTokScope("jkns", BUSINESS, DIRECTORY)
    videos = parse_business_videos(load_payload(TT / "business_video_list.json"), scope, SINCE, set())
    pages = [
        parse_business_comments(load_payload(TT / f"business_comments_{name}.json"), scope, video, SINCE)
        for name, video in (("page1", TT_VIDEO), ("page2", TT_VIDEO), ("empty", OLD_VIDEO))
    ]
    items = [item for page in [videos, *pages] if page is not None for item in page.items]
    return _split(items)


@pytest.fixture(scope="module")
def tiktok_backfill(live: LiveStack) -> Backfill:
    """The documented account polled through code 40100, a 429, a proxy's HTML page and four pages, then drained."""
    clock = FakeClock(NOW)
    with FakePlatform() as platform:
        platform.script(
            VIDEO_LIST,
            Answer(200, TT_ERRORS["rate_limited_40100"]),  # TikTok's rate limit: HTTP 200, code 40100
            Answer(200, load_payload(TT / "business_video_list.json")),
        )
        platform.script(
            COMMENT_LIST,
            Answer(429, {"code": 40100, "message": "Too many requests"}, {"Retry-After": "30"}),
            Answer(200, load_payload(TT / "business_comments_page1.json")),
            Answer(200, b"<html>502 Bad Gateway</html>"),  # a proxy's page with status 200: retried
            Answer(200, load_payload(TT / "business_comments_page2.json")),
            Answer(200, load_payload(TT / "business_comments_empty.json")),
        )
        poller = _tiktok(platform, BUSINESS, clock)
        published = poll_into(live, DIRECTORY, poller, account=f"tiktok:{BUSINESS}", clock=clock)
        seen = [(r.path, r.query.get("video_id"), r.query.get("cursor")) for r in platform.requests]
        assert all(r.headers["access-token"] == "act.tt-test-token" for r in platform.requests)
    live.drain()
    return Backfill(*_tiktok_expected(), published, seen, clock.sleeps)


def test_tiktok_backfill_through_rate_limits_and_malformed_pages_stores_each_event_once(
    live: LiveStack, tiktok_backfill: Backfill
) -> None:
    assert tiktok_backfill.requests == [
        (VIDEO_LIST, None, "0"), (VIDEO_LIST, None, "0"), (COMMENT_LIST, TT_VIDEO, "0"), (COMMENT_LIST, TT_VIDEO, "0"),
        (COMMENT_LIST, TT_VIDEO, "2"), (COMMENT_LIST, TT_VIDEO, "2"), (COMMENT_LIST, OLD_VIDEO, "0"),
    ]  # fmt: skip
    assert 30.0 in tiktok_backfill.sleeps  # the 429's Retry-After, on the fake clock
    assert tiktok_backfill.published == tiktok_backfill.expected.total() == 5
    _assert_exactly_once(live, TT_SOURCE, BUSINESS, tiktok_backfill.expected)
    assert _dead_letters(live, TT_SOURCE) == tiktok_backfill.rejected
    assert len(tiktok_backfill.rejected) == 2


@pytest.mark.usefixtures("tiktok_backfill")
def test_tiktok_rows_hold_roles_roots_pseudonyms_and_the_response_fact(live: LiveStack) -> None:
    post = one_row(live, POSTS, f"tiktok:{TT_VIDEO}")
    assert (post["post_id"], post["agency_id"], list(post["links"])) == (TT_VIDEO, "jkns", [f"https://{TT_LINK}"])
    reply = one_row(live, INTERACTIONS, f"tiktok:{TT_AGENCY_REPLY}")
    assert (reply["kind"], reply["author_role"], reply["author_id"], reply["parent_id"], reply["root_id"]) == (
        "reply", "agency", BUSINESS, CITIZEN_COMMENT, TT_VIDEO,
    )  # fmt: skip
    comment = one_row(live, INTERACTIONS, f"tiktok:{CITIZEN_COMMENT}")
    assert (comment["kind"], comment["author_role"], comment["parent_id"]) == ("comment", "citizen", TT_VIDEO)
    assert comment["author_id"] == PSEUDO.pseudonym("tiktok", TT_CITIZEN)
    other = one_row(live, INTERACTIONS, "tiktok:7364590000000000001")
    assert (other["author_role"], other["author_id"], other["agency_id"]) == ("other_agency", TT_OTHER, "jkns")
    fact = one_fact(live, CITIZEN_COMMENT)
    assert (fact["reply_id"], fact["response_seconds"], fact["agency_id"]) == (TT_AGENCY_REPLY, 258.0, "jkns")


def test_tiktok_refused_token_stops_the_account_and_stores_nothing(live: LiveStack) -> None:
    with FakePlatform() as platform:
        platform.script(VIDEO_LIST, Answer(200, TT_ERRORS["token_invalid_40105"]))  # TikTok: HTTP 200, code 40105
        poller = _tiktok(platform, TT_REVOKED, FakeClock(NOW))
        with pytest.raises(AccountError) as refused:
            poll_into(live, DIRECTORY, poller, account=f"tiktok:{TT_REVOKED}", clock=FakeClock(NOW))
        assert len(platform.requests) == 1
    live.drain()
    assert refused.value.account == TT_REVOKED
    assert "40105" in refused.value.reason
    _assert_nothing_of(live, TT_SOURCE, Platform.TIKTOK, TT_REVOKED)


RESUME_VIDEO = "7370000000000000001"
_ASKED = int(datetime(2024, 5, 1, 9, tzinfo=UTC).timestamp())


class _Videos:
    """A synthetic account: one video with 8 comments, 2 a page newest first, by cursor; one cursor can be refused.

    Comment 0 (the newest, page 0) is the agency's answer to comment 5 (page 2): the reply is read before the
    restart, the question after it.
    """

    def __init__(self) -> None:
        self.refuse: str | None = None

    def videos(self, query: dict[str, str]) -> Answer:
        video = {"item_id": RESUME_VIDEO, "create_time": _ASKED - 3600, "caption": "Pembaharuan lesen dalam talian"}
        return Answer(200, {"code": 0, "message": "OK", "data": {"videos": [video], "cursor": 1, "has_more": False}})

    def comments(self, query: dict[str, str]) -> Answer:
        if query["cursor"] == self.refuse:
            return Answer(401, b"")
        start = int(query["cursor"])
        data = {"comments": [_tt_comment(n) for n in (start, start + 1)], "cursor": start + 2, "has_more": start < 6}
        return Answer(200, {"code": 0, "message": "OK", "data": data})


def _tt_comment(n: int) -> dict[str, Any]:
    agency = n == 0
    return {
        "comment_id": f"737000000000001{n:04d}", "video_id": RESUME_VIDEO, "create_time": _ASKED - 60 * n,
        "user_id": TT_RESUME if agency else f"-000FAKEopenIdCitizen{n:04d}", "owner": agency, "status": "PUBLIC",
        "text": "Sudah boleh, sila cuba semula." if agency else f"Soalan {n}: lesen saya belum diperbaharui?",
        "parent_comment_id": "7370000000000010005" if agency else RESUME_VIDEO,
    }  # fmt: skip


def test_tiktok_resumes_from_the_stored_cursor_without_refetching_or_duplicating(live: LiveStack) -> None:
    account, clock, videos = f"tiktok:{TT_RESUME}", FakeClock(NOW), _Videos()
    scope = TikTokScope("jpj", TT_RESUME, DIRECTORY)
    [post] = _ids_of(parse_business_videos(videos.videos({}).body, scope, SINCE, set()))
    per_page = [
        _ids_of(parse_business_comments(videos.comments({"cursor": str(c)}).body, scope, RESUME_VIDEO, SINCE))
        for c in (0, 2, 4, 6)
    ]
    with FakePlatform() as platform:
        platform.respond(VIDEO_LIST, videos.videos)
        platform.respond(COMMENT_LIST, videos.comments)
        videos.refuse = "4"  # the token is revoked in the middle of the backfill
        with pytest.raises(AccountError):
            poll_into(live, DIRECTORY, _tiktok(platform, TT_RESUME, clock), account=account, clock=clock)
        live.drain()
        assert set(_stored_ids(live, TT_SOURCE, TT_RESUME)) == {post} | per_page[0] | per_page[1]
        state = resume_state(live, TT_SOURCE, account)
        assert (state["round"]["queue"], state["round"]["cursor"]) == ([RESUME_VIDEO], 4)
        videos.refuse, before = None, len(platform.requests)
        second = _tiktok(platform, TT_RESUME, clock)  # a new process, with nothing but the stored cursor
        second.resume(state)
        poll_into(live, DIRECTORY, second, account=account, clock=clock)
        seen = [(r.path, r.query.get("cursor")) for r in platform.requests[before:]]
    live.drain()
    assert seen == [(COMMENT_LIST, "4"), (COMMENT_LIST, "6")]  # no video list, no page 0 or 2 again
    _assert_exactly_once(live, TT_SOURCE, TT_RESUME, Counter({post}.union(*per_page)))
    fact = one_fact(live, "7370000000000010005")  # asked after the restart, answered before it: still matched
    assert (fact["reply_id"], fact["response_seconds"]) == ("7370000000000010000", 300.0)
