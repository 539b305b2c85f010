"""InstagramMediaPoller against FakePlatform, and its pure parsers on Meta's documented Graph answers.

tests/fixtures/payloads/instagram/graph_poll_rounds.json scripts two rounds of account 17841400000012345 (jkns),
backfill since 2024-04-28 (the clock stands at 2024-05-02 12:00 UTC and moves an hour between rounds):

 request  answer                                                        expected
 1        media page 1: M1 (4 comments), M2                             2 Posts + like snapshots
 2        M1 comments page 1: K1 with nested reply R1 (more replies), K2  comment, agency reply, comment
 3        K1 replies on: R2 by another agency                           other_agency reply
 4        M1 comments page 2: K3 without from                           Rejected
 5        M2 comments: empty
 6        media page 2: M3, older than since (next present)            nothing; the walk ends  (round ends)
 7        follow: M4 (new), M1 (known)                                  Post M4 + snapshot
 8        M4 comments: empty
 9        ?ids=M1,M2: M1 has 6 comments (was 4)                         like snapshots of the new hour
 10       M1 comments from the start: K1, R1, R3 (new), K2, K3, K4 (new)  R3, K4 only (K3 not rejected again)
 11       K1 replies on: R2 again                                       nothing        (round ends)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import AccountContext, Page, Parsed, Rejected
from connectors.core.errors import AccountError, InvalidInput, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.instagram import (
    InstagramMediaPoller,
    parse_comments_page,
    parse_media_counts,
    parse_media_page,
    parse_replies_page,
)
from connectors.polling.meta_parse import Scope, Snapshot
from connectors.webhooks.instagram import parse_instagram
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
from tests.helpers.webhooks import INSTAGRAM_ACCOUNT as ACCOUNT
from tests.helpers.webhooks import META_DIRECTORY as DIRECTORY
from tests.helpers.webhooks import PSEUDO, assert_parsed, fuzz_settings, graph_delivery, json_values, mutated

ROUNDS = load_payload(PAYLOADS / "instagram" / "graph_poll_rounds.json")
DOCUMENTED = load_payload(PAYLOADS / "instagram" / "graph_media_comments.json")
M1, M2, M4 = "18012345678901234", "18012345678900002", "18012345678900004"
K1, K3 = "17890012345678901", "17890012345678888"
START = datetime(2024, 5, 2, 12, tzinfo=UTC)
BUCKET_1, BUCKET_2 = int(START.timestamp()), int(START.timestamp()) + 3600
TOKEN = "IGQ-account-token-never-logged"
SCOPE = Scope(Platform.INSTAGRAM, ACCOUNT, "jkns", DIRECTORY, "poll:instagram")
SNAPSHOT = Snapshot(BUCKET_1, START)
CALLS = len(ROUNDS["requests"])
FUZZ = fuzz_settings(150)


def _context() -> AccountContext:
    return account_context(DIRECTORY, "jkns", Platform.INSTAGRAM, datetime(2024, 4, 28, tzinfo=UTC))


def _poller(platform: FakePlatform, clock: FakeClock, **options: Any) -> InstagramMediaPoller:
    options.setdefault("credentials", SecretStr(TOKEN))
    return InstagramMediaPoller(
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


def test_two_rounds_ask_in_order(full_run: tuple[list[Page], list[str]]) -> None:
    pages, paths = full_run
    assert paths == ROUNDS["requests"]
    assert [page.more for page in pages] == [True] * 5 + [False] + [True] * 4 + [False]
    assert pages[-1].newest == datetime(2024, 5, 2, 12, tzinfo=UTC)


def test_requests_carry_the_fields_paging_and_token_header(platform: FakePlatform) -> None:
    clock = FakeClock(START)
    drive_rounds(_poller(platform, clock), clock, CALLS)
    media = platform.seen(f"/v19.0/{ACCOUNT}/media")
    assert [seen.query.get("after") for seen in media] == [None, "TTE=", None]
    assert media[0].query["fields"] == "id,caption,timestamp,permalink,like_count,comments_count"
    comments = platform.seen(f"/v19.0/{M1}/comments")
    assert [seen.query.get("after") for seen in comments] == [None, "SzE=", None]  # round 2 reads from the start
    assert "replies{id,text,timestamp,from{id,username},parent_id}" in comments[0].query["fields"]
    assert [seen.query.get("after") for seen in platform.seen(f"/v19.0/{K1}/replies")] == ["UjE=", "UjE="]
    assert platform.seen("/v19.0/")[0].query == {"ids": f"{M1},{M2}", "fields": "like_count,comments_count"}
    assert all(seen.headers["authorization"] == f"Bearer {TOKEN}" for seen in platform.requests)
    assert all("access_token" not in seen.query for seen in platform.requests)


def test_media_comments_and_replies_become_events(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    events = _events(pages)
    ids = [event.event_id for event in events]
    assert len(ids) == len(set(ids))
    by_id = {event.event_id: event for event in events}
    post = by_id[f"instagram:{M1}"]
    assert isinstance(post, Post)
    assert (post.source, post.links) == ("poll:instagram", ("https://jkns.gov.my/vaksin",))
    assert "instagram:18012345678900003" not in by_id  # older than since
    expected = {
        K1: (InteractionKind.COMMENT, AuthorRole.CITIZEN, M1),
        "17890012345678955": (InteractionKind.REPLY, AuthorRole.AGENCY, K1),
        "17890012345678966": (InteractionKind.REPLY, AuthorRole.OTHER_AGENCY, K1),
        "17890012345678777": (InteractionKind.COMMENT, AuthorRole.CITIZEN, M1),
        "17890012345678977": (InteractionKind.REPLY, AuthorRole.CITIZEN, K1),
        "17890012345678999": (InteractionKind.COMMENT, AuthorRole.CITIZEN, M1),
    }
    interactions = {e.message_id: e for e in events if isinstance(e, Interaction)}
    assert {k: (e.kind, e.author_role, e.parent_id) for k, e in interactions.items()} == expected
    assert all(e.root_id == M1 for e in interactions.values())
    assert interactions[K1].created_at == datetime(2024, 5, 1, 10, 3, 27, tzinfo=UTC)


def test_round_two_emits_only_what_is_new(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    later = [e.event_id for e in _events(pages[6:]) if not isinstance(e, Reaction)]
    assert later == [f"instagram:{M4}", "instagram:17890012345678977", "instagram:17890012345678999"]
    rejected = [item for page in pages for item in page.items if isinstance(item, Rejected)]
    assert len(rejected) == 1  # K3 is read twice, dead-lettered once
    assert rejected[0].reason.startswith(f"instagram media {M1} comment 0: comment without from.id")
    assert rejected[0].raw["id"] == K3


def test_like_counts_are_snapshots(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    snapshots = {e.event_id: e for e in _events(pages) if isinstance(e, Reaction)}
    assert {k: s.count for k, s in snapshots.items()} == {
        f"instagram:{M1}:like:{BUCKET_1}": 318,
        f"instagram:{M2}:like:{BUCKET_1}": 12,
        f"instagram:{M4}:like:{BUCKET_2}": 3,
        f"instagram:{M1}:like:{BUCKET_2}": 330,
        f"instagram:{M2}:like:{BUCKET_2}": 12,
    }
    assert all(s.mode is ReactionMode.SNAPSHOT for s in snapshots.values())


@pytest.mark.parametrize("cut", range(1, CALLS))
def test_a_new_instance_resumed_from_any_snapshot_continues_exactly(
    cut: int, platform: FakePlatform, full_run: tuple[list[Page], list[str]]
) -> None:
    pages = resumed_run(partial(_poller, platform), START, cut, CALLS)
    expected_pages, expected_paths = full_run
    assert graph_paths(platform) == expected_paths
    assert [e.event_id for e in _events(pages)] == [e.event_id for e in _events(expected_pages)]
    assert [len(page.items) for page in pages] == [len(page.items) for page in expected_pages]


def test_poll_and_webhook_give_the_same_comment_event_id(full_run: tuple[list[Page], list[str]]) -> None:
    pages, _ = full_run
    polled = {e.event_id: e for e in _events(pages)}
    value = {
        "from": {"id": ACCOUNT, "username": "jknselangor_rasmi_fic"},
        "media": {"id": M1, "media_product_type": "FEED"},
        "id": "17890012345678955",
        "parent_id": K1,
        "text": "@aisyah.rahman92 Boleh",
    }
    delivery = graph_delivery("instagram", ACCOUNT, 1714558070, [{"field": "comments", "value": value}])
    (pushed,) = parse_instagram(delivery, DIRECTORY, partial(PSEUDO.pseudonym, "instagram"))
    assert isinstance(pushed, Interaction)
    same = polled[pushed.event_id]
    assert isinstance(same, Interaction)
    fields = ("message_id", "root_id", "parent_id", "kind", "author_id", "author_role", "agency_id", "account_id")
    assert {f: getattr(same, f) for f in fields} == {f: getattr(pushed, f) for f in fields}


# --- rate limits and errors -----------------------------------------------------------------------------------


def test_a_documented_rate_limit_waits_the_estimate_then_succeeds() -> None:
    case = DOCUMENTED["error_rate_limited"]
    with FakePlatform() as platform:
        platform.script(
            f"/v19.0/{ACCOUNT}/media", Answer(case["status"], case["body"], case["headers"]), Answer(200, {"data": []})
        )
        poller = _poller(platform, FakeClock(START))
        state = poller.snapshot()
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert 23 * 60 <= caught.value.after_seconds <= 23 * 60 + 1
        assert poller.snapshot() == state
        assert poller.usage_percent == 100
        assert not poller.next_page().more


def test_an_expired_token_stops_the_account() -> None:
    expired = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
    with FakePlatform() as platform:
        platform.script(f"/v19.0/{ACCOUNT}/media", Answer(400, expired))
        with pytest.raises(AccountError) as caught:
            _poller(platform, FakeClock(START)).next_page()
        assert caught.value.account == ACCOUNT
        assert TOKEN not in str(caught.value)


def test_a_malformed_body_backs_off() -> None:
    with FakePlatform() as platform:
        platform.script(f"/v19.0/{ACCOUNT}/media", Answer(200, b"{truncated"), Answer(200, {"data": []}))
        poller = _poller(platform, FakeClock(START))
        with pytest.raises(Retry) as caught:
            poller.next_page()
        assert caught.value.after_seconds <= 1
        assert not poller.next_page().more


def test_a_comment_deleted_before_its_replies_are_read_is_skipped() -> None:
    gone = Answer(400, {"error": {"message": "Object does not exist", "code": 100, "error_subcode": 33}})
    with FakePlatform() as platform:
        script_graph(platform, {**ROUNDS["answers"], f"{K1}/replies": [gone]})
        clock = FakeClock(START)
        pages = drive_rounds(_poller(platform, clock), clock, 6)
        assert not pages[-1].more
        assert "instagram:17890012345678966" not in {e.event_id for e in _events(pages)}


# --- the pure parsers on Meta's documented answers --------------------------------------------------------------


def test_documented_media_comments_with_nested_replies() -> None:
    batch = parse_comments_page(DOCUMENTED["media_comments"]["response"], M1, SCOPE)
    comment, reply, other = assert_parsed(batch.items)
    assert isinstance(comment, Interaction)
    assert isinstance(reply, Interaction)
    assert isinstance(other, Interaction)
    assert (comment.kind, comment.parent_id, comment.author_role) == (InteractionKind.COMMENT, M1, AuthorRole.CITIZEN)
    assert (reply.kind, reply.parent_id, reply.author_role) == (InteractionKind.REPLY, K1, AuthorRole.AGENCY)
    assert other.kind is InteractionKind.COMMENT
    assert batch.paging.more
    assert batch.paging.position == {"after": "QVFIUkZAfakeIGafter"}
    assert batch.replies == []  # the nested list has no next


def test_documented_replies_and_counts() -> None:
    batch = parse_replies_page(DOCUMENTED["comment_replies"]["response"], M1, K1, SCOPE)
    (reply,) = assert_parsed(batch.items)
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.parent_id, reply.author_role) == (InteractionKind.REPLY, K1, AuthorRole.AGENCY)
    counts = parse_media_counts(DOCUMENTED["media_with_counts"]["response"], M1, SCOPE, SNAPSHOT)
    (likes,) = assert_parsed(counts.items)
    assert isinstance(likes, Reaction)
    assert (likes.event_id, likes.count, counts.comments) == (f"instagram:{M1}:like:{BUCKET_1}", 318, 12)


def test_documented_media_as_a_walk_page() -> None:
    nodes, paging = parse_media_page({"data": [DOCUMENTED["media_with_counts"]["response"]]}, SCOPE, SNAPSHOT)
    (node,) = nodes
    assert not isinstance(node, Rejected)
    post, likes = assert_parsed(node.items)
    assert isinstance(post, Post)
    assert post.text is not None
    assert (post.post_id, node.comments, likes.event_id) == (M1, 12, f"instagram:{M1}:like:{BUCKET_1}")
    assert not paging.more


# --- hostile input -----------------------------------------------------------------------------------------------

_NOISE = json_values(st.just(ACCOUNT), st.just("2024-05-01T10:00:00+0000"), st.just(K1))
_KEYS = ("id", "from", "timestamp", "text", "parent_id", "replies", "data", "paging", "like_count", "comments_count")


def _flat(nodes: list[Any]) -> list[Parsed]:
    return [item for node in nodes for item in ([node] if isinstance(node, Rejected) else node.items)]


@FUZZ
@given(st.one_of(_NOISE, mutated(ROUNDS["answers"][f"{ACCOUNT}/media"][0], _NOISE, _KEYS)))
def test_fuzzed_media_pages_give_events_or_rejected(body: Any) -> None:
    nodes, _ = parse_media_page(body, SCOPE, SNAPSHOT)
    assert_parsed(_flat(nodes), "instagram ")


@FUZZ
@given(
    st.one_of(
        _NOISE,
        mutated(ROUNDS["answers"][f"{M1}/comments"][2], _NOISE, _KEYS),
        mutated(DOCUMENTED["media_comments"]["response"], _NOISE, _KEYS),
    )
)
def test_fuzzed_comment_pages_give_events_or_rejected(body: Any) -> None:
    batch = parse_comments_page(body, M1, SCOPE)
    assert_parsed(batch.items, "instagram ")
    assert all(isinstance(after, dict) for _, after in batch.replies)
    assert_parsed(parse_replies_page(body, M1, K1, SCOPE).items, "instagram ")


@FUZZ
@given(st.one_of(_NOISE, mutated(DOCUMENTED["media_with_counts"]["response"], _NOISE, _KEYS)))
def test_fuzzed_counts_give_snapshots_or_raise_invalid_input_only(node: Any) -> None:
    try:
        counts = parse_media_counts(node, M1, SCOPE, SNAPSHOT)
    except InvalidInput:
        assert not isinstance(node, dict)
        return
    assert all(isinstance(s, Reaction) for s in assert_parsed(counts.items))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([200, 200, 200, 400, 503]),
            st.one_of(
                _NOISE,
                mutated(ROUNDS["answers"][f"{ACCOUNT}/media"][0], _NOISE, _KEYS),
                mutated(ROUNDS["answers"][f"{M1}/comments"][0], _NOISE, _KEYS),
                mutated(ROUNDS["answers"][f"{K1}/replies"][0], _NOISE, _KEYS),
            ),
        ),
        max_size=12,
    )
)
def test_the_poller_survives_random_answers_and_its_cursor_always_resumes(answers: list[tuple[int, Any]]) -> None:
    clock = FakeClock(START)
    http = RandomHttp(answers)
    poller = InstagramMediaPoller(
        _context(), http, credentials=SecretStr(TOKEN), base_url="http://x/v19.0", clock=clock
    )
    fresh = partial(InstagramMediaPoller, _context(), http, credentials=None, clock=clock)
    assert_survives_random_answers(poller, len(answers) + 2, fresh)
