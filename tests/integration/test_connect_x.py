"""The X mentions poller and filtered stream against a loopback X API v2, into a live stack (broker + chDB).

The fake API answers the documented pages of tests/fixtures/payloads/x_twitter (agency @MOHfictional): the mentions
timeline (v2_mentions_timeline.json, then v2_quirks.json as its second page: an edit, a retweet, a long post, another
agency, 4 bad items), the conversation search (v2_search_recent_conversation.json and a second page) and the
filtered stream (v2_filtered_stream.ndjson, its tweet ids moved to another range so that they are other events than
the poller's). The events on the Kafka events topic, the rows the worker stored (raw tables, dead_letters,
response_facts) and what the pure parsers give for the same pages agree.

 test                                          proves
 poll round: 429, a malformed page, a used-up  waits until x-rate-limit-reset (on a fake clock), retries the
 search window                                 malformed page, asks nothing while the window is used up; Kafka ==
                                               parser, ClickHouse == parser (one FINAL row each); roles, roots,
                                               the edit, dead letters with their reason, the agency reply's fact
 poll round two, a new instance                resumed from the stored cursor: follows with since_id, re-fetches
                                               no page, publishes no event of round one again
 a refused token                               AccountError at once, nothing stored for that account
 stream: a dropped connection                  the cut line comes whole after the reconnect, a repeated tweet is
                                               not published twice, a line that is not JSON is dead-lettered
 stream: a new instance                        resumed from the stored cursor, keeps a follow-up that only the
                                               stored conversations tie to the account

The poller publishes a tweet once per page that carries it: the citizen reply that mentions the agency is also in
its conversation's search, and the agency reply is in a mentions page's includes and in the search. Kafka holds
such a tweet twice, and the raw table until ReplacingMergeTree merges the rows; the tests count it so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
from connectors.polling.x import XMentionsPoller
from connectors.polling.x_v2 import parse_v2_page
from connectors.streams.x import XFilteredStream, parse_stream_line
from schemas.agency import Directory, load_directory
from schemas.events import Platform
from schemas.privacy import Pseudonymizer
from schemas.tables import DEAD_LETTERS, RAW_TABLES, RESPONSE_FACTS, SOURCE_CURSORS
from schemas.topics import EVENTS
from tests.helpers.connect import connect_stack, poll_into, resume_state, stored_event_ids, stored_rows, stream_into
from tests.helpers.fake_platform import DROP, Answer, FakePlatform, Seen
from tests.helpers.kafka import read_topic
from tests.helpers.live import LiveStack
from tests.helpers.paths import FIXTURES, PAYLOADS

AGENCIES = FIXTURES / "connect_meta_x_agencies.yaml"
X = PAYLOADS / "x_twitter"
MENTIONS: dict[str, Any] = load_payload(X / "v2_mentions_timeline.json")
QUIRKS: dict[str, Any] = load_payload(X / "v2_quirks.json")["page"]
SEARCH: dict[str, Any] = load_payload(X / "v2_search_recent_conversation.json")
ERRORS: dict[str, Any] = load_payload(X / "v2_errors_and_rate_limits.json")
STREAM_LINES = (X / "v2_filtered_stream.ndjson").read_bytes().splitlines()

AGENCY_USER, OTHER_AGENCY_USER = "1498765432109876543", "1400000000000000002"
CITIZEN, FARID = "1587654321098765432", "1600000000000000007"
POST_ID, CITIZEN_REPLY, AGENCY_REPLY = "1785600000000000001", "1785612345678901234", "1785613579246801357"
QUOTE, EDITED, DEEP = "1785620000000000042", "1785630000000000050", "1785640000000000082"
GONE_ROOT, AGENCY_POST = "1785611111111111111", "1785640000000000080"
FOLLOW_UP = "1785615000000000001"  # the second search page: a citizen answers the agency's reply
NEW_MENTION, NEW_REPLY = "1785650000000000001", "1785650000000000002"  # round two
POLL_SOURCE, STREAM_SOURCE = "poll:x", "stream:x"
LABEL = f"x:{AGENCY_USER}"
POLL_IDS, STREAM_IDS = "x:17856", "x:17866"  # the poller's tweets, the stream's (moved) ones
MENTIONS_PATH = f"/2/users/{AGENCY_USER}/mentions"
SEARCH_PATH, STREAM_PATH = "/2/tweets/search/recent", "/2/tweets/search/stream"
SINCE = datetime(2024, 4, 28, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 10, 14, tzinfo=UTC)  # the fixtures' x-rate-limit-reset is 10:15:00
RESET = 1714558500
TOKEN = SecretStr("x-integration-bearer-never-stored")
HEADERS = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "447", "x-rate-limit-reset": str(RESET)}
USED_UP = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET + 900)}
LIMITED = Answer(429, ERRORS["rate_limited_429"]["body"], ERRORS["rate_limited_429"]["headers"])
MALFORMED = Answer(200, {"data": "oops", "meta": {}}, HEADERS)  # a proxy's answer: data is not a list
EMPTY: dict[str, Any] = {"meta": {"result_count": 0}}


def _tweet(tweet_id: str, author: str, parent: str, parent_author: str, at: str) -> dict[str, Any]:
    """A reply in POST_ID's conversation, in the documented v2 shape."""
    return {
        "id": tweet_id, "text": f"balasan {tweet_id[-4:]}", "author_id": author, "conversation_id": POST_ID,
        "in_reply_to_user_id": parent_author, "referenced_tweets": [{"type": "replied_to", "id": parent}],
        "created_at": at, "edit_history_tweet_ids": [tweet_id],
    }  # fmt: skip


def _v2_page(*tweets: dict[str, Any]) -> dict[str, Any]:
    """A v2 page of ``tweets`` (one page: no next_token)."""
    newest = max((t["id"] for t in tweets), key=int)
    return {"data": list(tweets), "meta": {"result_count": len(tweets), "newest_id": newest}}


SEARCH_2 = _v2_page(_tweet(FOLLOW_UP, FARID, AGENCY_REPLY, AGENCY_USER, "2024-05-01T10:20:00.000Z"))
NEW_MENTION_TWEET = _tweet(NEW_MENTION, CITIZEN, POST_ID, AGENCY_USER, "2024-05-01T12:00:00.000Z")
ROUND_TWO_MENTIONS = _v2_page(NEW_MENTION_TWEET)
# Recent search gives every new tweet of the conversation: the new mention again, and the agency's answer.
ROUND_TWO_SEARCH = _v2_page(
    _tweet(NEW_REPLY, AGENCY_USER, NEW_MENTION, CITIZEN, "2024-05-01T12:30:00.000Z"), NEW_MENTION_TWEET
)


def _search(query: dict[str, str]) -> Answer:
    """Recent search by conversation: POST_ID's two pages (the first uses the window up), then what is new."""
    root = query["query"].removeprefix("conversation_id:")
    if root != POST_ID:
        return Answer(200, EMPTY, HEADERS)
    if query.get("next_token") == SEARCH["meta"]["next_token"]:
        return Answer(200, SEARCH_2, HEADERS)
    if query.get("since_id") == FOLLOW_UP:
        return Answer(200, ROUND_TWO_SEARCH, HEADERS)
    return Answer(200, SEARCH, USED_UP)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[LiveStack]:
    yield from connect_stack(tmp_path_factory, chdb_dir, "connect-x", AGENCIES)


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(AGENCIES)


def _context(live: LiveStack, directory: Directory, account_id: str = AGENCY_USER) -> AccountContext:
    agency = directory.owner_of(Platform.X, account_id)
    assert agency is not None
    account = next(a for a in agency.accounts if a.account_id == account_id)
    pseudonym = partial(Pseudonymizer(live.settings.pseudonym_key).pseudonym, "x")
    return AccountContext(agency, account, directory, pseudonym, SINCE)


def _poller(
    live: LiveStack, directory: Directory, server: FakePlatform, clock: FakeClock, account_id: str = AGENCY_USER
) -> XMentionsPoller:
    return XMentionsPoller(
        _context(live, directory, account_id),
        Urllib3Client(timeout_seconds=5),
        credentials=TOKEN,
        base_url=server.url(),
        clock=clock,
        backoff=Backoff(base_seconds=1, cap_seconds=8),
    )


# --- reading back -----------------------------------------------------------------------------------------------


def _kafka_counts(live: LiveStack, source: str, prefix: str) -> Counter[str]:
    """Event id (starting with ``prefix``) -> how many times ``source`` put it on the events topic."""
    records = read_topic(live.stack.bootstrap_servers, EVENTS.name, live.settings.partitions)
    return Counter(
        event["event_id"]
        for record in records
        for event in orjson.loads(record.value)["events"]
        if event.get("source") == source and event["event_id"].startswith(prefix)
    )


def _by_id(live: LiveStack, source: str) -> dict[str, dict[str, Any]]:
    """One row per event id (FINAL), whichever raw table holds it."""
    found = [row for rows in stored_rows(live, source).values() for row in rows]
    by_id = {row["event_id"]: row for row in found}
    assert len(by_id) == len(found)
    return by_id


def _dead_letters(live: LiveStack, source: str) -> list[tuple[str, str]]:
    store = live.stack.store
    sql = f"SELECT reason, error_type FROM {store.database}.{DEAD_LETTERS} FINAL WHERE source = {{s:String}}"
    return sorted((str(reason), str(kind)) for reason, kind in store.query(sql, {"s": source}).rows)


def _facts(live: LiveStack, root_prefix: str = "") -> dict[str, tuple[Any, ...]]:
    store = live.stack.store
    sql = (
        f"SELECT message_id, reply_id, response_seconds, citizen_id, root_id FROM {store.database}.{RESPONSE_FACTS} "
        "FINAL WHERE platform = 'x' AND account_id = {a:String} AND startsWith(root_id, {r:String})"
    )
    rows = store.query(sql, {"a": AGENCY_USER, "r": root_prefix}).rows
    return {str(row[0]): tuple(row[1:]) for row in rows}


def _stored_for_account(live: LiveStack, account_id: str) -> int:
    store, db = live.stack.store, live.stack.store.database
    union = " UNION ALL ".join(f"SELECT event_id FROM {db}.{t} WHERE account_id = {{a:String}}" for t in RAW_TABLES)
    return int(store.query(f"SELECT count() FROM ({union})", {"a": account_id}).rows[0][0])


def _cursor_rows(live: LiveStack, label: str) -> int:
    store = live.stack.store
    sql = f"SELECT count() FROM {store.database}.{SOURCE_CURSORS} WHERE account = {{a:String}}"
    return int(store.query(sql, {"a": label}).rows[0][0])


def _emitted(items: Sequence[Parsed]) -> Counter[str]:
    return Counter(item.event_id for item in items if not isinstance(item, Rejected))


def _letters(items: Sequence[Parsed]) -> list[tuple[str, str]]:
    """The dead letters ``items`` make: reasons masked as the publisher masks them."""
    return sorted((Pseudonymizer.mask_text(i.reason), i.error_type) for i in items if isinstance(i, Rejected))


@dataclass(frozen=True)
class _Landed:
    """What Kafka and ClickHouse held of one test's events (ids with its prefix) at one moment.

    ``kafka``: event id -> records on the events topic; ``stored``: event id -> raw rows (without FINAL);
    ``final``: the event ids with FINAL, asserted one row each.
    """

    kafka: Counter[str]
    stored: dict[str, int]
    final: set[str]


def _landed(live: LiveStack, source: str, prefix: str) -> _Landed:
    stored = {k: n for k, n in stored_event_ids(live, source).items() if k.startswith(prefix)}
    rows = [row["event_id"] for row in _by_id(live, source).values() if row["event_id"].startswith(prefix)]
    return _Landed(_kafka_counts(live, source, prefix), stored, set(rows))


def _assert_landed(landed: _Landed, published: Counter[str]) -> None:
    """Kafka holds exactly ``published``; ClickHouse the same events: one raw row for each published once, at most
    as many rows as publications for the others (upserts: one row once merged), one row each with FINAL."""
    assert landed.kafka == published
    assert set(landed.stored) == set(published) == landed.final
    assert {k: n for k, n in landed.stored.items() if published[k] == 1 and n != 1} == {}
    assert all(1 <= n <= published[k] for k, n in landed.stored.items())


# --- the poller ---------------------------------------------------------------------------------------------------


def _round_one(live: LiveStack, directory: Directory) -> list[Parsed]:
    """What the pure parser gives for every page round one is served (mentions twice, POST_ID's search twice)."""
    context = _context(live, directory)
    items: list[Parsed] = []
    for page in (MENTIONS, QUIRKS):
        items += parse_v2_page(page, context, POLL_SOURCE, where="x mentions").items
    for page in (SEARCH, SEARCH_2):
        items += parse_v2_page(page, context, POLL_SOURCE, where="x search").items
    return items


def _round_two(live: LiveStack, directory: Directory) -> list[Parsed]:
    context = _context(live, directory)
    mentions = parse_v2_page(ROUND_TWO_MENTIONS, context, POLL_SOURCE, where="x mentions").items
    return mentions + parse_v2_page(ROUND_TWO_SEARCH, context, POLL_SOURCE, where="x search").items


@dataclass
class _PollRun:
    """Round one into the live stack: server, requests, clock, count published, and what landed right after."""

    server: FakePlatform
    requests: list[Seen]
    clock: FakeClock
    published: int
    landed: _Landed


@pytest.fixture(scope="module")
def poll_round(live: LiveStack, directory: Directory) -> Iterator[_PollRun]:
    """Round one: a 429 first, the second mentions page malformed once, POST_ID's search uses its window up."""
    with FakePlatform() as server:
        server.script(
            MENTIONS_PATH, LIMITED, Answer(200, MENTIONS, HEADERS), MALFORMED, Answer(200, QUIRKS, HEADERS),
            Answer(200, ROUND_TWO_MENTIONS, HEADERS),
        )  # fmt: skip
        server.respond(SEARCH_PATH, _search)
        clock = FakeClock(NOW)
        published = poll_into(live, directory, _poller(live, directory, server, clock), account=LABEL, clock=clock)
        live.drain()
        yield _PollRun(server, list(server.requests), clock, published, _landed(live, POLL_SOURCE, POLL_IDS))


def test_poll_round_waits_retries_and_lands_in_kafka_and_clickhouse(
    live: LiveStack, directory: Directory, poll_round: _PollRun
) -> None:
    run = poll_round
    mentions = [seen.query for seen in run.requests if seen.path == MENTIONS_PATH]
    token = MENTIONS["meta"]["next_token"]
    assert [q.get("pagination_token") for q in mentions] == [None, None, token, token]  # 429, page 1, malformed, 2
    assert {q["start_time"] for q in mentions} == {"2024-04-28T00:00:00Z"}  # the backfill
    searched = [
        (q["query"].removeprefix("conversation_id:"), q.get("next_token"))
        for q in (seen.query for seen in run.requests if seen.path == SEARCH_PATH)
    ]
    # Most recently active first: the reply whose root is gone (11:06), POST_ID (11:05, two pages), 080, the quote.
    assert searched == [
        (GONE_ROOT, None), (POST_ID, None), (POST_ID, SEARCH["meta"]["next_token"]), (AGENCY_POST, None), (QUOTE, None),
    ]  # fmt: skip
    assert run.clock.sleeps[0] == 61.0  # until x-rate-limit-reset (+1 s), on the fake clock
    assert 0 <= run.clock.sleeps[1] <= 1  # the malformed page: a back-off, then the same page again
    assert run.clock.sleeps[2] == pytest.approx(900 + RESET - (NOW.timestamp() + 61 + run.clock.sleeps[1]) + 1)
    assert len(run.clock.sleeps) == 3  # the used-up window cost a wait, not a request
    assert all(seen.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}" for seen in run.requests)

    expected = _round_one(live, directory)
    emitted = _emitted(expected)
    assert run.published == sum(emitted.values()) == 13
    assert {k for k, n in emitted.items() if n > 1} == {f"x:{CITIZEN_REPLY}", f"x:{AGENCY_REPLY}"}
    _assert_landed(run.landed, emitted)

    rows = {k: row for k, row in _by_id(live, POLL_SOURCE).items() if k in emitted}
    pseudo = partial(Pseudonymizer(live.settings.pseudonym_key).pseudonym, "x")
    post = rows[f"x:{POST_ID}"]
    assert (post["post_id"], post["agency_id"], post["account_id"]) == (POST_ID, "moh", AGENCY_USER)
    interactions = {
        row["message_id"]: (row["kind"], row["author_role"], row["root_id"], row["parent_id"], row["author_id"])
        for row in rows.values()
        if "kind" in row
    }
    assert interactions == {
        QUOTE: ("mention", "citizen", QUOTE, None, pseudo("1234509876543210987")),
        CITIZEN_REPLY: ("comment", "citizen", POST_ID, POST_ID, pseudo(CITIZEN)),
        AGENCY_REPLY: ("reply", "agency", POST_ID, CITIZEN_REPLY, AGENCY_USER),
        "1785640000000000079": ("reply", "agency", POST_ID, CITIZEN_REPLY, AGENCY_USER),
        "1785640000000000081": ("comment", "other_agency", POST_ID, POST_ID, OTHER_AGENCY_USER),
        DEEP: ("reply", "citizen", POST_ID, AGENCY_REPLY, pseudo(FARID)),
        "1785640000000000083": ("comment", "citizen", GONE_ROOT, GONE_ROOT, pseudo(FARID)),
        FOLLOW_UP: ("reply", "citizen", POST_ID, AGENCY_REPLY, pseudo(FARID)),
    }
    assert rows[f"x:{AGENCY_REPLY}"]["parent_author_id"] == pseudo(CITIZEN)
    assert rows[f"x:{CITIZEN_REPLY}"]["parent_author_id"] == AGENCY_USER
    edit = rows[f"x:{EDITED}:edit:1785640000000000077"]
    assert (edit["op"], edit["target_id"], edit["root_id"], edit["author_id"]) == (
        "edit", EDITED, POST_ID, pseudo(CITIZEN),
    )  # fmt: skip
    assert "x:1785640000000000078" not in rows  # the retweet
    assert rows[f"x:{AGENCY_POST}"]["links"] == ["https://moh.gov.my/waktu"]

    letters = _dead_letters(live, POLL_SOURCE)
    assert letters == _letters(expected)
    assert [reason.split(":")[1].strip() for reason, _ in letters] == ["data[10]", "data[7]", "data[8]", "data[9]"]

    # The agency's first answer to the citizen's question: 10:03:27 -> 10:07:45 (its later, longer one is not).
    facts = _facts(live, POST_ID[:5])
    assert facts[CITIZEN_REPLY] == (AGENCY_REPLY, 258.0, pseudo(CITIZEN), POST_ID)
    assert set(facts) <= {CITIZEN_REPLY, NEW_MENTION}  # the only questions answered (the second in round two)


def test_poll_round_two_resumes_from_the_stored_cursor(
    live: LiveStack, directory: Directory, poll_round: _PollRun
) -> None:
    state = resume_state(live, POLL_SOURCE, LABEL)
    assert state is not None
    assert state["mentions"] == {"since_id": "1785640000000000086", "next_token": None, "pending_newest": None}
    server = poll_round.server
    asked = len(server.requests)
    clock = FakeClock(datetime(2024, 5, 1, 13, tzinfo=UTC))
    poller = _poller(live, directory, server, clock)
    poller.resume(state)
    published = poll_into(live, directory, poller, account=LABEL, clock=clock)
    live.drain()

    new = server.requests[asked:]
    assert [seen.path for seen in new] == [MENTIONS_PATH] + [SEARCH_PATH] * 4
    follow = new[0].query
    assert follow["since_id"] == "1785640000000000086"  # the newest mention of round one
    assert "pagination_token" not in follow
    assert "start_time" not in follow
    searched = {seen.query["query"].removeprefix("conversation_id:"): seen.query for seen in new[1:]}
    assert set(searched) == {POST_ID, GONE_ROOT, AGENCY_POST, QUOTE}
    assert searched[POST_ID]["since_id"] == FOLLOW_UP  # the newest tweet its search gave in round one
    assert all("next_token" not in query for query in searched.values())

    second = _emitted(_round_two(live, directory))
    assert published == sum(second.values()) == 3  # the new mention comes with its conversation's search again
    # Nothing of round one was published again: Kafka holds round one's records plus round two's.
    _assert_landed(_landed(live, POLL_SOURCE, POLL_IDS), poll_round.landed.kafka + second)
    pseudo = partial(Pseudonymizer(live.settings.pseudonym_key).pseudonym, "x")
    assert _facts(live, POST_ID[:5])[NEW_MENTION] == (NEW_REPLY, 1800.0, pseudo(CITIZEN), POST_ID)


def test_a_refused_token_stops_the_account_and_stores_nothing(live: LiveStack, directory: Directory) -> None:
    label = f"x:{OTHER_AGENCY_USER}"
    with FakePlatform() as server:
        server.script(f"/2/users/{OTHER_AGENCY_USER}/mentions", Answer(401, ERRORS["unauthorized_401"]["body"]))
        poller = _poller(live, directory, server, FakeClock(NOW), OTHER_AGENCY_USER)
        with pytest.raises(AccountError) as caught:
            poll_into(live, directory, poller, account=label)
        assert len(server.requests) == 1  # not retried: a human must fix the token
    assert caught.value.account == OTHER_AGENCY_USER
    assert "401 Unauthorized" in caught.value.reason
    assert TOKEN.get_secret_value() not in str(caught.value)
    live.drain()
    assert _stored_for_account(live, OTHER_AGENCY_USER) == 0
    assert _cursor_rows(live, label) == 0
    assert resume_state(live, POLL_SOURCE, label) is None


# --- the filtered stream -----------------------------------------------------------------------------------------


def _moved(line: bytes) -> bytes:
    """A documented stream line with its tweet ids (1785...) moved to 1786...: other events than the poller's."""
    return line.replace(b"17856", b"17866")


REPLY_LINE, AGENCY_LINE, QUOTE_LINE, NOTICE_LINE = (_moved(line) + b"\r\n" for line in STREAM_LINES)
S_POST, S_CITIZEN_REPLY, S_AGENCY_REPLY, S_QUOTE = (
    i.replace("17856", "17866", 1) for i in (POST_ID, CITIZEN_REPLY, AGENCY_REPLY, QUOTE)
)
NOT_JSON = b'{"data": {"id": "17866999' + b"\r\n"  # a line X cut short: dead-lettered, the stream goes on
S_FOLLOW_UP = "1786630000000000001"
# After the resume: a tweet of another agency's rule (skipped), then a citizen answering a citizen in the agency's
# conversation; it names neither the agency nor its tweets: only the conversations in the stored cursor tie it.
OTHER_RULE = orjson.dumps({
    "data": {"id": "1786640000000000001", "text": "@JKMfictional bantuan banjir?", "author_id": "1600000000000000008",
             "conversation_id": "1786640000000000001", "created_at": "2024-05-01T10:30:00.000Z",
             "edit_history_tweet_ids": ["1786640000000000001"],
             "entities": {"mentions": [{"start": 0, "end": 13, "username": "JKMfictional", "id": OTHER_AGENCY_USER}]}},
    "matching_rules": [{"id": "1785500000000000201", "tag": "mentions-of-jkm"}],
}) + b"\r\n"  # fmt: skip
FOLLOW_UP_LINE = orjson.dumps({
    "data": {"id": S_FOLLOW_UP, "text": "@aisyah_r_92 Saya pun nak tahu", "author_id": FARID,
             "conversation_id": S_POST, "in_reply_to_user_id": CITIZEN,
             "referenced_tweets": [{"type": "replied_to", "id": S_CITIZEN_REPLY}],
             "created_at": "2024-05-01T10:31:00.000Z", "edit_history_tweet_ids": [S_FOLLOW_UP],
             "entities": {"mentions": [{"start": 0, "end": 12, "username": "aisyah_r_92", "id": CITIZEN}]}},
    "matching_rules": [{"id": "1785500000000000104", "tag": "agency-conversations"}],
}) + b"\r\n"  # fmt: skip


def _stream(
    live: LiveStack, directory: Directory, server: FakePlatform, account_id: str = AGENCY_USER
) -> XFilteredStream:
    context = _context(live, directory, account_id)
    return XFilteredStream(context, credentials=TOKEN, base_url=server.url(), clock=FakeClock(NOW))


def test_stream_reconnects_after_a_drop_and_a_new_instance_resumes(live: LiveStack, directory: Directory) -> None:
    half = len(AGENCY_LINE) // 2
    # The connection drops in the middle of the agency's reply, once the lines before were read (the gate, None).
    dropped = [NOT_JSON, REPLY_LINE, b"\r\n", None, AGENCY_LINE[:half], DROP]
    # X repeats a tweet around the reconnect; the operational disconnect after the quote ends this connection.
    again = [REPLY_LINE, AGENCY_LINE, b"\r\n", QUOTE_LINE, NOTICE_LINE]
    after_resume = [b"\r\n", OTHER_RULE, FOLLOW_UP_LINE]
    with FakePlatform() as server:
        server.stream(STREAM_PATH, dropped, again, after_resume)
        first = _stream(live, directory, server)

        def caught_up() -> bool:
            if first.since_id == S_CITIZEN_REPLY:
                server.release()  # what came before the gate is published: now the connection may break
            return first.since_id == S_QUOTE

        published = stream_into(live, directory, first, account=LABEL, until=caught_up)
        assert len(server.seen(STREAM_PATH)) == 2  # dropped, then reconnected
        live.drain()
        landed = _landed(live, STREAM_SOURCE, STREAM_IDS)

        context = _context(live, directory)
        expected = [item for line in (NOT_JSON, REPLY_LINE, AGENCY_LINE, QUOTE_LINE)
                    for item in parse_stream_line(line.rstrip(), context).items]  # fmt: skip
        emitted = _emitted(expected)
        assert set(emitted) == {f"x:{i}" for i in (S_POST, S_CITIZEN_REPLY, S_AGENCY_REPLY, S_QUOTE)}
        published_once = Counter(set(emitted))  # the agency post (quoted twice), the repeated reply: once each
        _assert_landed(landed, published_once)
        assert published == len(emitted)
        letters = _dead_letters(live, STREAM_SOURCE)
        assert letters == _letters(expected)
        assert letters[0][0].startswith("x stream: line is not JSON")

        state = resume_state(live, STREAM_SOURCE, LABEL)
        assert state is not None
        assert (state["newest_id"], sorted(state["conversations"])) == (S_QUOTE, sorted([S_POST, S_QUOTE]))
        resumed = _stream(live, directory, server)
        resumed.resume(state)
        stream_into(live, directory, resumed, account=LABEL, until=lambda: resumed.since_id == S_FOLLOW_UP)
        assert resumed.skipped == 1  # the other agency's tweet
        assert all(seen.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}" for seen in server.requests)
    live.drain()

    _assert_landed(_landed(live, STREAM_SOURCE, STREAM_IDS), published_once + Counter([f"x:{S_FOLLOW_UP}"]))
    rows = _by_id(live, STREAM_SOURCE)
    pseudo = partial(Pseudonymizer(live.settings.pseudonym_key).pseudonym, "x")
    follow_up = rows[f"x:{S_FOLLOW_UP}"]
    assert (follow_up["kind"], follow_up["author_role"], follow_up["root_id"], follow_up["author_id"]) == (
        "reply", "citizen", S_POST, pseudo(FARID),
    )  # fmt: skip
    answer = rows[f"x:{S_AGENCY_REPLY}"]
    assert (answer["kind"], answer["author_role"], answer["parent_id"]) == ("reply", "agency", S_CITIZEN_REPLY)
    assert _facts(live, S_POST[:5]) == {S_CITIZEN_REPLY: (S_AGENCY_REPLY, 258.0, pseudo(CITIZEN), S_POST)}


def test_stream_refused_token_is_an_account_error(live: LiveStack, directory: Directory) -> None:
    label = f"x:{OTHER_AGENCY_USER}"
    with FakePlatform() as server:
        server.script(STREAM_PATH, Answer(401, ERRORS["unauthorized_401"]["body"]))
        stream = _stream(live, directory, server, OTHER_AGENCY_USER)
        with pytest.raises(AccountError) as caught:
            stream_into(live, directory, stream, account=label, until=lambda: False)
        assert len(server.seen(STREAM_PATH)) == 1  # not reconnected: a human must fix the token
    assert caught.value.account == OTHER_AGENCY_USER
    assert "401 Unauthorized" in caught.value.reason
    live.drain()
    assert _stored_for_account(live, OTHER_AGENCY_USER) == 0
    assert resume_state(live, STREAM_SOURCE, label) is None
