"""FacebookPagePoller against FakePlatform, and its pure parsers on Meta's documented Graph answers.

tests/fixtures/payloads/facebook/graph_poll_rounds.json scripts two rounds of Page 104857600012345 (jkns), backfill
since 2024-04-28 (the clock stands at 2024-05-02 12:00 UTC and moves an hour between rounds):

 request  answer                                                       expected
 1        feed page 1: P1 (the Page's, 7 reaction types), P2 (visitor)  Post + 7 snapshots; citizen mention + 1
 2-3      P1 comments in two pages (after=Q09NMQ==)                    citizen comment, agency reply, citizen reply
 4        P2 comments: empty, no paging
 5        feed page 2: empty, but with next                            the walk goes on
 6        feed page 3: P3, an item without from, P4 (before since)     Post + 2 snapshots; Rejected; nothing
 7        P3 comments: another agency's comment, a bad time            other_agency comment; Rejected  (round ends)
 8        follow feed since P1's time: P5 (new), P1 (known)            Post P5 + 1 snapshot
 9        P5 comments: empty
 10       ?ids=P1,P2,P3 refresh: P1 has 4 comments (was 3)              snapshots of the new hour
 11       P1 comments after Q09NMw== (the stored cursor)               the new reply only    (round ends)
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import AccountContext, Page, Parsed, Rejected
from connectors.core.errors import AccountError, InvalidInput, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.facebook import FacebookPagePoller, parse_comments_page, parse_feed_page, parse_post_counts
from connectors.polling.meta_parse import Scope, Snapshot
from connectors.webhooks.facebook import parse_facebook
from schemas.events import AuthorRole, Event, Interaction, InteractionKind, Platform, Post, Reaction, ReactionMode
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.polling import (
    RandomHttp,
    account_context,
    assert_survives_random_answers,
    drive_rounds,
    graph_paths,
    graph_run,
    resumed_run,
    script_graph,
    scripted_graph,
)
from tests.helpers.webhooks import FACEBOOK_PAGE as PAGE
from tests.helpers.webhooks import META_DIRECTORY as DIRECTORY
from tests.helpers.webhooks import PSEUDO, assert_parsed, fuzz_settings, graph_delivery, json_values, mutated

ROUNDS = load_payload(PAYLOADS / "facebook" / "graph_poll_rounds.json")
DOCUMENTED = load_payload(PAYLOADS / "facebook" / "graph_feed_comments_reactions.json")
ERRORS = load_payload(PAYLOADS / "facebook" / "graph_errors_and_rate_limit_headers.json")
P1, P2, P3, P5 = (f"{PAGE}_{n}" for n in ("881234567890123", "880000000000789", "880000000000456", "882000000000001"))
C1 = "881234567890123_1122334455667788"
START = datetime(2024, 5, 2, 12, tzinfo=UTC)
BUCKET_1, BUCKET_2 = int(START.timestamp()), int(START.timestamp()) + 3600
TOKEN = "EAAG-page-token-never-logged"
SCOPE = Scope(Platform.FACEBOOK, PAGE, "jkns", DIRECTORY, "poll:facebook")
SNAPSHOT = Snapshot(BUCKET_1, START)
CALLS = len(ROUNDS["requests"])
FUZZ = fuzz_settings(150)


def _context(since: datetime = datetime(2024, 4, 28, tzinfo=UTC)) -> AccountContext:
    return account_context(DIRECTORY, "jkns", Platform.FACEBOOK, since)


def _poller(platform: FakePlatform, clock: FakeClock, **options: Any) -> FacebookPagePoller:
    options.setdefault("credentials", SecretStr(TOKEN))
    return FacebookPagePoller(
        _context(),
        Urllib3Client(timeout_seconds=5),
        base_url=platform.url("/v19.0"),
        clock=clock,
        backoff=Backoff(rng=random.Random(7)),
        **options,
    )


def _events(pages: list[Page]) -> list[Event]:
    return assert_parsed(item for page in pages for item in page.items)


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    yield from scripted_graph(ROUNDS["answers"])


@pytest.fixture(scope="module")
def full_run() -> tuple[list[Page], list[str]]:
    return graph_run(ROUNDS["answers"], _poller, START, CALLS)


def test_two_rounds_ask_in_order_and_stop_where_the_rounds_end(platform: FakePlatform) -> None:
    clock = FakeClock(START)
    pages = drive_rounds(_poller(platform, clock), clock, CALLS)
    assert graph_paths(platform) == ROUNDS["requests"]
    assert [page.more for page in pages] == [True] * 6 + [False] + [True] * 3 + [False]
    feed = platform.seen(f"/v19.0/{PAGE}/feed")
    assert [seen.query.get("after") for seen in feed] == [None, "RkVFRDE=", "RkVFRDI=", None]
    assert [seen.query["since"] for seen in feed] == ["1714262400"] * 3 + ["1714557600"]  # then P1's time
    assert "reactions.type(LIKE).limit(0).summary(total_count).as(reactions_like)" in feed[0].query["fields"]
    comments = platform.seen(f"/v19.0/{P1}/comments")
    assert [seen.query.get("after") for seen in comments] == [None, "Q09NMQ==", "Q09NMw=="]
    assert (comments[0].query["filter"], comments[0].query["order"]) == ("stream", "chronological")
    assert "parent{id}" in comments[0].query["fields"]
    assert platform.seen("/v19.0/")[0].query["ids"] == f"{P1},{P2},{P3}"
    assert pages[-1].newest == datetime(2024, 5, 2, 10, tzinfo=UTC)


def test_the_rounds_give_posts_comments_replies_and_snapshots(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    events = _events(pages)
    ids = [event.event_id for event in events]
    assert len(ids) == len(set(ids))
    by_id = {event.event_id: event for event in events}
    post = by_id[f"facebook:{P1}"]
    assert isinstance(post, Post)
    assert (post.agency_id, post.account_id, post.source) == ("jkns", PAGE, "poll:facebook")
    assert post.created_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert post.links == ("https://jkns.gov.my/vaksin",)
    visitor = by_id[f"facebook:{P2}"]
    assert isinstance(visitor, Interaction)
    assert (visitor.kind, visitor.author_role, visitor.root_id) == (InteractionKind.MENTION, AuthorRole.CITIZEN, P2)
    comment, reply = by_id[f"facebook:{C1}"], by_id["facebook:881234567890123_1122334455667799"]
    assert isinstance(comment, Interaction)
    assert isinstance(reply, Interaction)
    assert (comment.kind, comment.author_role, comment.parent_id, comment.root_id) == (
        InteractionKind.COMMENT,
        AuthorRole.CITIZEN,
        P1,
        P1,
    )
    assert (reply.kind, reply.author_role, reply.author_id, reply.parent_id) == (
        InteractionKind.REPLY,
        AuthorRole.AGENCY,
        PAGE,
        C1,
    )
    other = by_id["facebook:880000000000456_2000000000000001"]
    assert isinstance(other, Interaction)
    assert other.author_role is AuthorRole.OTHER_AGENCY
    assert f"facebook:{PAGE}_870000000000001" not in by_id  # before since
    assert "facebook:881234567890123_1122334455667802" in by_id  # round 2's new reply
    assert f"facebook:{P5}" in by_id


def test_reaction_counts_are_snapshots_per_type_and_hour(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    snapshots = {e.event_id: e for e in _events(pages) if isinstance(e, Reaction)}
    assert all(s.mode is ReactionMode.SNAPSHOT and s.author_id is None for s in snapshots.values())
    first = {k: snapshots[f"facebook:{P1}:{k}:{BUCKET_1}"].count for k in ("like", "love", "care", "haha", "angry")}
    assert first == {"like": 44, "love": 6, "care": 5, "haha": 0, "angry": 0}
    assert snapshots[f"facebook:{P1}:like:{BUCKET_2}"].count == 50
    assert snapshots[f"facebook:{P1}:like:{BUCKET_2}"].created_at == datetime(2024, 5, 2, 13, tzinfo=UTC)
    assert snapshots[f"facebook:{P2}:like:{BUCKET_1}"].count == 2
    assert snapshots[f"facebook:{P5}:like:{BUCKET_2}"].count == 3
    assert f"facebook:{P5}:like:{BUCKET_1}" not in snapshots


def test_bad_items_are_rejected_and_the_rest_kept(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    rejected = [item for page in pages for item in page.items if isinstance(item, Rejected)]
    assert [r.reason.split(":")[0] for r in rejected] == ["facebook feed item 1", f"facebook post {P3} comment 1"]
    assert "without from.id" in rejected[0].reason
    assert rejected[0].raw["id"] == f"{PAGE}_880000000000999"
    assert "created_time" in rejected[1].reason
    assert all(TOKEN not in r.reason for r in rejected)


@pytest.mark.parametrize("cut", range(1, CALLS))
def test_a_new_instance_resumed_from_any_snapshot_continues_exactly(
    cut: int, platform: FakePlatform, full_run: tuple[list[Page], list[str]]
) -> None:
    pages = resumed_run(partial(_poller, platform), START, cut, CALLS)
    expected_pages, expected_paths = full_run
    assert graph_paths(platform) == expected_paths
    assert [e.event_id for e in _events(pages)] == [e.event_id for e in _events(expected_pages)]
    assert [page.more for page in pages] == [page.more for page in expected_pages]


def test_the_cursor_holds_no_token_and_no_next_url(platform: FakePlatform) -> None:
    clock = FakeClock(START)
    poller = _poller(platform, clock, app_secret=SecretStr("app-secret"))
    for _ in range(3):
        poller.next_page()
        text = orjson.dumps(poller.snapshot()).decode()
        assert TOKEN not in text
        assert "access_token" not in text
        assert "REDACTED" not in text
    for seen in platform.requests:
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert "access_token" not in seen.query
        assert len(seen.query["appsecret_proof"]) == 64


def test_poll_and_webhook_give_the_same_event_ids(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    polled = {e.event_id: e for e in _events(pages)}
    value = {
        "from": {"id": PAGE, "name": "Jabatan"},
        "item": "comment",
        "verb": "add",
        "post_id": P1,
        "comment_id": "881234567890123_1122334455667799",
        "parent_id": C1,
        "created_time": 1714558065,
        "message": "Walk-in dibenarkan",
    }
    delivery = graph_delivery("page", PAGE, 1714558070, [{"field": "feed", "value": value}])
    (pushed,) = parse_facebook(delivery, DIRECTORY, partial(PSEUDO.pseudonym, "facebook"))
    assert isinstance(pushed, Interaction)
    same = polled[pushed.event_id]
    assert isinstance(same, Interaction)
    fields = ("message_id", "root_id", "parent_id", "kind", "author_id", "author_role", "created_at", "agency_id")
    assert {f: getattr(same, f) for f in fields} == {f: getattr(pushed, f) for f in fields}


# --- rate limits and errors -----------------------------------------------------------------------------------


def _feed_only(platform: FakePlatform, *answers: Answer) -> None:
    platform.script(f"/v19.0/{PAGE}/feed", *answers)


def _documented(name: str) -> Answer:
    case = ERRORS[name]
    return Answer(case["status"], case["body"], case.get("headers", {}))


LAST_FEED_PAGE = {"data": [], "paging": {"cursors": {"before": "A", "after": "B"}}}


@pytest.mark.parametrize(
    ("name", "wait_seconds"),
    [("rate_limited_app_code_4", 60), ("rate_limited_user_code_17", 60), ("rate_limited_pages_buc_code_80001", 1020)],
)
def test_a_rate_limit_retries_after_metas_wait_then_succeeds(name: str, wait_seconds: int) -> None:
    with FakePlatform() as platform:
        ok = ERRORS["success_with_usage_headers"]["headers"]
        _feed_only(platform, _documented(name), Answer(200, LAST_FEED_PAGE, ok))
        clock = FakeClock(START)
        poller = _poller(platform, clock)
        state = poller.snapshot()
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert wait_seconds <= caught.value.after_seconds <= wait_seconds + 1  # + the first back-off's jitter
        assert poller.snapshot() == state
        page = poller.next_page()
        assert (page.items, page.more) == ([], False)
        assert poller.usage_percent == 63
        assert len(platform.requests) == 2


def test_a_throttled_success_makes_the_next_call_wait_without_asking() -> None:
    usage = '{"104857600012345":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":5}]}'
    with FakePlatform() as platform:
        _feed_only(platform, Answer(200, LAST_FEED_PAGE, {"X-Business-Use-Case-Usage": usage}))
        clock = FakeClock(START)
        poller = _poller(platform, clock)
        assert not poller.next_page().more
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert caught.value.after_seconds == 300
        assert len(platform.requests) == 1
        clock.advance(300)
        poller.next_page()
        assert len(platform.requests) == 2


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (_documented("token_expired_code_190"), 190),
        (Answer(403, {"error": {"message": "(#200) Requires pages_read_engagement", "code": 200}}), 200),
        (Answer(403, {"error": {"message": "(#10) Permission denied", "code": 10}}), 10),
        (_documented("object_missing_or_no_permission_code_100"), 100),
    ],
)
def test_token_and_permission_errors_stop_the_account(answer: Answer, code: int) -> None:
    with FakePlatform() as platform:
        _feed_only(platform, answer)
        poller = _poller(platform, FakeClock(START))
        with pytest.raises(AccountError) as caught:
            poller.next_page()
        assert caught.value.account == PAGE
        assert f"code {code}" in caught.value.reason
        assert TOKEN not in str(caught.value)


def test_no_token_is_an_account_error() -> None:
    with FakePlatform() as platform:
        poller = _poller(platform, FakeClock(START), credentials=None)
        with pytest.raises(AccountError, match="no access token"):
            poller.next_page()
        assert platform.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, b"<html>maintenance</html>"),
        Answer(200, {"no": "data"}),
        Answer(502, b"Bad Gateway"),
        Answer(500, {"error": {"message": "An unknown error occurred", "code": 1}}),
    ],
)
def test_malformed_bodies_and_5xx_back_off_and_keep_the_cursor(answer: Answer) -> None:
    with FakePlatform() as platform:
        _feed_only(platform, answer, answer, Answer(200, LAST_FEED_PAGE))
        poller = _poller(platform, FakeClock(START))
        state = poller.snapshot()
        waits = []
        for _ in range(2):
            with pytest.raises(Retry) as caught:
                poller.next_page()
            waits.append(caught.value.after_seconds)
        assert waits[0] <= 1
        assert waits[1] <= 2
        assert poller.snapshot() == state
        assert not poller.next_page().more


def test_an_unreachable_platform_is_a_retry() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    poller = FacebookPagePoller(
        _context(),
        Urllib3Client(timeout_seconds=2),
        credentials=SecretStr(TOKEN),
        base_url=f"http://127.0.0.1:{port}/v19.0",
        clock=FakeClock(START),
    )
    with pytest.raises(Retry) as caught:
        poller.next_page()
    assert TOKEN not in str(caught.value)


def _answers(**replace: list[Any]) -> dict[str, list[Any]]:
    return {**ROUNDS["answers"], **replace}


def test_a_post_deleted_meanwhile_is_dropped_and_the_round_goes_on() -> None:
    gone = _documented("object_missing_or_no_permission_code_100")
    with FakePlatform() as platform:
        script_graph(platform, _answers(**{f"{P2}/comments": [gone]}))
        clock = FakeClock(START)
        poller = _poller(platform, clock)
        pages = drive_rounds(poller, clock, CALLS)
        assert platform.seen("/v19.0/")[0].query["ids"] == f"{P1},{P3}"  # round 2 refreshes P1 and P3 only
        assert not pages[-1].more
        assert P2 not in {post["id"] for post in poller.snapshot()["posts"]}


def test_a_refresh_batch_with_a_gone_post_is_asked_one_by_one() -> None:
    gone = Answer(400, {"error": {"message": "(#803) Some of the aliases you requested do not exist", "code": 803}})
    refresh = ROUNDS["answers"][""][0]
    with FakePlatform() as platform:
        script_graph(platform, _answers(**{"": [gone, {P1: refresh[P1]}, gone, {P3: refresh[P3]}]}))
        clock = FakeClock(START)
        poller = _poller(platform, clock)
        pages = drive_rounds(poller, clock, CALLS + 3)
        assert [seen.query["ids"] for seen in platform.seen("/v19.0/")] == [f"{P1},{P2},{P3}", P1, P2, P3]
        assert not pages[-1].more
        assert [post["id"] for post in poller.snapshot()["posts"]] == [P1, P3, P5]
        assert "facebook:881234567890123_1122334455667802" in {e.event_id for e in _events(pages)}


def test_a_stale_comment_cursor_reads_again_and_emits_only_what_is_new() -> None:
    stale = Answer(400, {"error": {"message": "Invalid cursor", "code": 100}})
    p1 = ROUNDS["answers"][f"{P1}/comments"]
    everything = {"data": [*p1[0]["data"], *p1[1]["data"], *p1[2]["data"]]}
    with FakePlatform() as platform:
        script_graph(platform, _answers(**{f"{P1}/comments": [p1[0], p1[1], stale, everything]}))
        clock = FakeClock(START)
        pages = drive_rounds(_poller(platform, clock), clock, CALLS + 1)
        assert [seen.query.get("after") for seen in platform.seen(f"/v19.0/{P1}/comments")][2:] == ["Q09NMw==", None]
        round_two = _events(pages[CALLS - 4 :])
        comments = [e.event_id for e in round_two if isinstance(e, Interaction)]
        assert comments == ["facebook:881234567890123_1122334455667802"]


def test_a_stale_walk_cursor_walks_again_from_the_top_without_repeating_posts() -> None:
    stale = Answer(400, {"error": {"message": "Invalid cursor", "code": 100}})
    feed = ROUNDS["answers"][f"{PAGE}/feed"]
    with FakePlatform() as platform:
        script_graph(platform, _answers(**{f"{PAGE}/feed": [feed[0], stale, feed[0], feed[1], feed[2]]}))
        clock = FakeClock(START)
        pages = drive_rounds(_poller(platform, clock), clock, 9)
        assert [seen.query.get("after") for seen in platform.seen(f"/v19.0/{PAGE}/feed")] == [
            None,
            "RkVFRDE=",
            None,
            "RkVFRDE=",
            "RkVFRDI=",
        ]
        assert not pages[-1].more
        ids = [e.event_id for e in _events(pages)]
        assert len(ids) == len(set(ids))
        assert f"facebook:{P3}" in ids


# --- the pure parsers on Meta's documented answers --------------------------------------------------------------


def test_documented_feed_page() -> None:
    nodes, paging = parse_feed_page(DOCUMENTED["page_feed"]["response"], SCOPE, SNAPSHOT)
    assert paging.more
    assert paging.position == {"after": "QVFIUmZAfakeAfterCursor2"}
    assert [(n.post_id, n.comments) for n in nodes if not isinstance(n, Rejected)] == [
        (f"{PAGE}_881234567890123", 2),
        (f"{PAGE}_880000000000456", 41),
    ]
    assert all(isinstance(n, Rejected) or len(n.items) == 1 for n in nodes)  # no per-type aliases asked there
    assert_parsed(item for n in nodes if not isinstance(n, Rejected) for item in n.items)


def test_documented_comment_stream() -> None:
    batch = parse_comments_page(DOCUMENTED["post_comments_stream"]["response"], P1, SCOPE)
    comment, reply = assert_parsed(batch.items)
    assert isinstance(comment, Interaction)
    assert isinstance(reply, Interaction)
    assert (comment.kind, reply.kind, reply.parent_id, reply.author_role) == (
        InteractionKind.COMMENT,
        InteractionKind.REPLY,
        C1,
        AuthorRole.AGENCY,
    )
    assert not batch.paging.more
    assert batch.paging.position == {"after": "WTI5dGJXVnVkRjlqZAFhKemIzSTZAfakeB"}


def test_documented_reaction_aliases() -> None:
    counts = parse_post_counts(DOCUMENTED["post_reactions_summary_by_type"]["response"], P1, SCOPE, SNAPSHOT)
    snapshots = assert_parsed(counts.items)
    assert {s.reaction_type: s.count for s in snapshots if isinstance(s, Reaction)} == {
        "like": 44,
        "love": 6,
        "care": 5,
        "haha": 0,
        "wow": 1,
        "sad": 1,
        "angry": 0,
    }
    assert counts.comments is None


# --- hostile input -----------------------------------------------------------------------------------------------

_NOISE = json_values(st.just(PAGE), st.just("2024-05-01T10:00:00+0000"), st.just(C1))
_KEYS = ("id", "from", "created_time", "message", "parent", "data", "paging", "summary", "reactions_like")


def _flat(nodes: list[Any]) -> list[Parsed]:
    return [item for node in nodes for item in ([node] if isinstance(node, Rejected) else node.items)]


@FUZZ
@given(
    st.one_of(
        _NOISE,
        mutated(ROUNDS["answers"][f"{PAGE}/feed"][0], _NOISE, _KEYS),
        mutated(DOCUMENTED["page_feed"]["response"], _NOISE, _KEYS),
    )
)
def test_fuzzed_feed_pages_give_events_or_rejected(body: Any) -> None:
    nodes, _ = parse_feed_page(body, SCOPE, SNAPSHOT)
    assert_parsed(_flat(nodes), "facebook ")


@FUZZ
@given(
    st.one_of(
        _NOISE,
        mutated(ROUNDS["answers"][f"{P1}/comments"][0], _NOISE, _KEYS),
        mutated(DOCUMENTED["post_comments_stream"]["response"], _NOISE, _KEYS),
    )
)
def test_fuzzed_comment_pages_give_events_or_rejected(body: Any) -> None:
    assert_parsed(parse_comments_page(body, P1, SCOPE).items, "facebook ")


@FUZZ
@given(st.one_of(_NOISE, mutated(ROUNDS["answers"][""][0][P1], _NOISE, _KEYS)))
def test_fuzzed_counts_give_snapshots_or_raise_invalid_input_only(node: Any) -> None:
    try:
        counts = parse_post_counts(node, P1, SCOPE, SNAPSHOT)
    except InvalidInput:
        assert not isinstance(node, dict)
        return
    assert all(isinstance(s, Reaction) for s in assert_parsed(counts.items))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([200, 200, 200, 400, 500]),
            st.one_of(
                _NOISE,
                mutated(ROUNDS["answers"][f"{PAGE}/feed"][0], _NOISE, _KEYS),
                mutated(ROUNDS["answers"][f"{P1}/comments"][0], _NOISE, _KEYS),
                mutated(ROUNDS["answers"][""][0], _NOISE, (P1, P2, P3)),
            ),
        ),
        max_size=12,
    )
)
def test_the_poller_survives_random_answers_and_its_cursor_always_resumes(answers: list[tuple[int, Any]]) -> None:
    clock = FakeClock(START)
    http = RandomHttp(answers)
    poller = FacebookPagePoller(_context(), http, credentials=SecretStr(TOKEN), base_url="http://x/v19.0", clock=clock)
    fresh = partial(FacebookPagePoller, _context(), http, credentials=None, clock=clock)
    assert_survives_random_answers(poller, len(answers) + 2, fresh)
