"""The Facebook Page and Instagram media pollers against a loopback Graph API, into a live stack (broker + chDB).

The fake Graph API answers the documented rounds of tests/fixtures/payloads/{facebook,instagram}/graph_poll_rounds.json
(the unit tests tests/unit/connectors/polling/test_facebook.py and test_instagram.py list what each request gets),
with Meta's rate-limit errors and a truncated body slipped in. The events on the Kafka events topic, the rows the
worker stored (raw tables, dead_letters, response_facts) and what the pure parsers give for the same pages agree.

 test                                               proves
 facebook first round (code 4, a truncated page)    waits on Meta's signal, retries the truncated page; Kafka ==
                                                    parser == ClickHouse, each once; roles, roots, snapshots,
                                                    dead letters with their reason, the reply's response fact
 facebook second round, a new instance              resumed from the stored cursor: asks only for what is new
 instagram round with a crash after three pages     the resumed instance re-fetches no stored page; nested
                                                    replies; Kafka == parser == ClickHouse, each once
 a refused token (facebook, instagram)              AccountError at once, nothing stored for that account
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import AccountContext, Page, Parsed, PollingSource, Rejected
from connectors.core.errors import AccountError
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling import facebook, instagram
from connectors.polling.meta_parse import Node, Scope, Snapshot
from connectors.polling.meta_poller import MetaGraphPoller
from schemas.agency import Directory, load_directory
from schemas.events import Platform
from schemas.privacy import Pseudonymizer
from schemas.tables import DEAD_LETTERS, RAW_TABLES, RESPONSE_FACTS, SOURCE_CURSORS
from schemas.topics import EVENTS
from tests.helpers.connect import connect_stack, poll_into, resume_state, stored_event_ids, stored_rows
from tests.helpers.fake_platform import Answer, FakePlatform, Seen
from tests.helpers.kafka import read_topic
from tests.helpers.live import LiveStack
from tests.helpers.paths import FIXTURES, PAYLOADS

AGENCIES = FIXTURES / "connect_meta_x_agencies.yaml"
FB_ROUNDS = load_payload(PAYLOADS / "facebook" / "graph_poll_rounds.json")
IG_ROUNDS = load_payload(PAYLOADS / "instagram" / "graph_poll_rounds.json")
GRAPH_ERRORS = load_payload(PAYLOADS / "facebook" / "graph_errors_and_rate_limit_headers.json")
PAGE, OTHER_PAGE = "104857600012345", "200000000000001"
IG_ACCOUNT, OTHER_IG_ACCOUNT = "17841400000012345", "17841400000099999"
P1, P2, P3, P5 = (f"{PAGE}_{n}" for n in ("881234567890123", "880000000000789", "880000000000456", "882000000000001"))
C1, FB_REPLY = "881234567890123_1122334455667788", "881234567890123_1122334455667799"
M1, M2 = "18012345678901234", "18012345678900002"
K1, K2, R1, R2 = "17890012345678901", "17890012345678777", "17890012345678955", "17890012345678966"
FB_SOURCE, IG_SOURCE = "poll:facebook", "poll:instagram"
FB_LABEL, IG_LABEL = f"facebook:{PAGE}", f"instagram:{IG_ACCOUNT}"
SINCE = datetime(2024, 4, 28, tzinfo=UTC)
START = datetime(2024, 5, 2, 12, tzinfo=UTC)  # round one; round two an hour later (a new snapshot bucket)
BUCKET_1, BUCKET_2 = int(START.timestamp()), int(START.timestamp()) + 3600
TOKEN = SecretStr("EAAG-integration-token-never-stored")
API = "/v19.0"

# Meta's rate-limit signals: the documented code 4 (X-App-Usage at 100: 60 s floor), and Instagram's business
# use case limit (code 80002) whose usage header says when access comes back (minutes).
FB_LIMITED = Answer(
    GRAPH_ERRORS["rate_limited_app_code_4"]["status"],
    GRAPH_ERRORS["rate_limited_app_code_4"]["body"],
    GRAPH_ERRORS["rate_limited_app_code_4"]["headers"],
)
IG_USAGE = {IG_ACCOUNT: [{"type": "instagram", "call_count": 100, "total_cputime": 9, "total_time": 12,
                          "estimated_time_to_regain_access": 2}]}  # fmt: skip
IG_LIMITED = Answer(
    403,
    {"error": {"message": "(#80002) There have been too many calls to this Instagram account. Wait a bit and try "
               "again.", "type": "OAuthException", "code": 80002, "fbtrace_id": "AaBbFake80002"}},
    {"X-Business-Use-Case-Usage": orjson.dumps(IG_USAGE).decode()},
)  # fmt: skip
# A body cut off mid-object (a proxy gave up): not JSON, so the poller backs off and asks again.
TRUNCATED = Answer(200, b'{"data": [{"id": "104857600012345_88', {"Content-Type": "application/json"})
TOKEN_EXPIRED = Answer(GRAPH_ERRORS["token_expired_code_190"]["status"], GRAPH_ERRORS["token_expired_code_190"]["body"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[LiveStack]:
    yield from connect_stack(tmp_path_factory, chdb_dir, "connect-meta", AGENCIES)


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(AGENCIES)


# --- building and scripting -------------------------------------------------------------------------------------


def _context(live: LiveStack, directory: Directory, platform: Platform, account_id: str) -> AccountContext:
    agency = directory.owner_of(platform, account_id)
    assert agency is not None
    account = next(a for a in agency.accounts if a.platform is platform and a.account_id == account_id)
    pseudonym = partial(Pseudonymizer(live.settings.pseudonym_key).pseudonym, platform.value)
    return AccountContext(agency, account, directory, pseudonym, SINCE)


def _poller(
    kind: type[MetaGraphPoller], live: LiveStack, directory: Directory, account_id: str, server: FakePlatform,
    clock: FakeClock,
) -> MetaGraphPoller:  # fmt: skip
    return kind(
        _context(live, directory, kind.platform, account_id),
        Urllib3Client(timeout_seconds=5),
        credentials=TOKEN,
        base_url=server.url(API),
        clock=clock,
        backoff=Backoff(rng=random.Random(7)),
    )


def _script(server: FakePlatform, answers: Mapping[str, Sequence[Any]]) -> None:
    """Queue each path's answers (under the API root; ``""`` is the ``?ids=`` refresh)."""
    for path, bodies in answers.items():
        server.script(f"{API}/{path}", *(b if isinstance(b, Answer) else Answer(200, b) for b in bodies))


def _paths(requests: Sequence[Seen]) -> list[str]:
    return [seen.path.removeprefix(f"{API}/") for seen in requests]


class _Crash(Exception):
    """The connector process died (simulated): nothing after the last page ran."""


class _CrashAfter(PollingSource[dict[str, Any]]):
    """``inner``, dying before its ``pages + 1``-th page (the pages before were published with their cursors)."""

    def __init__(self, inner: MetaGraphPoller, pages: int) -> None:
        super().__init__(interval_seconds=inner.interval_seconds)
        self.source = inner.source
        self._inner = inner
        self._left = pages

    def next_page(self) -> Page:
        if self._left == 0:
            raise _Crash
        page = self._inner.next_page()
        self._left -= 1
        return page

    def snapshot(self) -> dict[str, Any]:
        return self._inner.snapshot()

    def resume(self, state: dict[str, Any]) -> None:
        self._inner.resume(state)


# --- reading back -----------------------------------------------------------------------------------------------


def _kafka_counts(live: LiveStack, source: str) -> Counter[str]:
    """Event id -> how many times ``source`` put it on the events topic."""
    records = read_topic(live.stack.bootstrap_servers, EVENTS.name, live.settings.partitions)
    return Counter(
        event["event_id"]
        for record in records
        for event in orjson.loads(record.value)["events"]
        if event.get("source") == source
    )


def _by_id(live: LiveStack, source: str) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row for rows in stored_rows(live, source).values() for row in rows}


def _dead_letters(live: LiveStack, source: str) -> list[tuple[str, str]]:
    store = live.stack.store
    sql = f"SELECT reason, error_type FROM {store.database}.{DEAD_LETTERS} FINAL WHERE source = {{s:String}}"
    return sorted((str(reason), str(kind)) for reason, kind in store.query(sql, {"s": source}).rows)


def _facts(live: LiveStack, platform: Platform, account_id: str) -> dict[str, tuple[Any, ...]]:
    store = live.stack.store
    sql = (
        f"SELECT message_id, reply_id, response_seconds, citizen_id, root_id FROM {store.database}.{RESPONSE_FACTS} "
        "FINAL WHERE platform = {p:String} AND account_id = {a:String}"
    )
    rows = store.query(sql, {"p": platform.value, "a": account_id}).rows
    return {str(row[0]): tuple(row[1:]) for row in rows}


def _stored_for_account(live: LiveStack, account_id: str) -> int:
    store, db = live.stack.store, live.stack.store.database
    union = " UNION ALL ".join(f"SELECT event_id FROM {db}.{t} WHERE account_id = {{a:String}}" for t in RAW_TABLES)
    return int(store.query(f"SELECT count() FROM ({union})", {"a": account_id}).rows[0][0])


def _cursor_rows(live: LiveStack, label: str) -> int:
    store = live.stack.store
    sql = f"SELECT count() FROM {store.database}.{SOURCE_CURSORS} WHERE account = {{a:String}}"
    return int(store.query(sql, {"a": label}).rows[0][0])


def _ids(items: Sequence[Parsed]) -> set[str]:
    return {item.event_id for item in items if not isinstance(item, Rejected)}


def _letters(items: Sequence[Parsed]) -> list[tuple[str, str]]:
    """The dead letters ``items`` make: reasons masked as the publisher masks them."""
    return sorted((Pseudonymizer.mask_text(i.reason), i.error_type) for i in items if isinstance(i, Rejected))


def _walked(nodes: Sequence[Node | Rejected], known: frozenset[str] = frozenset()) -> list[Parsed]:
    """What a walk emits of a page's nodes: rejections, and the events of posts since the backfill not yet known."""
    out: list[Parsed] = []
    for node in nodes:
        if isinstance(node, Rejected):
            out.append(node)
        elif node.created >= SINCE and node.post_id not in known:
            out.extend(node.items)
    return out


def _assert_once_everywhere(live: LiveStack, source: str, expected: set[str]) -> None:
    """Kafka == ``expected`` == the raw tables, each event published once and stored in one raw row."""
    kafka = _kafka_counts(live, source)
    stored = stored_event_ids(live, source)
    assert set(kafka) == expected
    assert set(stored) == expected
    assert [k for k, n in kafka.items() if n != 1] == []
    assert [k for k, n in stored.items() if n != 1] == []


# --- Facebook -----------------------------------------------------------------------------------------------------


def _fb_scope(directory: Directory) -> Scope:
    return Scope(Platform.FACEBOOK, PAGE, "jkns", directory, FB_SOURCE)


def _fb_round_one(directory: Directory) -> list[Parsed]:
    """What the pure parsers give for round one's pages: feed pages 1-3, P1's two comment pages, P2's, P3's."""
    scope, snapshot, answers = _fb_scope(directory), Snapshot(BUCKET_1, START), FB_ROUNDS["answers"]
    items: list[Parsed] = []
    for body in answers[f"{PAGE}/feed"][:3]:
        items += _walked(facebook.parse_feed_page(body, scope, snapshot)[0])
    for post, pages in ((P1, 2), (P2, 1), (P3, 1)):
        for body in answers[f"{post}/comments"][:pages]:
            items += facebook.parse_comments_page(body, post, scope).items
    return items


def _fb_round_two(directory: Directory) -> list[Parsed]:
    """Round two: the new post P5 of the walk (P1 is known), the refreshed counts of P1-P3, P1's new reply."""
    scope, answers = _fb_scope(directory), FB_ROUNDS["answers"]
    snapshot = Snapshot(BUCKET_2, START + timedelta(hours=1))
    items = _walked(facebook.parse_feed_page(answers[f"{PAGE}/feed"][3], scope, snapshot)[0], frozenset({P1}))
    refresh = answers[""][0]
    for post in (P1, P2, P3):
        items += facebook.parse_post_counts(refresh[post], post, scope, snapshot).items
    return items + list(facebook.parse_comments_page(answers[f"{P1}/comments"][2], P1, scope).items)


@dataclass
class _Run:
    """A poll run into the live stack: its server, requests, clock, count published, and what Kafka and ClickHouse
    held right after it (later tests add to them)."""

    server: FakePlatform
    requests: list[Seen]
    clock: FakeClock
    published: int
    kafka: Counter[str]
    stored: dict[str, int]


@pytest.fixture(scope="module")
def facebook_round(live: LiveStack, directory: Directory) -> Iterator[_Run]:
    """Round one of the Page: Meta's code 4 on the first feed request, a truncated second feed page."""
    feed = FB_ROUNDS["answers"][f"{PAGE}/feed"]
    with FakePlatform() as server:
        _script(server, {**FB_ROUNDS["answers"], f"{PAGE}/feed": [FB_LIMITED, feed[0], TRUNCATED, *feed[1:]]})
        clock = FakeClock(START)
        poller = _poller(facebook.FacebookPagePoller, live, directory, PAGE, server, clock)
        published = poll_into(live, directory, poller, account=FB_LABEL, clock=clock)
        live.drain()
        yield _Run(
            server, list(server.requests), clock, published, _kafka_counts(live, FB_SOURCE),
            stored_event_ids(live, FB_SOURCE),
        )  # fmt: skip


def test_facebook_round_waits_retries_and_lands_once_in_kafka_and_clickhouse(
    live: LiveStack, directory: Directory, facebook_round: _Run
) -> None:
    run = facebook_round
    feed, p1 = f"{PAGE}/feed", f"{P1}/comments"
    assert _paths(run.requests) == [feed, feed, p1, p1, f"{P2}/comments", feed, feed, feed, f"{P3}/comments"]
    feed_asks = [seen for seen in run.requests if seen.path == f"{API}/{feed}"]
    assert [seen.query.get("after") for seen in feed_asks] == [None, None, "RkVFRDE=", "RkVFRDE=", "RkVFRDI="]
    assert 60 <= run.clock.sleeps[0] <= 61  # Meta's floor for code 4 (+ jitter), on the fake clock
    assert len(run.clock.sleeps) == 2  # the truncated page: one back-off, then the same page again
    assert all(seen.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}" for seen in run.requests)

    expected = _fb_round_one(directory)
    ids = _ids(expected)
    assert run.published == len(ids) == 17
    assert set(run.kafka) == ids == set(run.stored)
    assert set(run.kafka.values()) == {1} == set(run.stored.values())

    stored = _by_id(live, FB_SOURCE)
    assert f"facebook:{PAGE}_870000000000001" not in stored  # older than the backfill
    rows = {event_id: row for event_id, row in stored.items() if event_id in ids}  # (round two adds more)
    pseudo = Pseudonymizer(live.settings.pseudonym_key)
    aisyah = pseudo.pseudonym("facebook", "7012345678901234")
    post = rows[f"facebook:{P1}"]
    assert (post["post_id"], post["agency_id"], post["account_id"], post["links"]) == (
        P1, "jkns", PAGE, ["https://jkns.gov.my/vaksin"],
    )  # fmt: skip
    interactions = {
        event_id: (row["kind"], row["author_role"], row["root_id"], row["parent_id"], row["author_id"])
        for event_id, row in rows.items()
        if "kind" in row
    }
    assert interactions == {
        f"facebook:{P2}": ("mention", "citizen", P2, None, aisyah),
        f"facebook:{C1}": ("comment", "citizen", P1, P1, aisyah),
        f"facebook:{FB_REPLY}": ("reply", "agency", P1, C1, PAGE),
        "facebook:881234567890123_1122334455667801": (
            "reply", "citizen", P1, C1, pseudo.pseudonym("facebook", "6987654321098765"),
        ),
        "facebook:880000000000456_2000000000000001": ("comment", "other_agency", P3, P3, OTHER_PAGE),
    }  # fmt: skip
    like = rows[f"facebook:{P1}:like:{BUCKET_1}"]
    assert (like["mode"], like["reaction_type"], like["count"], like["root_id"], like["author_id"]) == (
        "snapshot", "like", 44, P1, None,
    )  # fmt: skip

    letters = _dead_letters(live, FB_SOURCE)
    assert letters == _letters(expected)
    where = [reason.split(":")[0] for reason, _ in letters]
    assert where == ["facebook feed item 1", "facebook post ***_*** comment 1"]  # ids of 5+ digits are masked
    assert "without from.id" in letters[0][0]
    assert "created_time" in letters[1][0]
    assert TOKEN.get_secret_value() not in str(letters)

    # The Page's reply to Aisyah's comment is its first response: 10:03:27 -> 10:07:45.
    assert _facts(live, Platform.FACEBOOK, PAGE) == {C1: (FB_REPLY, 258.0, aisyah, P1)}


def test_facebook_second_round_resumes_from_the_stored_cursor(
    live: LiveStack, directory: Directory, facebook_round: _Run
) -> None:
    state = resume_state(live, FB_SOURCE, FB_LABEL)
    assert state is not None
    assert (state["step"], state["since"], state["pending"]) == ("walk", 1714557600, [])  # P1's time
    server = facebook_round.server
    asked = len(server.requests)
    clock = FakeClock(START + timedelta(hours=1))
    poller = _poller(facebook.FacebookPagePoller, live, directory, PAGE, server, clock)
    poller.resume(state)
    published = poll_into(live, directory, poller, account=FB_LABEL, clock=clock)
    live.drain()

    new = server.requests[asked:]
    assert _paths(new) == FB_ROUNDS["requests"][7:]
    walk, refresh, read = new[0], new[2], new[3]
    assert (walk.query["since"], walk.query.get("after")) == ("1714557600", None)  # from P1's time, from the top
    assert refresh.query["ids"] == f"{P1},{P2},{P3}"
    assert read.query["after"] == "Q09NMw=="  # P1's comments after the stored paging cursor: only the new one

    second = _ids(_fb_round_two(directory))
    assert published == len(second) == 1 + 1 + 7 + 7 + 7 + 1  # P5 and its like, 3 posts' counts, the new reply
    assert "facebook:881234567890123_1122334455667802" in second
    _assert_once_everywhere(live, FB_SOURCE, _ids(_fb_round_one(directory)) | second)


# --- Instagram ----------------------------------------------------------------------------------------------------


def _ig_round_one(directory: Directory) -> list[Parsed]:
    """Media pages 1-2 (M3 is older than the backfill), M1's comments (2 pages) and K1's replies, M2's comments."""
    scope = Scope(Platform.INSTAGRAM, IG_ACCOUNT, "jkns", directory, IG_SOURCE)
    snapshot, answers = Snapshot(BUCKET_1, START), IG_ROUNDS["answers"]
    items: list[Parsed] = []
    for body in answers[f"{IG_ACCOUNT}/media"][:2]:
        items += _walked(instagram.parse_media_page(body, scope, snapshot)[0])
    first, second = answers[f"{M1}/comments"][:2]
    items += instagram.parse_comments_page(first, M1, scope).items
    items += instagram.parse_replies_page(answers[f"{K1}/replies"][0], M1, K1, scope).items
    items += instagram.parse_comments_page(second, M1, scope).items
    return items + list(instagram.parse_comments_page(answers[f"{M2}/comments"][0], M2, scope).items)


@pytest.fixture(scope="module")
def instagram_round(live: LiveStack, directory: Directory) -> Iterator[tuple[_Run, int]]:
    """Round one of the account: a use-case limit first, the process dies after three pages, a new instance resumes
    from the stored cursor (and meets a truncated page). Also gives how many requests the first instance made."""
    answers = IG_ROUNDS["answers"]
    comments = answers[f"{M1}/comments"]
    scripted = {
        **answers,
        f"{IG_ACCOUNT}/media": [IG_LIMITED, *answers[f"{IG_ACCOUNT}/media"]],
        f"{M1}/comments": [comments[0], TRUNCATED, *comments[1:]],
    }
    with FakePlatform() as server:
        _script(server, scripted)
        clock = FakeClock(START)
        dying = _CrashAfter(_poller(instagram.InstagramMediaPoller, live, directory, IG_ACCOUNT, server, clock), 3)
        with pytest.raises(_Crash):
            poll_into(live, directory, dying, account=IG_LABEL, clock=clock)
        live.drain()
        crashed_after = len(server.requests)
        state = resume_state(live, IG_SOURCE, IG_LABEL)
        assert state is not None
        assert state["pending"] == [M1, M2]  # M1's comments were being read when it died
        resumed = _poller(instagram.InstagramMediaPoller, live, directory, IG_ACCOUNT, server, clock)
        resumed.resume(state)
        published = poll_into(live, directory, resumed, account=IG_LABEL, clock=clock)
        live.drain()
        run = _Run(
            server, list(server.requests), clock, published, _kafka_counts(live, IG_SOURCE),
            stored_event_ids(live, IG_SOURCE),
        )  # fmt: skip
        yield run, crashed_after


def test_instagram_round_resumed_after_a_crash_fetches_no_stored_page_again(
    live: LiveStack, directory: Directory, instagram_round: tuple[_Run, int]
) -> None:
    run, crashed_after = instagram_round
    media, m1, replies = f"{IG_ACCOUNT}/media", f"{M1}/comments", f"{K1}/replies"
    before, after = run.requests[:crashed_after], run.requests[crashed_after:]
    assert _paths(before) == [media, media, m1, replies]  # the limit, then three pages
    assert _paths(after) == [m1, m1, f"{M2}/comments", media]  # the truncated page, then on
    assert [seen.query.get("after") for seen in after] == ["SzE=", "SzE=", None, "TTE="]
    assert 120 <= run.clock.sleeps[0] <= 121  # estimated_time_to_regain_access: 2 minutes (+ jitter)
    assert len(run.clock.sleeps) == 2

    expected = _ig_round_one(directory)
    ids = _ids(expected)
    assert len(ids) == 8  # M1, M2 and their like snapshots; K1, R1 (nested), K2; R2 (read on)
    assert set(run.kafka) == ids == set(run.stored)
    assert set(run.kafka.values()) == {1} == set(run.stored.values())

    rows = _by_id(live, IG_SOURCE)
    pseudo = Pseudonymizer(live.settings.pseudonym_key)
    aisyah = pseudo.pseudonym("instagram", "1234567890123456")
    assert {
        row["message_id"]: (row["kind"], row["author_role"], row["root_id"], row["parent_id"])
        for row in rows.values()
        if "kind" in row
    } == {
        K1: ("comment", "citizen", M1, M1),
        R1: ("reply", "agency", M1, K1),
        R2: ("reply", "other_agency", M1, K1),
        K2: ("comment", "citizen", M1, M1),
    }
    assert rows[f"instagram:{R1}"]["author_id"] == IG_ACCOUNT
    assert rows[f"instagram:{K1}"]["author_id"] == aisyah
    assert rows[f"instagram:{M1}:like:{BUCKET_1}"]["count"] == 318
    assert rows[f"instagram:{M1}"]["links"] == ["https://jkns.gov.my/vaksin"]

    letters = _dead_letters(live, IG_SOURCE)
    assert letters == _letters(expected)
    assert letters[0][0].startswith("instagram media *** comment 0: comment without from.id")

    assert _facts(live, Platform.INSTAGRAM, IG_ACCOUNT) == {K1: (R1, 258.0, aisyah, M1)}


# --- a token Meta refuses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "account_id", "edge"),
    [(facebook.FacebookPagePoller, OTHER_PAGE, "feed"), (instagram.InstagramMediaPoller, OTHER_IG_ACCOUNT, "media")],
)
def test_a_refused_token_stops_the_account_and_stores_nothing(
    live: LiveStack, directory: Directory, kind: type[MetaGraphPoller], account_id: str, edge: str
) -> None:
    label = f"{kind.platform.value}:{account_id}"
    with FakePlatform() as server:
        _script(server, {f"{account_id}/{edge}": [TOKEN_EXPIRED]})
        poller = _poller(kind, live, directory, account_id, server, FakeClock(START))
        with pytest.raises(AccountError) as caught:
            poll_into(live, directory, poller, account=label)
        assert len(server.requests) == 1  # not retried: a human must renew the token
    assert caught.value.account == account_id
    assert "code 190" in caught.value.reason
    assert TOKEN.get_secret_value() not in str(caught.value)
    live.drain()
    assert _stored_for_account(live, account_id) == 0
    assert _cursor_rows(live, label) == 0
    assert resume_state(live, kind.source, label) is None
