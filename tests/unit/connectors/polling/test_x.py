"""The X API v2 poller: v2 parsing, mentions + conversation search rounds, rate limits, errors, resume, fuzz.

Fixtures in tests/fixtures/payloads/x_twitter (agency @MOHfictional = 1498765432109876543):

 file                                exercises                                         expected
 v2_mentions_timeline.json           quote mention + citizen reply, includes, token    mention, comment, included Post
 v2_search_recent_conversation.json  conversation_id search: agency + citizen reply    agency reply, citizen comment
 v2_errors_and_rate_limits.json      429 problem / usage cap / 401 / 400 / 200+errors  Retry, AccountError, data kept
 v2_quirks.json (page)               edit, retweet, note_tweet, &amp;, other agency,   Change, skipped, full text,
                                     deep reply (parent author from includes),         decoded text, other_agency,
                                     no conversation_id, 4 bad items                   reply, parent as root, Rejected
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import AccountError, InvalidInput, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, ListEventSink, load_payload
from connectors.polling.x import XMentionsPoller
from connectors.polling.x_limits import FailureKind, failure_of, rate_limit_remaining, rate_limit_wait
from connectors.polling.x_v2 import V2Page, parse_v2_page, parse_v2_time, snowflake_time
from connectors.webhooks.x import parse_x_activity
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform, Post
from tests.helpers.fake_platform import Answer, FakePlatform
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
    retry_waits,
)
from tests.helpers.webhooks import (
    PSEUDO,
    assert_parsed,
    fuzz_never_raises,
    fuzz_settings,
    json_values,
    mutated,
)

AGENCY_USER, OTHER_AGENCY_USER, CITIZEN = X_AGENCY_USER, X_OTHER_AGENCY_USER, X_CITIZEN
POST_ID, CITIZEN_REPLY, AGENCY_REPLY, QUOTE = X_POST_ID, X_CITIZEN_REPLY, X_AGENCY_REPLY, X_QUOTE
DIRECTORY = X_DIRECTORY
SINCE = datetime(2024, 4, 28, tzinfo=UTC)
CONTEXT = account_context(DIRECTORY, "moh", Platform.X, SINCE)
X = PAYLOADS / "x_twitter"
MENTIONS: dict[str, Any] = load_payload(X / "v2_mentions_timeline.json")
SEARCH: dict[str, Any] = load_payload(X / "v2_search_recent_conversation.json")
ERRORS: dict[str, Any] = load_payload(X / "v2_errors_and_rate_limits.json")
QUIRKS: dict[str, Any] = load_payload(X / "v2_quirks.json")["page"]
RESET = 1714558500  # x-rate-limit-reset of the fixtures: 2024-05-01 10:15:00 UTC
NOW = datetime(2024, 5, 1, 10, 14, tzinfo=UTC)
MENTIONS_PATH = f"/2/users/{AGENCY_USER}/mentions"
SEARCH_PATH = "/2/tweets/search/recent"
TOKEN = SecretStr(X_TOKEN_TEXT)


def _parse(payload: Any) -> V2Page:
    return parse_v2_page(copy.deepcopy(payload), CONTEXT, "poll:x")


def _by_id(items: list[Parsed]) -> dict[str, Any]:
    return {item.event_id: item for item in assert_parsed(items)}


def _page(*tweets: dict[str, Any], next_token: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if tweets:
        meta["newest_id"] = max((t["id"] for t in tweets), key=int)
    if next_token:
        meta["next_token"] = next_token
    return {"data": list(tweets), "meta": meta} if tweets else {"meta": meta}


def _tweet(tweet_id: str, author: str, parent: str | None = None, root: str | None = None) -> dict[str, Any]:
    tweet: dict[str, Any] = {
        "id": tweet_id,
        "text": f"tweet {tweet_id}",
        "author_id": author,
        "conversation_id": root or tweet_id,
        "created_at": "2024-05-01T10:30:00.000Z",
        "edit_history_tweet_ids": [tweet_id],
    }
    if parent:
        tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
    return tweet


# --- the pure v2 parser ------------------------------------------------------------------------------------------


def test_mentions_page_gives_mention_comment_and_the_included_agency_post() -> None:
    page = _parse(MENTIONS)
    events = _by_id(page.items)
    assert sorted(events) == [f"x:{POST_ID}", f"x:{CITIZEN_REPLY}", f"x:{QUOTE}"]
    quote = events[f"x:{QUOTE}"]
    assert isinstance(quote, Interaction)
    assert (quote.kind, quote.root_id, quote.parent_id) == (InteractionKind.MENTION, QUOTE, None)
    assert quote.links == ("https://x.com/MOHfictional/status/1785600000000000001",)
    assert quote.author_role is AuthorRole.CITIZEN
    reply = events[f"x:{CITIZEN_REPLY}"]
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.root_id, reply.parent_id) == (InteractionKind.COMMENT, POST_ID, POST_ID)
    assert (reply.author_id, reply.parent_author_id) == (CITIZEN, AGENCY_USER)
    assert reply.created_at == datetime(2024, 5, 1, 10, 3, 27, tzinfo=UTC)
    assert (reply.agency_id, reply.account_id, reply.source) == ("moh", AGENCY_USER, "poll:x")
    post = events[f"x:{POST_ID}"]
    assert isinstance(post, Post)
    assert post.text is not None
    assert post.text.startswith("Vaksin influenza")
    assert page.next_token == MENTIONS["meta"]["next_token"]
    assert page.newest_id == QUOTE
    assert set(page.conversations) == {QUOTE, POST_ID}
    assert page.newest_at == datetime(2024, 5, 1, 10, 12, 9, tzinfo=UTC)


def test_conversation_search_finds_the_agency_reply() -> None:
    events = _by_id(_parse(SEARCH).items)
    reply = events[f"x:{AGENCY_REPLY}"]
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role, reply.root_id) == (InteractionKind.REPLY, AuthorRole.AGENCY, POST_ID)
    assert (reply.parent_id, reply.parent_author_id) == (CITIZEN_REPLY, CITIZEN)


def test_same_event_as_the_webhook_for_the_same_tweet() -> None:
    delivery = orjson.loads(ERRORS["account_activity_webhook"]["event_post"]["raw_body"])
    (hooked,) = parse_x_activity(delivery, DIRECTORY, partial(PSEUDO.pseudonym, "x"))
    polled = _by_id(_parse(MENTIONS).items)[f"x:{CITIZEN_REPLY}"]
    assert not isinstance(hooked, Rejected)
    keep = {"source"}
    assert hooked.model_dump(exclude=keep) == polled.model_dump(exclude=keep)


def test_quirks() -> None:
    page = _parse(QUIRKS)
    events = _by_id(page.items)
    edit = events["x:1785630000000000050:edit:1785640000000000077"]
    assert isinstance(edit, Change)
    assert (edit.op, edit.target_id, edit.root_id, edit.author_id) == (
        ChangeOp.EDIT,
        "1785630000000000050",
        POST_ID,
        CITIZEN,
    )
    assert "x:1785640000000000078" not in events  # the retweet
    long = events["x:1785640000000000079"]
    assert isinstance(long, Interaction)
    assert long.text is not None
    assert long.text.endswith("https://t.co/Lnk2")
    assert long.links == ("https://moh.gov.my/temujanji", "https://moh.gov.my/klinik")
    post = events["x:1785640000000000080"]
    assert isinstance(post, Post)
    assert (post.text, post.links) == (
        "Waktu operasi klinik: 8 pagi & 5 petang https://t.co/Wkt1",
        ("https://moh.gov.my/waktu",),
    )
    other = events["x:1785640000000000081"]
    assert isinstance(other, Interaction)
    assert (other.author_role, other.kind) == (AuthorRole.OTHER_AGENCY, InteractionKind.COMMENT)
    deep = events["x:1785640000000000082"]
    assert isinstance(deep, Interaction)
    assert (deep.kind, deep.root_id, deep.parent_author_id) == (InteractionKind.REPLY, POST_ID, AGENCY_USER)
    orphan = events["x:1785640000000000083"]
    assert isinstance(orphan, Interaction)
    assert (orphan.root_id, orphan.parent_id) == ("1785611111111111111", "1785611111111111111")
    assert f"x:{AGENCY_REPLY}" in events  # the included agency reply
    rejected = [item for item in page.items if isinstance(item, Rejected)]
    assert [r.reason.split(":")[1].strip() for r in rejected] == ["data[7]", "data[8]", "data[9]", "data[10]"]
    assert "not a decimal id string" in rejected[0].reason
    assert "not a v2 time" in rejected[1].reason
    assert len(events) == 7
    assert page.errors == ("Not Found Error: Could not find tweet with referenced_tweets.id: [1785611111111111111].",)
    assert page.newest_id == "1785640000000000086"


def test_partial_errors_in_a_200_keep_the_data() -> None:
    body = ERRORS["partial_error_in_200"]["body"]
    page = _parse(body)
    assert list(_by_id(page.items)) == [f"x:{CITIZEN_REPLY}"]
    assert len(page.errors) == 2
    assert failure_of(200, {}, body, NOW) is None


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ([], "not a JSON object"),
        ({}, "neither data nor meta"),
        ({"data": "x", "meta": {}}, "data is a str"),
        ({"data": [], "meta": []}, "meta is a list"),
        ({"data": [], "includes": 3}, "includes is a int"),
        ({"meta": {"next_token": 7}}, "not a token"),
    ],
)
def test_malformed_pages(payload: Any, why: str) -> None:
    page = _parse(payload)
    assert page.malformed is not None
    assert why in page.malformed
    assert page.items == []


def test_empty_page() -> None:
    page = _parse({"meta": {"result_count": 0}})
    assert (page.items, page.newest_id, page.next_token, page.malformed) == ([], None, None, None)


@pytest.mark.parametrize(
    "value", ["2024-05-01 10:03:27Z", "2024-13-01T10:03:27.000Z", 1714558500, None, "2024-05-01T10:03:27+08:00"]
)
def test_bad_times(value: Any) -> None:
    with pytest.raises(InvalidInput):
        parse_v2_time(value)


def test_snowflake_time() -> None:
    assert snowflake_time(CITIZEN_REPLY).date() == datetime(2024, 5, 1, tzinfo=UTC).date()
    with pytest.raises(ValueError, match="not a tweet id"):
        snowflake_time("12a")


# --- what failed answers mean ------------------------------------------------------------------------------------


def test_failures() -> None:
    limited = ERRORS["rate_limited_429"]
    failure = failure_of(429, limited["headers"], limited["body"], NOW)
    assert failure is not None
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.wait_seconds == 61.0
    assert "Too Many Requests" in failure.reason
    cap = failure_of(429, {}, ERRORS["usage_cap_429"]["body"], NOW)
    assert cap is not None
    assert (cap.kind, cap.wait_seconds) == (FailureKind.USAGE_CAPPED, None)
    legacy = failure_of(429, {}, ERRORS["legacy_v1_style_429_as_shown_in_docs"]["body"], NOW)
    assert legacy is not None
    assert legacy.kind is FailureKind.RATE_LIMITED
    assert "Rate limit exceeded" in legacy.reason
    code_88_in_200 = failure_of(200, {}, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}, NOW)
    assert code_88_in_200 is not None
    assert code_88_in_200.kind is FailureKind.RATE_LIMITED
    unauthorized = failure_of(401, {}, ERRORS["unauthorized_401"]["body"], NOW)
    assert unauthorized is not None
    assert unauthorized.kind is FailureKind.ACCOUNT
    invalid = failure_of(400, {}, ERRORS["invalid_request_400"]["body"], NOW)
    assert invalid is not None
    assert invalid.kind is FailureKind.REQUEST
    server = failure_of(503, {}, None, NOW)
    assert server is not None
    assert server.kind is FailureKind.TRANSIENT
    assert "without a problem" in server.reason


def test_rate_limit_headers() -> None:
    assert rate_limit_wait({"x-rate-limit-reset": str(RESET)}, NOW) == 61.0
    assert rate_limit_wait({"x-rate-limit-reset": str(RESET)}, NOW + timedelta(hours=1)) == 0.0
    assert rate_limit_wait({"x-rate-limit-reset": "soon"}, NOW) is None
    assert rate_limit_wait({"x-rate-limit-reset": str(RESET + 10**7)}, NOW) == 86_400.0
    assert rate_limit_remaining({"x-rate-limit-remaining": "447"}) == 447
    assert rate_limit_remaining({}) is None


# --- the poller on a loopback platform ----------------------------------------------------------------------------


@pytest.fixture
def platform() -> Any:
    with FakePlatform() as fake:
        yield fake


def _poller(platform: FakePlatform, clock: FakeClock | None = None, **options: Any) -> XMentionsPoller:
    return XMentionsPoller(
        CONTEXT,
        Urllib3Client(timeout_seconds=5),
        credentials=options.pop("credentials", TOKEN),
        base_url=platform.url(),
        clock=clock or FakeClock(NOW),
        backoff=Backoff(base_seconds=1, cap_seconds=8),
        **options,
    )


HEADERS = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "447", "x-rate-limit-reset": str(RESET)}


def test_a_round_pages_mentions_then_searches_each_conversation(platform: FakePlatform) -> None:
    first = _page(_tweet("1785620000000000010", CITIZEN, POST_ID, POST_ID), next_token="tok-1")
    platform.script(
        MENTIONS_PATH,
        Answer(200, first, HEADERS),
        Answer(200, _page(_tweet("1785620000000000005", CITIZEN)), HEADERS),
        Answer(200, _page(), HEADERS),
    )
    platform.script(SEARCH_PATH, Answer(200, SEARCH, HEADERS), Answer(200, _page(), HEADERS))
    poller = _poller(platform)
    pages = [poller.next_page() for _ in range(5)]
    assert [page.more for page in pages] == [True, True, True, True, False]
    mentions = platform.seen(MENTIONS_PATH)
    assert mentions[0].query["start_time"] == "2024-04-28T00:00:00Z"
    assert mentions[0].query["max_results"] == "100"
    assert "referenced_tweets" in mentions[0].query["tweet.fields"]
    assert mentions[0].headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}"
    assert mentions[1].query["pagination_token"] == "tok-1"
    searches = platform.seen(SEARCH_PATH)
    assert [s.query["query"].split(":")[1] for s in searches] == [POST_ID, POST_ID, "1785620000000000005"]
    assert searches[1].query["next_token"] == SEARCH["meta"]["next_token"]
    assert "next_token" not in searches[2].query
    assert len({e.event_id for page in pages for e in assert_parsed(page.items)}) == 4
    assert pages[-1].newest == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    poller.next_page()  # the next round follows from the newest mention
    assert platform.seen(MENTIONS_PATH)[2].query["since_id"] == "1785620000000000010"
    assert "start_time" not in platform.seen(MENTIONS_PATH)[2].query


def test_search_pages_with_next_token_and_then_follows(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(200, _page(_tweet(CITIZEN_REPLY, CITIZEN, POST_ID, POST_ID))))
    platform.script(SEARCH_PATH, Answer(200, SEARCH), Answer(200, _page()))
    poller = _poller(platform)
    assert [poller.next_page().more for _ in range(3)] == [True, True, False]
    assert platform.seen(SEARCH_PATH)[1].query["next_token"] == SEARCH["meta"]["next_token"]
    poller.next_page()
    poller.next_page()
    follow = platform.seen(SEARCH_PATH)[2].query
    assert follow["since_id"] == AGENCY_REPLY
    assert "next_token" not in follow


def test_429_waits_until_the_reset(platform: FakePlatform) -> None:
    limited = ERRORS["rate_limited_429"]
    platform.script(MENTIONS_PATH, Answer(429, limited["body"], limited["headers"]), Answer(200, MENTIONS))
    clock = FakeClock(NOW)
    poller = _poller(platform, clock)
    with pytest.raises(Retry) as caught:
        poller.next_page()
    assert caught.value.after_seconds == 61.0
    clock.sleep(caught.value.after_seconds)
    assert len(poller.next_page().items) == 3


def test_a_used_up_window_makes_the_next_call_wait(platform: FakePlatform) -> None:
    used_up = {**HEADERS, "x-rate-limit-remaining": "0"}
    platform.script(
        MENTIONS_PATH, Answer(200, {**MENTIONS, "data": MENTIONS["data"][:1]}, used_up), Answer(200, _page())
    )
    clock = FakeClock(NOW)
    poller = _poller(platform, clock)
    assert poller.next_page().more
    assert poller.quota_remaining == 0
    with pytest.raises(Retry) as caught:
        poller.next_page()
    assert caught.value.after_seconds == 61.0
    assert len(platform.seen(MENTIONS_PATH)) == 1  # no request was made
    clock.advance(61)
    poller.next_page()
    assert len(platform.seen(MENTIONS_PATH)) == 2


def test_usage_cap_waits_long(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(429, ERRORS["usage_cap_429"]["body"]))
    with pytest.raises(Retry, match="UsageCapExceeded") as caught:
        _poller(platform).next_page()
    assert caught.value.after_seconds == 3600.0


def test_401_is_an_account_error(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(401, ERRORS["unauthorized_401"]["body"]))
    with pytest.raises(AccountError) as caught:
        _poller(platform).next_page()
    assert caught.value.account == AGENCY_USER
    assert TOKEN.get_secret_value() not in str(caught.value)


def test_no_token_is_an_account_error(platform: FakePlatform) -> None:
    with pytest.raises(AccountError, match="no bearer token"):
        _poller(platform, credentials=None).next_page()


def test_a_refused_mentions_request_is_an_account_error(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(400, ERRORS["invalid_request_400"]["body"]))
    with pytest.raises(AccountError, match="Invalid Request"):
        _poller(platform).next_page()


def test_a_refused_conversation_search_drops_the_conversation(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(200, _page(_tweet(CITIZEN_REPLY, CITIZEN, POST_ID, POST_ID))))
    platform.script(SEARCH_PATH, Answer(400, ERRORS["invalid_request_400"]["body"]))
    poller = _poller(platform)
    poller.next_page()
    page = poller.next_page()
    assert (page.items, page.more) == ([], False)
    assert poller.snapshot()["conversations"] == {}


def test_200_with_errors_keeps_the_data(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(200, ERRORS["partial_error_in_200"]["body"]))
    poller = _poller(platform)
    assert [e.event_id for e in assert_parsed(poller.next_page().items)] == [f"x:{CITIZEN_REPLY}"]
    assert poller.partial_errors == 2


@pytest.mark.parametrize(
    "answer", [Answer(200, b"<html>busy</html>"), Answer(200, {"data": "oops"}), Answer(503, b"Service Unavailable")]
)
def test_malformed_bodies_and_5xx_back_off_then_recover(platform: FakePlatform, answer: Answer) -> None:
    platform.script(MENTIONS_PATH, answer, answer, Answer(200, MENTIONS))
    poller = _poller(platform)
    waits = retry_waits(poller, 2)
    assert 0 <= waits[0] <= 1
    assert 0 <= waits[1] <= 2
    assert poller.snapshot()["mentions"] == {"since_id": None, "next_token": None, "pending_newest": None}
    assert len(poller.next_page().items) == 3


def test_unreachable_backs_off() -> None:
    poller = XMentionsPoller(
        CONTEXT, Urllib3Client(timeout_seconds=2), credentials=TOKEN, base_url="http://127.0.0.1:1"
    )
    with pytest.raises(Retry, match=r"127\.0\.0\.1:1/2/users"):
        poller.next_page()


def test_a_bad_item_is_rejected_and_the_rest_kept(platform: FakePlatform) -> None:
    bad = {**_tweet("1785620000000000011", CITIZEN), "created_at": "yesterday"}
    platform.script(MENTIONS_PATH, Answer(200, _page(_tweet("1785620000000000010", CITIZEN), bad)))
    items = _poller(platform).next_page().items
    assert [type(item).__name__ for item in items] == ["Interaction", "Rejected"]
    rejected = items[1]
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("x mentions: data[1]: created_at")


def test_resume_from_a_snapshot_continues_exactly(platform: FakePlatform) -> None:
    answers = [
        Answer(200, _page(_tweet("1785620000000000010", CITIZEN, POST_ID, POST_ID), next_token="tok-1")),
        Answer(200, _page(_tweet("1785620000000000005", CITIZEN))),
        Answer(200, _page()),
    ]
    platform.script(MENTIONS_PATH, *answers)
    platform.script(SEARCH_PATH, Answer(200, SEARCH), Answer(200, _page()))
    first = _poller(platform)
    first.next_page()
    state = orjson.loads(orjson.dumps(first.snapshot()))
    assert state["mentions"]["next_token"] == "tok-1"
    second = _poller(platform)
    second.resume(state)
    assert second.snapshot() == state
    rest = [second.next_page() for _ in range(4)]
    assert platform.seen(MENTIONS_PATH)[1].query["pagination_token"] == "tok-1"
    assert platform.seen(MENTIONS_PATH)[1].query["start_time"] == "2024-04-28T00:00:00Z"
    assert [p.more for p in rest] == [True, True, True, False]
    assert second.snapshot()["mentions"]["since_id"] == "1785620000000000010"
    assert sorted(second.snapshot()["conversations"]) == [POST_ID, "1785620000000000005"]


def test_resume_refuses_what_is_not_a_cursor(platform: FakePlatform) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        _poller(platform).resume({"mentions": {"since_id": "not-an-id"}})


def test_conversations_are_bounded_and_expire(platform: FakePlatform) -> None:
    old = {**_tweet("1785620000000000001", CITIZEN), "created_at": "2024-04-20T00:00:00.000Z"}
    platform.script(
        MENTIONS_PATH,
        Answer(200, _page(_tweet("1785620000000000010", CITIZEN), _tweet("1785620000000000011", CITIZEN), old)),
    )
    poller = _poller(platform, max_conversations=2)
    poller.next_page()
    assert sorted(poller.snapshot()["conversations"]) == ["1785620000000000010", "1785620000000000011"]
    assert sorted(poller.snapshot()["queue"]) == ["1785620000000000010", "1785620000000000011"]
    poller = _poller(platform)
    poller.next_page()
    assert "1785620000000000001" not in poller.snapshot()["conversations"]  # idle for more than 6 days


def test_run_publishes_and_checkpoints(platform: FakePlatform) -> None:
    platform.script(MENTIONS_PATH, Answer(200, MENTIONS), Answer(200, _page()))
    platform.script(SEARCH_PATH, Answer(200, SEARCH), Answer(200, _page()))
    stop = threading.Event()
    states: list[dict[str, Any]] = []

    def checkpoint(state: dict[str, Any]) -> None:
        states.append(state)
        if len(states) == 5:
            stop.set()

    sink = ListEventSink()
    clock = FakeClock(NOW)
    published = _poller(platform, clock).run(sink, stop, clock=clock, checkpoint=checkpoint)
    assert published == len(sink.events) == 5
    assert len({event.event_id for event in sink.events}) == 4
    assert states[-1]["mentions"]["since_id"] == QUOTE


# --- hostile input -----------------------------------------------------------------------------------------------

_IDS = st.sampled_from([AGENCY_USER, OTHER_AGENCY_USER, CITIZEN, POST_ID, "0", "1" * 40])
_TIMES = st.sampled_from(["2024-05-01T10:03:27.000Z", "1999-01-01T00:00:00.000Z", "2024-02-30T00:00:00Z"])
_NOISE = json_values(_IDS, _TIMES)
_KEYS = ("data", "includes", "meta", "errors", "referenced_tweets", "conversation_id", "edit_history_tweet_ids")


def _items(payload: Any) -> list[Parsed]:
    page = parse_v2_page(payload, CONTEXT, "poll:x")
    assert page.malformed is None or page.items == []
    return page.items


test_random_json_never_raises = fuzz_never_raises(_items, _NOISE, "x: ")
test_mutated_mentions_never_raise = fuzz_never_raises(_items, mutated(MENTIONS, _NOISE, _KEYS), "x: ")
test_mutated_quirks_never_raise = fuzz_never_raises(_items, mutated(QUIRKS, _NOISE, _KEYS), "x: ")


@fuzz_settings(150)
@given(status=st.integers(100, 599), body=_NOISE, reset=st.one_of(st.none(), st.text(max_size=12), _IDS))
def test_failure_of_never_raises(status: int, body: Any, reset: str | None) -> None:
    headers = {} if reset is None else {"x-rate-limit-reset": reset, "x-rate-limit-remaining": reset}
    failure = failure_of(status, headers, body, NOW)
    assert failure is None or 0 <= (failure.wait_seconds or 0) <= 86_400
