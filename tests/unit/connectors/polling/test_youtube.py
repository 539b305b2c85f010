"""The YouTube Data API v3 comments poller: parsing, sweeps with reply expansion, quota, errors, resume, fuzz.

Fixtures in tests/fixtures/payloads/youtube (agency channel UC1a2B3c4D5e6F7g8H9i0JkL = kkm; UCotherAgency... = jkns):

 file                           exercises                                            expected
 commentThreads_page1.json      edited comment; documented comment + agency reply;   comment + Change edit; comment,
                                comment without authorChannelId + other agency reply agency reply; Rejected, other ag.
 commentThreads_page2.json      3 replies with 1 inlined; a thread before `since`    expansion queued; paging stops
 comments_replies_page1/2.json  comments.list of that thread, a bad time             3 replies (agency last), Rejected
 commentThreads_follow.json     next sweep: a new thread, a new inlined reply        only what is new is emitted
 errors.json                    quotaExceeded, commentsDisabled, forbidden           Retry until midnight / skip / stop
"""

from __future__ import annotations

import copy
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import AccountError, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, ListEventSink, load_payload
from connectors.polling.youtube import YouTubeCommentsPoller, seconds_until_quota_reset
from connectors.polling.youtube_parse import Expansion, Scope, Window, google_error, parse_replies, parse_threads
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.polling import account_context, drain, event_ids, retry_waits
from tests.helpers.webhooks import (
    account,
    agency,
    assert_parsed,
    directory,
    fuzz_settings,
    json_values,
    mutated,
)

CHANNEL = "UC1a2B3c4D5e6F7g8H9i0JkL"
OTHER_CHANNEL = "UCotherAgencyChannel00001"
CITIZEN = "UCzY9x8W7v6U5t4S3r2Q1pOn"
VIDEO = "dQ4wKpL9xYz"
EDITED = "UgyQ9w8e7r6t5y4u3i2o1pAaABAg"
DOCUMENTED = "UgzX1a2b3c4d5e6f7g8h9i4AaABAg"
AGENCY_REPLY = f"{DOCUMENTED}.A3kLmN0pQrSA3kLmP1qRsT"
LEGACY = "UgwLegacyNoAuthor00000000AaABAg"
MANY = "UgxManyReplies000000000000AaABAg"
DIRECTORY = directory(
    agency("kkm", "Kementerian Kesihatan (Fictional)", "federal", account(Platform.YOUTUBE, CHANNEL, "KKMFictional")),
    agency("jkns", "JKN Selangor (Fictional)", "state", account(Platform.YOUTUBE, OTHER_CHANNEL)),
)
SINCE = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # 05:00 PDT: the quota resets in 19 h
CONTEXT = account_context(DIRECTORY, "kkm", Platform.YOUTUBE, SINCE)
SCOPE = Scope("kkm", CHANNEL, DIRECTORY)
BACKFILL = Window(SINCE, SINCE)
YT = PAYLOADS / "youtube"
PAGE1: dict[str, Any] = load_payload(YT / "commentThreads_page1.json")
PAGE2: dict[str, Any] = load_payload(YT / "commentThreads_page2.json")
REPLIES1: dict[str, Any] = load_payload(YT / "comments_replies_page1.json")
REPLIES2: dict[str, Any] = load_payload(YT / "comments_replies_page2.json")
FOLLOW: dict[str, Any] = load_payload(YT / "commentThreads_follow.json")
ERRORS: dict[str, Any] = load_payload(YT / "errors.json")
KEY = SecretStr("test-api-key-DO-NOT-USE")
THREADS, COMMENTS = "/youtube/v3/commentThreads", "/youtube/v3/comments"


def _error(name: str) -> Answer:
    return Answer(ERRORS[name]["status"], ERRORS[name]["body"])


def _google(status: int, reason: str) -> Answer:
    return Answer(status, {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}})


def _poller(platform: FakePlatform, clock: FakeClock | None = None, **options: Any) -> YouTubeCommentsPoller:
    backoff = Backoff(base_seconds=1, cap_seconds=8, rng=random.Random(7))
    return YouTubeCommentsPoller(
        CONTEXT,
        Urllib3Client(timeout_seconds=5),
        credentials=KEY,
        base_url=platform.url("/youtube/v3"),
        clock=clock or FakeClock(NOW),
        backoff=backoff,
        **options,
    )


def _script_backfill(platform: FakePlatform) -> None:
    platform.script(THREADS, Answer(200, PAGE1), Answer(200, PAGE2))
    platform.script(COMMENTS, Answer(200, REPLIES1), Answer(200, REPLIES2))


# --- parsing ---------------------------------------------------------------------------------------------------


def test_first_page_gives_comments_replies_the_edit_and_one_rejection() -> None:
    page = parse_threads(copy.deepcopy(PAGE1), SCOPE, BACKFILL)
    assert page is not None
    events = {event.event_id: event for event in assert_parsed(page.items, "youtube thread 2 comment")}
    assert page.next_token == "PAGE2"
    assert page.newest == datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)
    comment = events[f"youtube:{DOCUMENTED}"]
    assert isinstance(comment, Interaction)
    assert (comment.kind, comment.root_id, comment.parent_id) == (InteractionKind.COMMENT, VIDEO, VIDEO)
    assert (comment.author_id, comment.author_role, comment.source) == (CITIZEN, AuthorRole.CITIZEN, "poll:youtube")
    reply = events[f"youtube:{AGENCY_REPLY}"]
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.parent_id, reply.root_id) == (InteractionKind.REPLY, DOCUMENTED, VIDEO)
    assert (reply.author_id, reply.author_role, reply.parent_author_id) == (CHANNEL, AuthorRole.AGENCY, CITIZEN)
    assert (reply.agency_id, reply.account_id) == ("kkm", CHANNEL)
    edit = events[f"youtube:{EDITED}:edit:{int(datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC).timestamp())}"]
    assert isinstance(edit, Change)
    assert (edit.op, edit.target_id, edit.root_id, edit.created_at.minute) == (ChangeOp.EDIT, EDITED, VIDEO, 15)
    assert edit.text == "Video ni sangat membantu. Klinik dekat Klang pun ada ke?"
    other = events[f"youtube:{LEGACY}.B1otherAgencyReply0001"]
    assert isinstance(other, Interaction)
    assert other.author_role is AuthorRole.OTHER_AGENCY
    assert other.links == ("https://jkns.gov.my/klinik",)
    [rejected] = [item for item in page.items if isinstance(item, Rejected)]
    assert "without authorChannelId" in rejected.reason
    assert page.expansions == []


def test_a_thread_with_more_replies_than_inlined_is_expanded_and_old_threads_are_not_emitted() -> None:
    page = parse_threads(copy.deepcopy(PAGE2), SCOPE, BACKFILL)
    assert page is not None
    assert [e.event_id for e in assert_parsed(page.items)] == [
        f"youtube:{MANY}",
        f"youtube:{MANY}.C1reply0000000000001",
    ]
    assert page.expansions == [Expansion(MANY, VIDEO, "UCcitizenThree0000000003", 3)]
    assert page.newest == datetime(2024, 5, 1, 9, 31, tzinfo=UTC)


def test_replies_page_keeps_good_replies_and_rejects_a_bad_time() -> None:
    thread = Expansion(MANY, VIDEO, "UCcitizenThree0000000003", 3)
    page = parse_replies(copy.deepcopy(REPLIES2), SCOPE, BACKFILL, thread)
    assert page is not None
    [answer] = assert_parsed(page.items, f"youtube thread {MANY} reply 1: publishedAt")
    assert isinstance(answer, Interaction)
    assert (answer.author_role, answer.parent_id, answer.parent_author_id) == (
        AuthorRole.AGENCY,
        MANY,
        "UCcitizenThree0000000003",
    )
    assert answer.links == ("https://kkm.gov.my/vaksin",)
    assert len(page.items) == 2
    assert page.next_token is None


def test_text_display_html_is_read_when_there_is_no_text_original() -> None:
    payload = copy.deepcopy(PAGE1)
    snippet = payload["items"][1]["replies"]["comments"][0]["snippet"]
    del snippet["textOriginal"]
    page = parse_threads(payload, SCOPE, BACKFILL)
    assert page is not None
    reply = next(e for e in assert_parsed(page.items) if e.event_id == f"youtube:{AGENCY_REPLY}")
    assert isinstance(reply, Interaction)
    assert reply.text == "@aisyahrahman92 Walk-in dibenarkan, tetapi temujanji melalui aplikasi diutamakan."


@pytest.mark.parametrize("payload", [None, [], {"kind": "x"}, {"items": {}}, {"items": [], "nextPageToken": 5}])
def test_a_page_of_another_shape_is_none(payload: Any) -> None:
    assert parse_threads(payload, SCOPE, BACKFILL) is None


def test_google_error_reads_the_reason_and_strips_html() -> None:
    reason, message = google_error(orjson.dumps(ERRORS["quota_exceeded_403"]["body"]))
    assert reason == "quotaExceeded"
    assert "<a" not in message
    assert message.startswith("The request cannot be completed")
    assert google_error(b"not json") == ("", "")


# --- quota reset -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "hours"),
    [
        (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), 19),  # PDT (UTC-7): 05:00 local
        (datetime(2024, 1, 15, 7, 0, tzinfo=UTC), 1),  # PST (UTC-8): 23:00 on the 14th, local
        (datetime(2024, 3, 10, 9, 0, tzinfo=UTC), 22),  # 01:00 PST on the day DST starts (a 23-hour day)
        (datetime(2024, 11, 3, 8, 0, tzinfo=UTC), 24),  # 01:00 PDT on the day DST ends (a 25-hour day)
    ],
)
def test_seconds_until_quota_reset_is_the_next_pacific_midnight(now: datetime, hours: int) -> None:
    wait = seconds_until_quota_reset(now)
    local_midnight = (now + timedelta(seconds=wait)).astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local_midnight.hour, local_midnight.minute, local_midnight.second) == (0, 0, 0)
    assert wait == hours * 3600


# --- polling through the fake platform -------------------------------------------------------------------------


def test_backfill_pages_threads_expands_replies_and_stops_at_since() -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        poller = _poller(platform)
        pages = drain(poller)
        seen = [(r.path, r.query.get("pageToken"), r.query.get("parentId")) for r in platform.requests]
    assert seen == [(THREADS, None, None), (THREADS, "PAGE2", None), (COMMENTS, None, MANY), (COMMENTS, "R2", MANY)]
    first = platform.requests[0].query
    assert first["allThreadsRelatedToChannelId"] == CHANNEL
    expected = ("snippet,replies", "time", "100", KEY.get_secret_value())
    assert (first["part"], first["order"], first["maxResults"], first["key"]) == expected
    assert [page.more for page in pages] == [True, True, True, False]
    ids = event_ids(pages)
    assert f"youtube:{MANY}.C1reply0000000000003" in ids  # the agency's answer came from comments.list
    assert not [i for i in ids if "UgyOldThread" in i]  # before since: never emitted
    rejected = [item for page in pages for item in page.items if isinstance(item, Rejected)]
    assert len(rejected) == 2
    assert pages[-1].newest == datetime(2024, 5, 1, 10, 20, tzinfo=UTC)
    assert poller.quota_remaining == 10_000 - 4


def test_a_follow_sweep_emits_only_what_is_new() -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        platform.script(THREADS, Answer(200, FOLLOW))
        poller = _poller(platform, overlap_seconds=0)
        backfill = set(event_ids(drain(poller)))
        follow = drain(poller)
        assert platform.requests[-1].query.get("pageToken") is None
    new = set(event_ids(follow)) - backfill
    assert new == {"youtube:UgzNewThread00000000000000AaABAg", f"youtube:{DOCUMENTED}.A3kLmN0pQrSA3kLmZZnewRp"}
    assert f"youtube:{DOCUMENTED}" not in event_ids(follow)  # before the watermark: emitted by the backfill


def test_quota_exceeded_waits_until_pacific_midnight_then_reads() -> None:
    clock = FakeClock(NOW)
    with FakePlatform() as platform:
        platform.script(THREADS, _error("quota_exceeded_403"), Answer(200, PAGE2))
        platform.script(COMMENTS, Answer(200, REPLIES2))
        poller = _poller(platform, clock)
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert caught.value.after_seconds == 19 * 3600
        assert "quotaExceeded" in caught.value.reason
        assert poller.quota_remaining == 0
        clock.sleep(caught.value.after_seconds)
        page = poller.next_page()
    assert page.items
    assert poller.quota_remaining == 10_000 - 1


def test_the_run_loop_sleeps_until_pacific_midnight_on_quota_exceeded() -> None:
    clock, stop, sink = FakeClock(NOW), threading.Event(), ListEventSink()
    with FakePlatform() as platform:
        platform.script(THREADS, _error("quota_exceeded_403"), Answer(200, PAGE2))
        platform.script(COMMENTS, Answer(200, REPLIES2))
        poller = _poller(platform, clock)
        published = poller.run(sink, stop, clock=clock, checkpoint=lambda state: stop.set())
    assert clock.sleeps[0] == 19 * 3600
    assert published == 2
    assert clock.now().astimezone(ZoneInfo("America/Los_Angeles")).hour == 0


def test_the_pollers_own_budget_is_obeyed_without_a_request() -> None:
    clock = FakeClock(NOW)
    with FakePlatform() as platform:
        platform.script(THREADS, Answer(200, {**PAGE1, "nextPageToken": "MORE"}))
        poller = _poller(platform, clock, daily_quota_units=1)
        poller.next_page()
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert len(platform.requests) == 1
    assert caught.value.after_seconds == 19 * 3600


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_rate_limits_back_off(reason: str) -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, _google(403, reason), Answer(200, PAGE2))
        platform.script(COMMENTS, Answer(200, REPLIES2))
        poller = _poller(platform)
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert 0 <= caught.value.after_seconds <= 1
        assert poller.next_page().items


@pytest.mark.parametrize(
    "answer",
    [
        _google(400, "keyInvalid"),
        _google(401, "authError"),
        Answer(403, load_payload(YT / "errors.json")["api_key_blocked_403"]["body"]),
        _google(404, "channelNotFound"),
    ],
)
def test_credential_and_permission_errors_stop_the_account(answer: Answer) -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, answer)
        with pytest.raises(AccountError) as caught:
            _poller(platform).next_page()
    assert caught.value.account == CHANNEL
    assert KEY.get_secret_value() not in str(caught.value)


def test_comments_disabled_on_a_thread_skips_it_not_the_account() -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, Answer(200, PAGE2))
        platform.script(COMMENTS, _error("comments_disabled_403"))
        pages = drain(_poller(platform))
    assert [page.more for page in pages] == [True, False]
    assert pages[1].items == []


def test_comments_disabled_on_the_channel_ends_the_sweep() -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, _error("comments_disabled_403"))
        page = _poller(platform).next_page()
    assert (page.items, page.more) == ([], False)


def test_a_stale_page_token_restarts_the_sweep() -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, Answer(200, PAGE1), _google(400, "invalidPageToken"), Answer(200, PAGE1))
        poller = _poller(platform)
        poller.next_page()
        assert poller.next_page().more
        poller.next_page()
        tokens = [r.query.get("pageToken") for r in platform.requests]
    assert tokens == [None, "PAGE2", None]


@pytest.mark.parametrize(
    "answer", [Answer(200, b"<html>oops</html>"), Answer(200, {"error": "no items"}), Answer(503, b"down")]
)
def test_malformed_bodies_and_server_errors_back_off_then_recover(answer: Answer) -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, answer, answer, Answer(200, PAGE2))
        platform.script(COMMENTS, Answer(200, REPLIES2))
        poller = _poller(platform)
        waits = retry_waits(poller, 2)
        assert poller.next_page().items
    assert 0 <= waits[0] <= 1
    assert 0 <= waits[1] <= 2
    assert poller._backoff.attempt == 0  # a success resets the back-off


def test_an_unreachable_platform_backs_off() -> None:
    with FakePlatform() as platform:
        url = platform.url("/youtube/v3")
    poller = YouTubeCommentsPoller(
        CONTEXT, Urllib3Client(timeout_seconds=2), credentials=KEY, base_url=url, clock=FakeClock(NOW)
    )
    with pytest.raises(Retry, match="unreachable"):
        poller.next_page()


def test_bearer_auth_sends_the_token_as_a_header_and_no_key() -> None:
    with FakePlatform() as platform:
        platform.script(THREADS, Answer(200, PAGE2))
        platform.script(COMMENTS, Answer(200, REPLIES2))
        _poller(platform, auth="bearer").next_page()
        [seen] = platform.requests
    assert "key" not in seen.query
    assert seen.headers["authorization"] == f"Bearer {KEY.get_secret_value()}"


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="SERAMBI_YOUTUBE_API_KEY"):
        YouTubeCommentsPoller(CONTEXT, Urllib3Client(), credentials=None)


def test_resume_from_a_snapshot_continues_exactly() -> None:
    with FakePlatform() as straight:
        _script_backfill(straight)
        expected = event_ids(drain(_poller(straight)))
        expected_requests = [(r.path, r.query) for r in straight.requests]
    with FakePlatform() as platform:
        _script_backfill(platform)
        first = _poller(platform)
        ids = event_ids([first.next_page(), first.next_page()])  # threads page 1, page 2 (expansion queued)
        state = orjson.loads(orjson.dumps(first.snapshot()))  # through JSON, as a checkpoint store keeps it
        second = _poller(platform)
        second.resume(state)
        ids += event_ids(drain(second))
        requests = [(r.path, r.query) for r in platform.requests]
        assert second.snapshot()["quota"]["used"] == 4
    assert ids == expected
    assert requests == expected_requests


@pytest.mark.parametrize("state", [{}, {"version": 2}, {"version": 1, "sweep": 3}])
def test_resume_refuses_what_is_not_a_youtube_cursor(state: dict[str, Any]) -> None:
    with FakePlatform() as platform, pytest.raises(ValueError, match="YouTube cursor"):
        _poller(platform).resume(state)


# --- fuzz ------------------------------------------------------------------------------------------------------

_FUZZ = fuzz_settings(150)
_json = json_values(st.sampled_from([CHANNEL, OTHER_CHANNEL, "2024-05-01T10:00:00Z", "2024-05-01T10:00:00"]))
_KEYS = ["id", "snippet", "publishedAt", "updatedAt", "authorChannelId", "replies", "videoId", "totalReplyCount"]
_fixtures = st.sampled_from([PAGE1, PAGE2, FOLLOW, REPLIES1, REPLIES2])
_THREAD = Expansion(MANY, VIDEO, None, 3)


def _parse_any(payload: Any) -> list[Parsed]:
    threads = parse_threads(payload, SCOPE, BACKFILL)
    replies = parse_replies(payload, SCOPE, Window(SINCE, SINCE + timedelta(minutes=30)), _THREAD)
    return [*(threads.items if threads else []), *(replies.items if replies else [])]


@_FUZZ
@given(payload=_json)
def test_random_json_never_raises(payload: Any) -> None:
    assert_parsed(_parse_any(payload), "youtube thread")


@_FUZZ
@given(payload=_fixtures.flatmap(lambda page: mutated(page, _json, _KEYS)))
def test_mutated_pages_never_raise(payload: Any) -> None:
    assert_parsed(_parse_any(payload), "youtube thread")
