"""The Mastodon poller, the Mastodon stream (server-sent events and websocket) and the Bluesky Jetstream stream end
to end: a loopback platform speaking the documented wire format, the production runner and publisher, the
embedded broker and chDB (one stack for the module).

Accounts are in tests/fixtures/connect_more_agencies.yaml: jkn owns the accounts of the documented payloads in
tests/fixtures/payloads/mastodon and .../bluesky (jkm is another agency), jpj the resume and revoked ones.

- Mastodon poller: a backfill of the documented statuses, contexts and notifications through a 429 (waits until
  ``X-RateLimit-Reset``), a malformed page (retried) and a bad status (dead-lettered): the event ids on Kafka ==
  those the pure parsers give for the same answers == those stored, each stored once; exact rows and the agency
  reply's response fact. A refused token: ``AccountError``, nothing stored. A token revoked mid-backfill, then a
  poller resumed from the stored cursor: the pages already stored are not fetched again.
- Mastodon stream: anchor, a streamed status, a dropped connection, a REST catch-up rate-limited once, the stream
  repeating what the catch-up gave (skipped), then a restart from the stored cursor: no event lost, none twice.
- Bluesky: a refused handshake (429, Retry-After), frames in pages, a frame that is not JSON (dead-lettered), a
  dropped websocket resumed from the rewound cursor, then a restart from the stored cursor: no event lost, none
  twice, and the same events as one uninterrupted read. The drop and the restart come after frames that give no
  event (an account frame, an unrelated post): Jetstream's 5 s rewind replays the last frames read, whose events
  would be published again (same ids, by design). Jetstream has no credentials, so no token test.

Mastodon's poll and stream events of one status share their event id (by design), and raw rows of one event id
replace each other: so the stream tests use statuses of their own, renumbered from the documented ones. A known
poller quirk is allowed for (README "Known limits"): a status reached twice in one backfill (in a context and in its
own, or in a context and as a mention) is published twice (same event id: stored once).
Waits go to a ``FakeClock`` and the streams are held at a ``None`` gate until the test has read what it needs:
nothing here sleeps.
"""

from __future__ import annotations

import copy
import random
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import AccountContext, Parsed, Rejected
from connectors.core.errors import AccountError
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.mastodon import MastodonPoller
from connectors.polling.mastodon_parse import parse_context, parse_notification, parse_status, parse_time
from connectors.streams.bluesky import BlueskyJetstream, JetstreamReader
from connectors.streams.mastodon import HOME_PATH, MastodonStream
from schemas.agency import load_directory
from schemas.events import Platform
from schemas.privacy import Pseudonymizer
from schemas.tables import DEAD_LETTERS, INTERACTIONS, POSTS, RAW_TABLES, REACTIONS
from schemas.topics import EVENTS
from tests.helpers.connect import connect_stack, one_fact, one_row, poll_into, resume_state, stream_into
from tests.helpers.fake_platform import DROP, Answer, FakePlatform
from tests.helpers.kafka import read_topic
from tests.helpers.live import LiveStack
from tests.helpers.paths import FIXTURES, PAYLOADS

AGENCIES = FIXTURES / "connect_more_agencies.yaml"
DIRECTORY = load_directory(AGENCIES)
KEY = SecretStr("connect-mastodon-bluesky")
PSEUDO = Pseudonymizer(KEY)
SINCE = datetime(2024, 5, 1, tzinfo=UTC)

HOST = "https://social.kesihatan.example"
AGENCY, OTHER_AGENCY = f"{HOST}/users/jknselangor", f"{HOST}/users/jkmselangor"
M_RESUME, M_REVOKED = f"{HOST}/users/jpjresume", f"{HOST}/users/jpjrevoked"
CITIZEN = "https://mastodon.example/users/aisyah"
LOCAL_ID, RESUME_LOCAL_ID, REVOKED_LOCAL_ID = "109876543210987654", "109900000000000001", "109900000000000002"
POLL, STREAM = "poll:mastodon", "stream:mastodon"
NOTIFICATIONS = "/api/v1/notifications"
REST: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "rest_statuses_context_notifications.json")
ERRORS: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "rest_errors_rate_limits.json")
R_STATUS, P_STATUS = REST["account_statuses"]["response"]
MENTION = REST["notifications_mentions"]["response"][0]
C_STATUS = MENTION["status"]
M_PSEUDONYM = partial(PSEUDO.pseudonym, "mastodon")
P_KEY, R_KEY = f"{AGENCY}/statuses/112345678901234567", f"{AGENCY}/statuses/112345720000000111"
C_KEY = f"{M_PSEUDONYM(CITIZEN)}/statuses/112345692300000000"
REPUBLISHED = [f"mastodon:{C_KEY}", f"mastodon:{R_KEY}"]  # read twice by the backfill below (stored once)

BSKY_SOURCE = "stream:bluesky"
BSKY_AGENCY = "did:plc:4kq2m7xz5vhw3jnr6tbeyd2a"
AISYAH = "did:plc:7hx3p2wqk5n6rf4zbt2ymc3e"
B_PSEUDONYM = partial(PSEUDO.pseudonym, "bluesky")
FRAMES: list[dict[str, Any]] = [
    *load_payload(PAYLOADS / "bluesky" / "jetstream_events.ndjson"),
    *load_payload(PAYLOADS / "bluesky" / "jetstream_conversation.ndjson"),
]
LINES = [orjson.dumps(frame).decode() for frame in FRAMES]
B_SINCE = datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path) -> Iterator[LiveStack]:
    yield from connect_stack(tmp_path_factory, chdb_dir, "connect-masto-bsky", AGENCIES, KEY)


# --- what Kafka and ClickHouse hold, per account ----------------------------------------------------------------


def _context(account_id: str) -> AccountContext:
    agency = DIRECTORY.owner_of(Platform.MASTODON, account_id)
    assert agency is not None, account_id
    account = next(a for a in agency.accounts if a.account_id == account_id)
    return AccountContext(agency=agency, account=account, directory=DIRECTORY, pseudonym=M_PSEUDONYM, since=SINCE)


def _kafka_ids(live: LiveStack, source: str, account_id: str, containing: str = "") -> Counter[str]:
    """How often each event id of ``source`` and ``account_id`` (holding ``containing``) is on the events topic."""
    records = read_topic(live.stack.bootstrap_servers, EVENTS.name, live.settings.partitions)
    events = (event for record in records for event in orjson.loads(record.value)["events"])
    ids = (e["event_id"] for e in events if e["source"] == source and e["account_id"] == account_id)
    return Counter(i for i in ids if containing in i)


def _stored_ids(live: LiveStack, source: str, account_id: str, containing: str = "") -> dict[str, int]:
    """Event id (holding ``containing``) -> raw rows holding it (without FINAL: a duplicate shows as 2), of one
    account.
    """
    store, db = live.stack.store, live.stack.store.database
    where = "source = {source:String} AND account_id = {account:String}"
    union = " UNION ALL ".join(f"SELECT event_id FROM {db}.{table} WHERE {where}" for table in RAW_TABLES)
    sql = f"SELECT event_id, count() FROM ({union}) GROUP BY event_id"
    rows = store.query(sql, {"source": source, "account": account_id}).rows
    return {str(i): int(n) for i, n in rows if containing in str(i)}


def _dead_letters(live: LiveStack, source: str) -> set[tuple[str, str]]:
    store = live.stack.store
    sql = f"SELECT error_type, reason FROM {store.database}.{DEAD_LETTERS} FINAL WHERE source = {{source:String}}"
    return {(str(kind), str(reason)) for kind, reason in store.query(sql, {"source": source}).rows}


def _split(items: Sequence[Parsed]) -> tuple[Counter[str], set[tuple[str, str]]]:
    """How often parsed items give each event id, and their rejections as dead-lettered: (error type, reason).

    A dead letter's reason is masked like the publisher masks it (long digit runs may be phone numbers).
    """
    ids = Counter(item.event_id for item in items if not isinstance(item, Rejected))
    return ids, {(item.error_type, PSEUDO.mask_text(item.reason)) for item in items if isinstance(item, Rejected)}


def _assert_exactly_once(
    live: LiveStack,
    source: str,
    account_id: str,
    expected: Counter[str],
    republished: Collection[str] = (),
    containing: str = "",
) -> None:
    """Kafka holds the account's events as the parsers gave them (``expected``: how often each), each once but
    those ``republished`` (a known connector quirk), and ClickHouse each in one row: nothing else. A republished
    id may be in as many rows as it was published, until ClickHouse merges them. ``containing``: only the event
    ids holding it are compared (a test's own statuses).
    """
    assert {i for i, n in expected.items() if n > 1} == set(republished)
    assert _kafka_ids(live, source, account_id, containing) == expected
    stored = _stored_ids(live, source, account_id, containing)
    assert set(stored) == set(expected)
    assert {i: n for i, n in stored.items() if n != 1 and i not in republished} == {}
    assert all(1 <= stored[i] <= expected[i] for i in republished)


def _assert_nothing_of(live: LiveStack, source: str, account_id: str) -> None:
    assert _kafka_ids(live, source, account_id) == Counter()
    assert _stored_ids(live, source, account_id) == {}
    assert resume_state(live, source, f"mastodon:{account_id}") is None


def _backoff() -> Backoff:
    return Backoff(base_seconds=1, cap_seconds=8, rng=random.Random(5))


# --- Mastodon poller ----------------------------------------------------------------------------------------------


def _status(base: dict[str, Any], local_id: str, created_at: str, **changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(base)
    status.update(id=local_id, created_at=created_at, **changes)
    status["uri"] = f"{status['account']['uri']}/statuses/{local_id}"
    return status


def _notification(kind: str, local_id: str, created_at: str, status: dict[str, Any]) -> dict[str, Any]:
    notification: dict[str, Any] = copy.deepcopy(MENTION)
    notification.update(id=local_id, type=kind, created_at=created_at, status=copy.deepcopy(status))
    return notification


def _link(path: str, next_max: str | None = None, prev_min: str | None = None) -> dict[str, str]:
    parts = [f'<{HOST}{path}?limit=40&max_id={next_max}>; rel="next"'] if next_max else []
    parts += [f'<{HOST}{path}?limit=40&min_id={prev_min}>; rel="prev"'] if prev_min else []
    return {"Link": ", ".join(parts), "X-RateLimit-Remaining": "250", "X-RateLimit-Reset": "2026-01-01T00:05:00Z"}


STATUSES = f"/api/v1/accounts/{LOCAL_ID}/statuses"
P2 = _status(P_STATUS, "112345600000000001", "2024-05-01T09:00:00.000Z", replies_count=0)
BROKEN = _status(P2, "112345600000000002", "2024-05-01T09:30:00.000Z")
BROKEN["uri"] = 12345  # not a URI: the status cannot be keyed
OLD = _status(P_STATUS, "112300000000000001", "2024-04-20T09:00:00.000Z", replies_count=0)
FAVOURITE = _notification("favourite", "34975899", "2024-05-01T10:12:09.850Z", P_STATUS)
REBLOG = _notification("reblog", "34975900", "2024-05-01T10:13:00.000Z", P_STATUS)
FOLLOW = _notification("follow", "34975901", "2024-05-01T10:14:00.000Z", P_STATUS)
P_CONTEXT = {"ancestors": [], "descendants": [C_STATUS, R_STATUS]}
R_CONTEXT = {"ancestors": [P_STATUS, C_STATUS], "descendants": []}


def _mastodon(platform: FakePlatform, account_id: str, local_id: str, clock: FakeClock) -> MastodonPoller:
    return MastodonPoller(
        _context(account_id), Urllib3Client(timeout_seconds=5), credentials=SecretStr("masto-test-token"),
        local_account_id=local_id, instance_url=platform.url(), clock=clock, backoff=_backoff(),
    )  # fmt: skip


def _poller_expected() -> tuple[Counter[str], set[tuple[str, str]]]:
    """What the pure parsers give for the answers of the backfill below (statuses, contexts, notifications)."""
    ctx, items = _context(AGENCY), []
    items += parse_context(P_CONTEXT, P_STATUS, ctx, source=POLL)
    items += parse_context(R_CONTEXT, R_STATUS, ctx, source=POLL)
    for index, status in ((0, P2), (1, BROKEN)):
        items += parse_status(status, ctx, source=POLL, where=f"statuses item {index}")
    for index, notification in [*enumerate((FOLLOW, REBLOG, FAVOURITE)), (0, MENTION)]:
        items += parse_notification(notification, ctx, source=POLL, where=f"notifications item {index}")
    return _split(items)


@dataclass(frozen=True)
class Backfill:
    """One poller run over the documented answers: events published, requests (path, max_id or min_id), waits."""

    published: int
    requests: list[tuple[str, str | None]]
    sleeps: list[float]


@pytest.fixture(scope="module")
def mastodon_backfill(live: LiveStack) -> Backfill:
    """The documented account polled through a 429, a broken page, two pages of each feed and two contexts."""
    clock = FakeClock()
    limited = {**ERRORS["rate_limited_429"]["headers"], "X-RateLimit-Reset": "2026-01-01T00:15:00.000000Z"}
    with FakePlatform() as platform:
        platform.script(
            STATUSES,
            Answer(429, ERRORS["rate_limited_429"]["body"], limited),
            Answer(200, [R_STATUS, P_STATUS], _link(STATUSES, next_max=P_STATUS["id"], prev_min=R_STATUS["id"])),
            Answer(200, [P2, BROKEN, OLD], _link(STATUSES, next_max=OLD["id"], prev_min=P2["id"])),
            Answer(200, [], {}),
        )
        platform.script(
            NOTIFICATIONS,
            Answer(200, b"<html><body>502 Bad Gateway</body></html>"),  # a proxy's page: retried
            Answer(200, [FOLLOW, REBLOG, FAVOURITE], _link(NOTIFICATIONS, FAVOURITE["id"], FOLLOW["id"])),
            Answer(200, [MENTION], _link(NOTIFICATIONS, MENTION["id"], MENTION["id"])),
            Answer(200, [], {}),
        )
        platform.script(f"/api/v1/statuses/{P_STATUS['id']}/context", Answer(200, P_CONTEXT))
        platform.script(f"/api/v1/statuses/{R_STATUS['id']}/context", Answer(200, R_CONTEXT))
        poller = _mastodon(platform, AGENCY, LOCAL_ID, clock)
        published = poll_into(live, DIRECTORY, poller, account=f"mastodon:{AGENCY}", clock=clock)
        seen = [(r.path, r.query.get("max_id") or r.query.get("min_id")) for r in platform.requests]
        assert all(r.headers["authorization"] == "Bearer masto-test-token" for r in platform.requests)
    live.drain()
    return Backfill(published, seen, clock.sleeps)


def test_mastodon_poller_backfill_through_a_429_and_a_broken_page_stores_each_event_once(
    live: LiveStack, mastodon_backfill: Backfill
) -> None:
    published, seen, sleeps = mastodon_backfill.published, mastodon_backfill.requests, mastodon_backfill.sleeps
    expected, rejected = _poller_expected()
    contexts = [f"/api/v1/statuses/{s['id']}/context" for s in (P_STATUS, R_STATUS)]
    # walked back through rel="next" (contexts first once queued), then followed with min_id
    assert seen == [
        (STATUSES, None), (STATUSES, None), (contexts[0], None), (contexts[1], None), (NOTIFICATIONS, None),
        (NOTIFICATIONS, None), (STATUSES, P_STATUS["id"]), (NOTIFICATIONS, FAVOURITE["id"]),
        (STATUSES, R_STATUS["id"]), (NOTIFICATIONS, MENTION["id"]),
    ]  # fmt: skip
    assert 900.0 in sleeps  # the 429 waited until X-RateLimit-Reset, on the fake clock
    assert published == expected.total()
    _assert_exactly_once(live, POLL, AGENCY, expected, republished=REPUBLISHED)
    assert _dead_letters(live, POLL) == rejected
    assert len(rejected) == 1


@pytest.mark.usefixtures("mastodon_backfill")
def test_mastodon_poller_rows_hold_roles_roots_pseudonyms_and_the_response_fact(live: LiveStack) -> None:
    post = one_row(live, POSTS, f"mastodon:{P_KEY}")
    assert (post["post_id"], post["agency_id"], post["account_id"]) == (P_KEY, "jkn", AGENCY)
    comment = one_row(live, INTERACTIONS, f"mastodon:{C_KEY}")
    assert (comment["kind"], comment["author_role"], comment["parent_id"], comment["root_id"]) == (
        "comment", "citizen", P_KEY, P_KEY,
    )  # fmt: skip
    assert comment["author_id"] == M_PSEUDONYM(CITIZEN)
    reply = one_row(live, INTERACTIONS, f"mastodon:{R_KEY}")
    assert (reply["kind"], reply["author_role"], reply["author_id"], reply["parent_id"], reply["root_id"]) == (
        "reply", "agency", AGENCY, C_KEY, P_KEY,
    )  # fmt: skip
    favourite = one_row(live, REACTIONS, f"mastodon:{P_KEY}:favourite:{M_PSEUDONYM(CITIZEN)}")
    assert (favourite["target_id"], favourite["reaction_type"], favourite["author_id"]) == (
        P_KEY, "favourite", M_PSEUDONYM(CITIZEN),
    )  # fmt: skip
    asked, answered = parse_time(C_STATUS["created_at"]), parse_time(R_STATUS["created_at"])
    assert asked is not None
    assert answered is not None
    fact = one_fact(live, C_KEY)
    assert (fact["reply_id"], fact["response_seconds"]) == (R_KEY, (answered - asked).total_seconds())


def test_mastodon_poller_refused_token_stops_the_account_and_stores_nothing(live: LiveStack) -> None:
    error = ERRORS["unauthorized_401"]
    with FakePlatform() as platform:
        platform.script(f"/api/v1/accounts/{REVOKED_LOCAL_ID}/statuses", Answer(error["status"], error["body"]))
        poller = _mastodon(platform, M_REVOKED, REVOKED_LOCAL_ID, FakeClock())
        with pytest.raises(AccountError) as refused:
            poll_into(live, DIRECTORY, poller, account=f"mastodon:{M_REVOKED}", clock=FakeClock())
        assert len(platform.requests) == 1
    live.drain()
    assert refused.value.account == M_REVOKED
    assert "The access token is invalid" in refused.value.reason
    _assert_nothing_of(live, POLL, M_REVOKED)


class _Timeline:
    """A synthetic account's statuses, newest first, 3 a page through ``Link`` ids; one ``max_id`` can be refused."""

    def __init__(self) -> None:
        self.refuse: str | None = None
        self.path = f"/api/v1/accounts/{RESUME_LOCAL_ID}/statuses"
        account = {**P_STATUS["account"], "id": RESUME_LOCAL_ID, "username": "jpjresume", "acct": "jpjresume"}
        account |= {"uri": M_RESUME, "url": f"{HOST}/@jpjresume"}
        self.statuses = [
            _status({**P_STATUS, "account": account}, f"1123500000000000{n:02d}", f"2024-05-01T{n:02d}:00:00.000Z",
                    replies_count=0, content=f"<p>Notis {n}</p>")
            for n in range(10, 3, -1)
        ] + [_status({**P_STATUS, "account": account}, "112340000000000001", "2024-04-30T23:00:00.000Z")]  # fmt: skip

    def answer(self, query: dict[str, str]) -> Answer:
        if "min_id" in query:
            return Answer(200, [], {})
        if query.get("max_id") == self.refuse:
            return Answer(401, ERRORS["unauthorized_401"]["body"])
        ids = [s["id"] for s in self.statuses]
        start = ids.index(query["max_id"]) + 1 if "max_id" in query else 0
        page = self.statuses[start : start + 3]
        return Answer(200, page, _link(self.path, next_max=page[-1]["id"], prev_min=page[0]["id"]))


def test_mastodon_poller_resumes_from_the_stored_cursor_without_refetching(live: LiveStack) -> None:
    timeline, clock, account = _Timeline(), FakeClock(), f"mastodon:{M_RESUME}"
    ctx = _context(M_RESUME)
    posts = [set(_split(parse_status(s, ctx, source=POLL, where="s"))[0]) for s in timeline.statuses[:-1]]
    with FakePlatform() as platform:
        platform.respond(timeline.path, timeline.answer)
        platform.script(NOTIFICATIONS, Answer(200, [], {}))
        timeline.refuse = timeline.statuses[2]["id"]  # the token is revoked before the second page
        with pytest.raises(AccountError):
            poll_into(live, DIRECTORY, _mastodon(platform, M_RESUME, RESUME_LOCAL_ID, clock), account=account,
                      clock=clock)  # fmt: skip
        live.drain()
        assert _stored_ids(live, POLL, M_RESUME) == dict.fromkeys(set().union(*posts[:3]), 1)
        state = resume_state(live, POLL, account)
        assert state["statuses"] == {"newest": timeline.statuses[0]["id"], "older": timeline.refuse,
                                     "backfilling": True}  # fmt: skip
        timeline.refuse, before = None, len(platform.requests)
        second = _mastodon(platform, M_RESUME, RESUME_LOCAL_ID, clock)  # a new process: only the stored cursor
        second.resume(state)
        poll_into(live, DIRECTORY, second, account=account, clock=clock)
        pages = [r.query.get("max_id") for r in platform.requests[before:] if r.path == timeline.path]
    live.drain()
    assert pages == [timeline.statuses[2]["id"], timeline.statuses[5]["id"]]  # the first page was not read again
    _assert_exactly_once(live, POLL, M_RESUME, Counter(set().union(*posts)))
    assert len(posts) == 7  # the status before since was left out


# --- Mastodon stream ----------------------------------------------------------------------------------------------

_DOCUMENTED_IDS = ("112345678901234567", "112345692345678901", "112345692300000000", "112345720000000111")


class _Thread:
    """The documented post P, comment C and reply R renumbered (``base``: 4 digits), a favourite of P, and three
    later citizen comments: statuses of their own for one stream test (event ids are the statuses' keys).
    """

    def __init__(self, base: str) -> None:
        self.base = base
        numbers = dict(zip(_DOCUMENTED_IDS, (self.id(1), self.id(2), self.id(12), self.id(3)), strict=True))
        self.post, self.comment, self.reply = (self._renumber(s, numbers) for s in (P_STATUS, C_STATUS, R_STATUS))
        self.favourite = _notification("favourite", f"{base}01", "2024-05-01T10:12:09.850Z", self.post)
        self.late, self.later, self.last = (self._late(n, f"2024-05-01T10:{n + 10}:00.000Z") for n in (4, 5, 6))
        self.after = (self.later, self.last)  # sent while stopped (caught up at the restart), then streamed

    def id(self, n: int) -> str:
        return f"{self.base}{n:014d}"

    @staticmethod
    def key(status: dict[str, Any]) -> str:
        """A status' key: its URI, a citizen's actor replaced by its pseudonym (the event id is ``mastodon:<key>``)."""
        return str(status["uri"]).replace(CITIZEN, M_PSEUDONYM(CITIZEN))

    def event_ids(self, *statuses: dict[str, Any]) -> Counter[str]:
        """The event ids of ``statuses``, once each."""
        return Counter(f"mastodon:{self.key(status)}" for status in statuses)

    @property
    def favourite_id(self) -> str:
        """The event id of the favourite of P."""
        return f"mastodon:{self.key(self.post)}:favourite:{M_PSEUDONYM(CITIZEN)}"

    @staticmethod
    def _renumber(status: dict[str, Any], numbers: dict[str, str]) -> dict[str, Any]:
        text = orjson.dumps(status).decode()
        for old, new in numbers.items():
            text = text.replace(old, new)
        renumbered: dict[str, Any] = orjson.loads(text)
        return renumbered

    def _late(self, n: int, created_at: str) -> dict[str, Any]:
        late = _status(self.comment, self.id(n), created_at)
        late["uri"] = f"{CITIZEN}/statuses/{self.id(n + 10)}"
        return late


def _event(transport: str, name: str, payload: dict[str, Any]) -> bytes:
    """One streamed event as the transport carries it (a websocket frame's payload is a JSON string)."""
    data = orjson.dumps(payload).decode()
    if transport == "sse":
        return f"event: {name}\ndata: {data}\n\n".encode()
    return orjson.dumps({"stream": ["user"], "event": name, "payload": data})


def _masto_stream(platform: FakePlatform, transport: Literal["sse", "websocket"], clock: FakeClock) -> MastodonStream:
    return MastodonStream(
        _context(AGENCY), Urllib3Client(timeout_seconds=5), credentials=SecretStr("masto-test-token"),
        instance_url=platform.url(), transport=transport, clock=clock, backoff=_backoff(),
    )  # fmt: skip


def _stream_path(platform: FakePlatform, transport: str, *connections: Sequence[bytes | None]) -> str:
    """Serve ``connections`` on the transport's path; return the path."""
    if transport == "sse":
        platform.stream("/api/v1/streaming/user", *connections)
        return "/api/v1/streaming/user"
    platform.websocket("/api/v1/streaming", *connections)
    return "/api/v1/streaming"


def _until_status(stream: MastodonStream, platform: FakePlatform, release: str, last: str) -> Callable[[], bool]:
    """Stop once the stream's cursor reached ``last``; open the server's gate once it reached ``release``."""

    def until() -> bool:
        status = stream.snapshot()["status_id"]
        if status is not None and status >= release:  # ids of one length: text order is id order
            platform.release()
        return bool(status == last)

    return until


@pytest.mark.parametrize(("transport", "base"), [("sse", "1124"), ("websocket", "1125")])
def test_mastodon_stream_drop_catch_up_and_restart_lose_nothing_and_repeat_nothing(
    live: LiveStack, transport: Literal["sse", "websocket"], base: str
) -> None:
    thread, clock, account = _Thread(base), FakeClock(), f"mastodon:{AGENCY}"
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-01-01T00:10:00.000000Z"}
    heartbeat: list[bytes | None] = [b":thump\n"] if transport == "sse" else []
    with FakePlatform() as platform:
        platform.script(HOME_PATH, Answer(200, [thread.post]), Answer(200, [thread.reply]), Answer(200, []))
        platform.script(NOTIFICATIONS, Answer(200, []), Answer(429, {"error": "Too many requests"}, reset),
                        Answer(200, [thread.favourite]), Answer(200, []))  # fmt: skip
        path = _stream_path(
            platform, transport,
            [*heartbeat, _event(transport, "update", thread.comment), None, DROP],  # dropped after C
            heartbeat,  # its catch-up is rate-limited: the connection is given up
            # R and the favourite again (the catch-up gave them), then something new
            [_event(transport, "update", thread.reply), _event(transport, "notification", thread.favourite),
             *heartbeat, _event(transport, "update", thread.late)],
        )  # fmt: skip
        stream = _masto_stream(platform, transport, clock)
        until = _until_status(stream, platform, thread.comment["id"], thread.late["id"])
        stream_into(live, DIRECTORY, stream, account=account, until=until, clock=clock)
        home = [r.query.get("min_id") or r.query.get("limit") for r in platform.seen(HOME_PATH)]
        connections = len(platform.seen(path))
    live.drain()
    assert home == ["1", thread.comment["id"], thread.reply["id"]]  # the anchor, then the gaps after the cursor
    assert connections == 3
    assert 600.0 in clock.sleeps  # the catch-up's 429 waited until X-RateLimit-Reset, on the fake clock
    first = thread.event_ids(thread.comment, thread.reply, thread.late) + Counter([thread.favourite_id])
    _assert_exactly_once(live, STREAM, AGENCY, first, containing=thread.base)
    reply = one_row(live, INTERACTIONS, f"mastodon:{thread.key(thread.reply)}")
    assert (reply["parent_id"], reply["root_id"]) == (thread.key(thread.comment), thread.key(thread.post))

    state = resume_state(live, STREAM, account)
    assert state == {"version": 1, "status_id": thread.late["id"], "notification_id": thread.favourite["id"]}
    with FakePlatform() as platform:  # a restart: a new process with only the stored cursor
        platform.script(HOME_PATH, Answer(200, [thread.later]), Answer(200, []))  # sent while it was down
        platform.script(NOTIFICATIONS, Answer(200, []))
        later, last = (_event(transport, "update", status) for status in thread.after)
        _stream_path(platform, transport, [later, last])  # the stream repeats what the catch-up gave
        second = _masto_stream(platform, transport, clock)
        second.resume(state)
        until = _until_status(second, platform, thread.last["id"], thread.last["id"])
        stream_into(live, DIRECTORY, second, account=account, until=until, clock=clock)
        catch_up = [r.query["min_id"] for r in platform.requests if r.path in {HOME_PATH, NOTIFICATIONS}]
    live.drain()
    assert catch_up == [thread.late["id"], thread.favourite["id"]]
    _assert_exactly_once(live, STREAM, AGENCY, first + thread.event_ids(*thread.after), containing=thread.base)


def test_mastodon_stream_refused_token_is_an_account_error_and_stores_nothing(live: LiveStack) -> None:
    with FakePlatform() as platform:
        platform.script("/api/v1/streaming/user", Answer(401, ERRORS["unauthorized_401"]["body"]))
        stream = MastodonStream(
            _context(M_REVOKED), Urllib3Client(timeout_seconds=5), credentials=SecretStr("revoked"),
            instance_url=platform.url(), clock=FakeClock(),
        )  # fmt: skip
        with pytest.raises(AccountError) as refused:
            stream_into(live, DIRECTORY, stream, account=f"mastodon:{M_REVOKED}", until=lambda: True)
        assert [r.path for r in platform.requests] == ["/api/v1/streaming/user"]
    live.drain()
    assert "The access token is invalid" in refused.value.reason
    _assert_nothing_of(live, STREAM, M_REVOKED)


# --- Bluesky Jetstream --------------------------------------------------------------------------------------------


class _HookedClock(FakeClock):
    """A fake clock that runs ``hook`` on its first wait: the platform changes while the connector waits."""

    def __init__(self, hook: Callable[[], None]) -> None:
        super().__init__()
        self._hook: Callable[[], None] | None = hook

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        super().sleep(seconds, stop)


def _jetstream(platform: FakePlatform) -> BlueskyJetstream:
    return BlueskyJetstream(
        DIRECTORY, B_PSEUDONYM, since=B_SINCE, base_url=platform.ws_url("/subscribe"), clock=FakeClock(),
        max_frames=3, max_wait_seconds=0.2,
    )  # fmt: skip


def _until_time(stream: BlueskyJetstream, platform: FakePlatform, release: int, last: int) -> Callable[[], bool]:
    """Stop once the cursor reached frame ``last``; open the server's gate once it reached frame ``release``."""

    def until() -> bool:
        time_us = stream.snapshot()["time_us"]
        if time_us >= FRAMES[release]["time_us"]:
            platform.release()
        return bool(time_us == FRAMES[last]["time_us"])

    return until


def _read(reader: JetstreamReader, lines: Sequence[str]) -> list[Parsed]:
    return [item for line in lines for item in reader.read(line).items]


def _cursor_of(frame: int) -> str:
    return str(FRAMES[frame]["time_us"] - 5_000_000)  # Jetstream is asked to replay the last 5 s


@dataclass(frozen=True)
class JetstreamRun:
    """Two runs of the Jetstream stream (one dropped and resumed, then a restart): what they asked and did."""

    cursors: list[str]
    restart: list[str]
    sleeps: list[float]
    state: Any
    first: list[str]
    replay: list[str]


@pytest.fixture(scope="module")
def jetstream(live: LiveStack) -> JetstreamRun:
    """A 429 handshake, frames 0-8 and a broken frame, a drop, frames 8-16 replayed; a restart reads 16-22."""
    first = [*LINES[:2], "not json", *LINES[2:9]]  # frames 0-8 (8: an account frame, dropped) and a broken frame
    replay = LINES[8:17]  # from the rewound cursor: frame 8 again, then 9-16 (16: a citizen's post, dropped)
    with FakePlatform() as platform:
        platform.script("/subscribe", Answer(429, {}, {"Retry-After": "7"}))
        clock = _HookedClock(lambda: platform.websocket("/subscribe", [*first, None, DROP], replay))
        stream = _jetstream(platform)
        stream_into(live, DIRECTORY, stream, account="*", until=_until_time(stream, platform, 8, 16), clock=clock)
        cursors = [r.query["cursor"] for r in platform.seen("/subscribe")]
    live.drain()
    state = resume_state(live, BSKY_SOURCE, "*")
    with FakePlatform() as platform:  # a restart: a new process with only the stored cursor
        platform.websocket("/subscribe", LINES[16:])
        second = _jetstream(platform)
        second.resume(state)
        stream_into(live, DIRECTORY, second, account="*", until=_until_time(second, platform, 22, 22))
        restart = [r.query["cursor"] for r in platform.seen("/subscribe")]
    live.drain()
    return JetstreamRun(cursors, restart, clock.sleeps, state, first, replay)


def test_bluesky_rate_limit_drop_and_restart_lose_nothing_and_repeat_nothing(
    live: LiveStack, jetstream: JetstreamRun
) -> None:
    assert jetstream.sleeps[0] == 7.0  # the handshake's Retry-After, on the fake clock
    since = str(int(B_SINCE.timestamp() * 1_000_000) - 5_000_000)
    assert jetstream.cursors == [since, since, _cursor_of(8)]  # the 429, the first connection, the reconnect
    assert jetstream.state == {"time_us": FRAMES[16]["time_us"]}
    assert jetstream.restart == [_cursor_of(16)]
    read = _read(JetstreamReader(DIRECTORY, B_PSEUDONYM), jetstream.first + jetstream.replay)
    expected, rejected = _split(read + _read(JetstreamReader(DIRECTORY, B_PSEUDONYM), LINES[16:]))
    assert expected == _split(_read(JetstreamReader(DIRECTORY, B_PSEUDONYM), LINES))[0]  # one uninterrupted read
    _assert_exactly_once(live, BSKY_SOURCE, BSKY_AGENCY, expected)
    assert _dead_letters(live, BSKY_SOURCE) == rejected
    assert [kind for kind, _ in rejected] == ["not_json"]


@pytest.mark.usefixtures("jetstream")
def test_bluesky_rows_hold_roles_roots_pseudonyms_and_the_response_fact(live: LiveStack) -> None:
    post_key = f"at://{BSKY_AGENCY}/app.bsky.feed.post/3ksz2q7lm4c2x"
    comment_key = f"at://{B_PSEUDONYM(AISYAH)}/app.bsky.feed.post/3ksz2w4kdpf2a"
    reply_key = f"at://{BSKY_AGENCY}/app.bsky.feed.post/3ksz3b6nqrs2k"
    post = one_row(live, POSTS, f"bluesky:{post_key}")
    assert (post["post_id"], post["agency_id"], post["account_id"]) == (post_key, "jkn", BSKY_AGENCY)
    comment = one_row(live, INTERACTIONS, f"bluesky:{comment_key}")
    assert (comment["kind"], comment["author_role"], comment["root_id"], comment["parent_id"]) == (
        "comment", "citizen", post_key, post_key,
    )  # fmt: skip
    assert comment["author_id"] == B_PSEUDONYM(AISYAH)
    reply = one_row(live, INTERACTIONS, f"bluesky:{reply_key}")
    assert (reply["kind"], reply["author_role"], reply["author_id"], reply["parent_id"], reply["root_id"]) == (
        "reply", "agency", BSKY_AGENCY, comment_key, post_key,
    )  # fmt: skip
    fact = one_fact(live, comment_key)
    assert fact["reply_id"] == reply_key
    assert fact["response_seconds"] == (reply["created_at"] - comment["created_at"]).total_seconds()
