"""The TikTok comments poller: Business API rounds (videos, then comments), code != 0 errors, Research API POSTs with
int64 ids, resume, fuzz.

Fixtures in tests/fixtures/payloads/tiktok (business -000FAKEopenIdForAgency0001 = jkns; ...OtherAgency02 = kkm):

 file                                exercises                                           expected
 business_video_list.json            2 videos (int and string create_time), one no id    Post for the one since `since`
 business_comments_page1.json        the documented pair: agency reply (owner), citizen  agency reply, citizen comment
 business_comments_page2.json        other agency comment + nested reply_list, bad time  other_agency, reply, Rejected
 business_errors.json                40100, 40105, 50002, 40007 (HTTP 200)              Retry, AccountError, Retry, skip
 research_api_video_comments.json    the documented Research page (ids as JSON numbers)  3 comments, ids exact
 research_comments_page2.json        a parent id of 2**53 + 1, a float id                exact text, Rejected
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import AccountError, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.tiktok import TikTokCommentsPoller, Urllib3JsonPoster
from connectors.polling.tiktok_parse import (
    RESEARCH_AUTHOR,
    Scope,
    business_status,
    parse_business_comments,
    parse_business_videos,
    parse_research_comments,
    research_error,
)
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, Post
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

BUSINESS = "-000FAKEopenIdForAgency0001"
OTHER = "-000FAKEopenIdOtherAgency02"
CITIZEN = "-000FAKEopenIdCitizen0042"
VIDEO = "7364512345678901234"
OLD_VIDEO = "7360000000000000001"
CITIZEN_COMMENT = "7364598765432101234"
AGENCY_REPLY = "7364601234567890123"
DIRECTORY = directory(
    agency("jkns", "JKN Selangor (Fictional)", "state", account(Platform.TIKTOK, BUSINESS, "jknselangor_fictional")),
    agency("kkm", "Kementerian Kesihatan (Fictional)", "federal", account(Platform.TIKTOK, OTHER)),
)
SINCE = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONTEXT = account_context(DIRECTORY, "jkns", Platform.TIKTOK, SINCE)
SCOPE = Scope("jkns", BUSINESS, DIRECTORY)
TT = PAYLOADS / "tiktok"
VIDEOS: dict[str, Any] = load_payload(TT / "business_video_list.json")
PAGE1: dict[str, Any] = load_payload(TT / "business_comments_page1.json")
PAGE2: dict[str, Any] = load_payload(TT / "business_comments_page2.json")
EMPTY: dict[str, Any] = load_payload(TT / "business_comments_empty.json")
ERRORS: dict[str, Any] = load_payload(TT / "business_errors.json")
RESEARCH: dict[str, Any] = load_payload(TT / "research_api_video_comments.json")
RESEARCH2: dict[str, Any] = load_payload(TT / "research_comments_page2.json")
TOKEN = SecretStr("act.test-token-DO-NOT-USE")
VIDEO_LIST, COMMENT_LIST = "/open_api/v1.3/business/video/list/", "/open_api/v1.3/business/comment/list/"
RESEARCH_PATH = "/v2/research/video/comment/list/"


def _poller(platform: FakePlatform, clock: FakeClock | None = None, **options: Any) -> TikTokCommentsPoller:
    return TikTokCommentsPoller(
        CONTEXT,
        Urllib3Client(timeout_seconds=5),
        credentials=TOKEN,
        base_url=platform.url(),
        research_base_url=platform.url(),
        clock=clock or FakeClock(NOW),
        backoff=Backoff(base_seconds=1, cap_seconds=8, rng=random.Random(3)),
        **options,
    )


def _research_poller(platform: FakePlatform, **options: Any) -> TikTokCommentsPoller:
    return _poller(platform, mode="research", video_ids=[VIDEO], poster=Urllib3JsonPoster(timeout_seconds=5), **options)


def _script_round(platform: FakePlatform) -> None:
    platform.script(VIDEO_LIST, Answer(200, VIDEOS))
    platform.script(COMMENT_LIST, Answer(200, PAGE1), Answer(200, PAGE2), Answer(200, EMPTY))


# --- parsing ---------------------------------------------------------------------------------------------------


def test_business_page_gives_the_agency_reply_and_the_citizen_comment() -> None:
    page = parse_business_comments(copy.deepcopy(PAGE1), SCOPE, VIDEO, SINCE)
    assert page is not None
    reply, comment = assert_parsed(page.items)
    assert isinstance(reply, Interaction)
    assert isinstance(comment, Interaction)
    assert (reply.event_id, reply.kind, reply.author_role, reply.author_id) == (
        f"tiktok:{AGENCY_REPLY}",
        InteractionKind.REPLY,
        AuthorRole.AGENCY,
        BUSINESS,
    )
    assert (reply.parent_id, reply.parent_author_id, reply.root_id) == (CITIZEN_COMMENT, CITIZEN, VIDEO)
    assert (comment.kind, comment.parent_id, comment.author_id, comment.author_role) == (
        InteractionKind.COMMENT,
        VIDEO,
        CITIZEN,
        AuthorRole.CITIZEN,
    )
    assert comment.created_at == datetime.fromtimestamp(1714557807, UTC)
    assert (page.cursor, page.has_more, page.oldest) == (2, True, comment.created_at)


def test_other_agency_nested_replies_and_a_bad_item_are_read_apart() -> None:
    page = parse_business_comments(copy.deepcopy(PAGE2), SCOPE, VIDEO, SINCE)
    assert page is not None
    other, nested = assert_parsed(page.items, f"tiktok video {VIDEO} comment 2: create_time")
    assert isinstance(other, Interaction)
    assert isinstance(nested, Interaction)
    assert (other.author_role, other.links) == (AuthorRole.OTHER_AGENCY, ("https://kkm.gov.my/influenza",))
    assert (nested.kind, nested.parent_id, nested.parent_author_id) == (
        InteractionKind.REPLY,
        "7364590000000000001",
        OTHER,
    )
    assert isinstance(page.items[2], Rejected)


def test_comments_before_the_threshold_give_nothing() -> None:
    page = parse_business_comments(copy.deepcopy(PAGE1), SCOPE, VIDEO, datetime.fromtimestamp(1714558000, UTC))
    assert page is not None
    assert [item.event_id for item in assert_parsed(page.items)] == [f"tiktok:{AGENCY_REPLY}"]


def test_video_list_gives_posts_for_videos_since_since_and_tracks_the_others() -> None:
    page = parse_business_videos(copy.deepcopy(VIDEOS), SCOPE, SINCE, known=set())
    assert page is not None
    [post, rejected] = page.items
    assert isinstance(post, Post)
    assert isinstance(rejected, Rejected)
    assert (post.post_id, post.links, post.source) == (VIDEO, ("https://jkns.gov.my/vaksin",), "poll:tiktok")
    assert [video.video_id for video in page.videos] == [VIDEO, OLD_VIDEO]
    known = parse_business_videos(copy.deepcopy(VIDEOS), SCOPE, SINCE, known={VIDEO})
    assert known is not None
    assert not [item for item in known.items if isinstance(item, Post)]


def test_research_ids_beyond_2_53_stay_exact_and_a_float_id_is_rejected() -> None:
    raw = (TT / "research_comments_page2.json").read_bytes()
    page = parse_research_comments(orjson.loads(raw), SCOPE, VIDEO, SINCE)
    assert page is not None
    [reply] = assert_parsed(page.items, f"tiktok video {VIDEO} comment 1: comment without id")
    assert isinstance(reply, Interaction)
    assert (reply.message_id, reply.parent_id) == ("7364601234567890999", "9007199254740993")
    assert (reply.author_id, reply.author_role, reply.root_id) == (RESEARCH_AUTHOR, AuthorRole.CITIZEN, VIDEO)
    assert float(9007199254740993) == 9007199254740992.0  # what a float would have made of it


def test_research_page_reads_comments_and_replies() -> None:
    page = parse_research_comments(copy.deepcopy(RESEARCH["response"]), SCOPE, VIDEO, SINCE)
    assert page is not None
    events = assert_parsed(page.items)
    assert [(e.message_id, e.kind) for e in events if isinstance(e, Interaction)] == [
        (CITIZEN_COMMENT, InteractionKind.COMMENT),
        ("7364599911122233344", InteractionKind.COMMENT),
        (AGENCY_REPLY, InteractionKind.REPLY),
    ]
    assert (page.cursor, page.has_more) == (3, True)


def test_error_envelopes() -> None:
    assert business_status(ERRORS["token_invalid_40105"]) == (40105, ERRORS["token_invalid_40105"]["message"])
    assert business_status({"code": "0"}) is None
    assert research_error(RESEARCH["error_rate_limited"]["body"])[0] == "rate_limit_exceeded"
    assert research_error([]) == ("", "")


@pytest.mark.parametrize("payload", [None, [], {"code": 0}, {"data": {"comments": {}}}, {"data": {"cursor": "2"}}])
def test_a_page_of_another_shape_is_none(payload: Any) -> None:
    assert parse_business_comments(payload, SCOPE, VIDEO, SINCE) is None


# --- business rounds through the fake platform -----------------------------------------------------------------


def test_a_round_lists_videos_then_pages_each_videos_comments() -> None:
    with FakePlatform() as platform:
        _script_round(platform)
        pages = drain(_poller(platform))
        seen = [(r.path, r.query.get("video_id"), r.query.get("cursor")) for r in platform.requests]
        first = platform.requests[1]
    assert seen == [
        (VIDEO_LIST, None, "0"),
        (COMMENT_LIST, VIDEO, "0"),
        (COMMENT_LIST, VIDEO, "2"),
        (COMMENT_LIST, OLD_VIDEO, "0"),
    ]
    assert (first.query["business_id"], first.query["sort_order"], first.query["max_count"]) == (BUSINESS, "desc", "30")
    assert first.headers["access-token"] == TOKEN.get_secret_value()
    assert [page.more for page in pages] == [True, True, True, False]
    assert event_ids(pages) == [
        f"tiktok:{VIDEO}",
        f"tiktok:{AGENCY_REPLY}",
        f"tiktok:{CITIZEN_COMMENT}",
        "tiktok:7364590000000000001",
        "tiktok:7364590000000000002",
    ]
    assert len([item for page in pages for item in page.items if isinstance(item, Rejected)]) == 2
    assert pages[-1].newest == datetime.fromtimestamp(1714558065, UTC)


def test_the_next_round_emits_only_new_comments_and_stops_at_the_watermark() -> None:
    newer = copy.deepcopy(PAGE1)
    fresh = {**newer["data"]["comments"][1], "comment_id": "7364700000000000001", "create_time": 1714560000}
    newer["data"]["comments"].insert(0, fresh)
    with FakePlatform() as platform:
        _script_round(platform)
        platform.script(VIDEO_LIST, Answer(200, VIDEOS))
        platform.script(COMMENT_LIST, Answer(200, newer), Answer(200, EMPTY))
        poller = _poller(platform, overlap_seconds=0)
        drain(poller)
        pages = drain(poller)
        cursors = [r.query.get("cursor") for r in platform.requests[5:]]
    assert event_ids(pages) == ["tiktok:7364700000000000001", f"tiktok:{AGENCY_REPLY}"]  # the watermark itself, again
    assert cursors == ["0", "0"]  # page 1 reached the watermark: no page 2


@pytest.mark.parametrize(("name", "error"), [("rate_limited_40100", Retry), ("server_error_50002", Retry)])
def test_throttling_and_server_codes_back_off_then_recover(name: str, error: type[Exception]) -> None:
    with FakePlatform() as platform:
        platform.script(VIDEO_LIST, Answer(200, ERRORS[name]), Answer(200, VIDEOS))
        poller = _poller(platform)
        with pytest.raises(error) as caught:
            poller.next_page()
        assert isinstance(caught.value, Retry)
        assert 0 <= caught.value.after_seconds <= 1
        assert poller.next_page().items


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, ERRORS["token_invalid_40105"]),
        Answer(200, {"code": 40100, "message": "Access token is invalid or expired", "data": {}}),
        Answer(200, {"code": 40001, "message": "No permission", "data": {}}),
        Answer(401, b""),
    ],
)
def test_token_and_permission_errors_stop_the_account(answer: Answer) -> None:
    with FakePlatform() as platform:
        platform.script(VIDEO_LIST, answer)
        with pytest.raises(AccountError) as caught:
            _poller(platform).next_page()
    assert caught.value.account == BUSINESS
    assert TOKEN.get_secret_value() not in str(caught.value)


def test_a_deleted_video_is_skipped() -> None:
    with FakePlatform() as platform:
        platform.script(VIDEO_LIST, Answer(200, VIDEOS))
        platform.script(COMMENT_LIST, Answer(200, ERRORS["not_found_40007"]), Answer(200, EMPTY))
        poller = _poller(platform)
        pages = drain(poller)
    assert [page.more for page in pages] == [True, True, False]
    assert VIDEO not in poller.snapshot()["videos"]


@pytest.mark.parametrize("answer", [Answer(200, b"{not json"), Answer(200, {"code": 0, "data": []}), Answer(502)])
def test_malformed_bodies_back_off(answer: Answer) -> None:
    with FakePlatform() as platform:
        platform.script(VIDEO_LIST, answer, Answer(200, VIDEOS))
        poller = _poller(platform)
        with pytest.raises(Retry):
            poller.next_page()
        assert poller.next_page().items
    assert poller._backoff.attempt == 0


def test_resume_from_a_snapshot_continues_exactly() -> None:
    with FakePlatform() as straight:
        _script_round(straight)
        expected = event_ids(drain(_poller(straight)))
        expected_requests = [(r.path, r.query) for r in straight.requests]
    with FakePlatform() as platform:
        _script_round(platform)
        first = _poller(platform)
        ids = event_ids([first.next_page(), first.next_page()])  # the video list, comments page 1
        state = orjson.loads(orjson.dumps(first.snapshot()))
        second = _poller(platform)
        second.resume(state)
        ids += event_ids(drain(second))
        requests = [(r.path, r.query) for r in platform.requests]
    assert ids == expected
    assert requests == expected_requests


def test_resume_refuses_another_modes_cursor() -> None:
    with FakePlatform() as platform:
        state = _poller(platform).snapshot()
        with pytest.raises(ValueError, match="TikTok cursor"):
            _research_poller(platform).resume(state)
        with pytest.raises(ValueError, match="TikTok cursor"):
            _poller(platform).resume({"version": 1})


def test_the_first_round_reads_old_videos_later_rounds_only_recent_ones() -> None:
    clock = FakeClock(NOW)
    with FakePlatform() as platform:
        _script_round(platform)
        poller = _poller(platform, clock, max_video_age_days=7)
        drain(poller)
        assert set(poller.snapshot()["videos"]) == {VIDEO, OLD_VIDEO}  # OLD_VIDEO: 6.5 days old, read
        platform.script(VIDEO_LIST, Answer(200, VIDEOS))
        platform.script(COMMENT_LIST, Answer(200, EMPTY))
        clock.advance(timedelta(days=1).total_seconds())
        drain(poller)
    assert set(poller.snapshot()["videos"]) == {VIDEO}


# --- research mode ---------------------------------------------------------------------------------------------


def test_research_mode_posts_pages_and_keeps_int64_ids_exact() -> None:
    page2 = (TT / "research_comments_page2.json").read_bytes()
    with FakePlatform() as platform:
        platform.script(RESEARCH_PATH, Answer(200, RESEARCH["response"]), Answer(200, page2))
        pages = drain(_research_poller(platform))
        methods = [(r.method, r.query["fields"], r.headers["authorization"]) for r in platform.requests]
    assert (
        methods
        == [
            (
                "POST",
                "id,video_id,text,like_count,reply_count,parent_comment_id,create_time",
                "Bearer " + TOKEN.get_secret_value(),
            )
        ]
        * 2
    )
    assert [page.more for page in pages] == [True, False]
    assert event_ids(pages) == [
        f"tiktok:{CITIZEN_COMMENT}",
        "tiktok:7364599911122233344",
        f"tiktok:{AGENCY_REPLY}",
        "tiktok:7364601234567890999",
    ]
    replies = [item for item in pages[1].items if isinstance(item, Interaction)]
    assert replies[0].parent_id == "9007199254740993"


def test_research_rate_limit_waits_retry_after_or_a_minute() -> None:
    limited = RESEARCH["error_rate_limited"]
    with FakePlatform() as platform:
        platform.script(
            RESEARCH_PATH,
            Answer(429, limited["body"], {"Retry-After": "17"}),
            Answer(429, limited["body"]),
            Answer(200, RESEARCH["response"]),
        )
        poller = _research_poller(platform)
        waits = retry_waits(poller, 2)
        assert poller.next_page().items
    assert waits == [17.0, 60.0]


def test_research_invalid_token_stops_the_account() -> None:
    invalid = RESEARCH["error_invalid_token"]
    with FakePlatform() as platform:
        platform.script(RESEARCH_PATH, Answer(invalid["status"], invalid["body"]))
        with pytest.raises(AccountError, match="access_token_invalid"):
            _research_poller(platform).next_page()


def test_research_mode_needs_video_ids_and_credentials_are_required() -> None:
    with pytest.raises(ValueError, match="video_ids"):
        TikTokCommentsPoller(CONTEXT, Urllib3Client(), credentials=TOKEN, mode="research")
    with pytest.raises(ValueError, match="SERAMBI_TIKTOK_ACCESS_TOKEN"):
        TikTokCommentsPoller(CONTEXT, Urllib3Client(), credentials=SecretStr(""))


# --- fuzz ------------------------------------------------------------------------------------------------------

_FUZZ = fuzz_settings(150)
_json = json_values(st.sampled_from([BUSINESS, OTHER, VIDEO, 1714557807, 2**63 - 1, 2**53 + 1, "1714557807"]))
_KEYS = ["comment_id", "id", "create_time", "user_id", "owner", "parent_comment_id", "reply_list", "data", "item_id"]
_fixtures = st.sampled_from([PAGE1, PAGE2, VIDEOS, RESEARCH["response"], RESEARCH2])


def _parse_any(payload: Any) -> list[Parsed]:
    items: list[Parsed] = []
    for page in (
        parse_business_comments(payload, SCOPE, VIDEO, SINCE),
        parse_research_comments(payload, SCOPE, VIDEO, SINCE),
        parse_business_videos(payload, SCOPE, SINCE, known=set()),
    ):
        items.extend(page.items if page is not None else [])
    return items


@_FUZZ
@given(payload=_json)
def test_random_json_never_raises(payload: Any) -> None:
    assert_parsed(_parse_any(payload), "tiktok video")


@_FUZZ
@given(payload=_fixtures.flatmap(lambda page: mutated(page, _json, _KEYS)))
def test_mutated_pages_never_raise(payload: Any) -> None:
    assert_parsed(_parse_any(payload), "tiktok video")
