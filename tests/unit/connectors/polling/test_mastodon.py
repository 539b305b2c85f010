"""The Mastodon poller against a loopback instance: Link pagination, contexts, rate limits, errors, resume, fuzz.

tests/fixtures/payloads/mastodon/rest_statuses_context_notifications.json (instance social.kesihatan.example,
agency @jknselangor, remote citizen aisyah@mastodon.example): the agency post P (10:00, 2 replies), aisyah's
comment C on it (10:03, a mention notification) and the agency's reply R to C (10:07). The tests script these
on a FakePlatform, plus an older post and favourite/reblog notifications built from them.
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.contracts import Page, Parsed, Rejected
from connectors.core.errors import AccountError, Retry
from connectors.core.http import Urllib3Client
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.mastodon import MastodonPoller
from connectors.polling.mastodon_api import instance_of, link_ids, newest_id, parse_reset
from connectors.polling.mastodon_parse import parse_context, parse_notification, parse_statuses
from connectors.webhooks.mastodon import MastodonWebhook
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform, Post, Reaction
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.paths import PAYLOADS
from tests.helpers.polling import (
    MASTODON_AGENCY,
    MASTODON_CITIZEN,
    MASTODON_HOST,
    MASTODON_TOKEN,
    account_context,
    retry_waits,
)
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

MASTODON = Platform.MASTODON
HOST, AGENCY = MASTODON_HOST, MASTODON_AGENCY
OTHER_AGENCY = f"{HOST}/users/jkmselangor"
CITIZEN = MASTODON_CITIZEN
LOCAL_ID = "109876543210987654"
TOKEN = MASTODON_TOKEN
pseudonym = partial(PSEUDO.pseudonym, MASTODON.value)
DIRECTORY = directory(
    agency("jkn", "Jabatan Kesihatan Negeri Selangor (Fictional)", "state", account(MASTODON, AGENCY, "jknselangor")),
    agency("jkm", "Jabatan Kebajikan Masyarakat Selangor (Fictional)", "state", account(MASTODON, OTHER_AGENCY)),
)
CONTEXT = account_context(DIRECTORY, "jkn", MASTODON, datetime(2024, 5, 1, tzinfo=UTC))
REST: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "rest_statuses_context_notifications.json")
ERRORS: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "rest_errors_rate_limits.json")
R_STATUS, P_STATUS = REST["account_statuses"]["response"]
MENTION = REST["notifications_mentions"]["response"][0]
C_STATUS = MENTION["status"]
STATUSES = f"/api/v1/accounts/{LOCAL_ID}/statuses"
NOTIFICATIONS = "/api/v1/notifications"
P_KEY = f"{AGENCY}/statuses/112345678901234567"
R_KEY = f"{AGENCY}/statuses/112345720000000111"
C_KEY = f"{pseudonym(CITIZEN)}/statuses/112345692300000000"


def _status(base: dict[str, Any], local_id: str, created_at: str, **changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(base)
    status.update(id=local_id, created_at=created_at, **changes)
    status["uri"] = f"{status['account']['uri']}/statuses/{local_id}"
    return status


def _notification(kind: str, local_id: str, created_at: str, status: dict[str, Any]) -> dict[str, Any]:
    notification: dict[str, Any] = copy.deepcopy(MENTION)
    notification.update(id=local_id, type=kind, created_at=created_at, status=copy.deepcopy(status))
    return notification


def _link(next_max: str | None = None, prev_min: str | None = None, path: str = STATUSES) -> dict[str, str]:
    parts = [f'<{HOST}{path}?limit=40&max_id={next_max}>; rel="next"'] if next_max else []
    parts += [f'<{HOST}{path}?limit=40&min_id={prev_min}>; rel="prev"'] if prev_min else []
    return {"Link": ", ".join(parts), "X-RateLimit-Remaining": "250", "X-RateLimit-Reset": "2026-01-01T00:05:00Z"}


P2 = _status(P_STATUS, "112345600000000001", "2024-05-01T09:00:00.000Z", replies_count=0)
OLD = _status(P_STATUS, "112300000000000001", "2024-04-20T09:00:00.000Z", replies_count=0)
FAVOURITE = _notification("favourite", "34975899", "2024-05-01T10:12:09.850Z", P_STATUS)
REBLOG = _notification("reblog", "34975900", "2024-05-01T10:13:00.000Z", P_STATUS)
FOLLOW = _notification("follow", "34975901", "2024-05-01T10:14:00.000Z", P_STATUS)
P_CONTEXT = {"ancestors": [], "descendants": [C_STATUS, R_STATUS]}
R_CONTEXT = {"ancestors": [P_STATUS, C_STATUS], "descendants": []}


def _script_backfill(platform: FakePlatform) -> None:
    """Two statuses pages (the second reaches ``since``), two notification pages, then empty follow pages."""
    platform.script(
        STATUSES,
        Answer(200, [R_STATUS, P_STATUS], _link(next_max=P_STATUS["id"], prev_min=R_STATUS["id"])),
        Answer(200, [P2, OLD], _link(next_max=OLD["id"], prev_min=P2["id"])),
        Answer(200, [], {}),
    )
    platform.script(
        NOTIFICATIONS,
        Answer(200, [FOLLOW, REBLOG, FAVOURITE], _link(next_max=FAVOURITE["id"], prev_min=FOLLOW["id"])),
        Answer(200, [MENTION], _link(next_max=MENTION["id"], prev_min=MENTION["id"])),
        Answer(200, [], {}),
    )
    platform.script(f"/api/v1/statuses/{P_STATUS['id']}/context", Answer(200, P_CONTEXT))
    platform.script(f"/api/v1/statuses/{R_STATUS['id']}/context", Answer(200, R_CONTEXT))


def _poller(platform: FakePlatform, clock: FakeClock | None = None, **options: Any) -> MastodonPoller:
    return MastodonPoller(
        CONTEXT, Urllib3Client(timeout_seconds=5), credentials=SecretStr(TOKEN), local_account_id=LOCAL_ID,
        instance_url=platform.url(), clock=clock or FakeClock(), backoff=Backoff(rng=random.Random(1)), **options,
    )  # fmt: skip


def _drain(poller: MastodonPoller, limit: int = 20) -> list[Page]:
    """Pages until one says nothing more is ready (the backfill is done and nothing is pending)."""
    pages = []
    for _ in range(limit):
        pages.append(poller.next_page())
        if not pages[-1].more:
            return pages
    msg = "the poller never caught up"
    raise AssertionError(msg)


def _events(pages: list[Page]) -> list[Any]:
    return assert_parsed(item for page in pages for item in page.items)


# --- backfill, contexts, notifications -------------------------------------------------------------------------


def test_backfill_walks_link_pages_to_since_then_follows_with_min_id() -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        poller = _poller(platform)
        pages = _drain(poller)
        statuses = platform.seen(STATUSES)
        assert [s.query.get("max_id") for s in statuses[:2]] == [None, P_STATUS["id"]]  # rel="next" walks back
        assert statuses[0].query["exclude_reblogs"] == "true"
        notifications = platform.seen(NOTIFICATIONS)  # a third page: the second still had a rel="next"
        assert [n.query.get("max_id") for n in notifications] == [None, FAVOURITE["id"], MENTION["id"]]
        assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in platform.requests)
        events = _events(pages)
        poller.next_page(), poller.next_page()  # a follow round: newer items only, from the newest ids seen
        assert platform.seen(STATUSES)[-1].query["min_id"] == R_STATUS["id"]
        assert platform.seen(NOTIFICATIONS)[-1].query["min_id"] == FOLLOW["id"]
    ids = {e.event_id for e in events}
    assert f"mastodon:{OLD['uri']}" not in ids  # older than since
    assert ids == {
        f"mastodon:{P_KEY}", f"mastodon:{R_KEY}", f"mastodon:{C_KEY}", f"mastodon:{P2['uri']}",
        f"mastodon:{P_KEY}:favourite:{pseudonym(CITIZEN)}", f"mastodon:{P_KEY}:reblog:{pseudonym(CITIZEN)}",
    }  # fmt: skip
    assert pages[-1].newest == datetime(2024, 5, 1, 10, 13, tzinfo=UTC)
    assert all(e.source == "poll:mastodon" and e.agency_id == "jkn" and e.account_id == AGENCY for e in events)


def test_contexts_give_exact_parents_and_roots() -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        events = {e.event_id: e for e in _events(_drain(_poller(platform)))}
    post, comment, reply = (events[f"mastodon:{k}"] for k in (P_KEY, C_KEY, R_KEY))
    assert isinstance(post, Post)
    assert isinstance(comment, Interaction)
    assert (comment.kind, comment.author_role, comment.author_id) == (
        InteractionKind.COMMENT,
        AuthorRole.CITIZEN,
        CITIZEN,
    )
    assert (comment.parent_id, comment.root_id) == (P_KEY, P_KEY)
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role, reply.parent_id, reply.root_id) == (
        InteractionKind.REPLY, AuthorRole.AGENCY, C_KEY, P_KEY,
    )  # fmt: skip
    favourite = events[f"mastodon:{P_KEY}:favourite:{pseudonym(CITIZEN)}"]
    assert isinstance(favourite, Reaction)
    assert (favourite.target_id, favourite.root_id, favourite.reaction_type, favourite.author_id) == (
        P_KEY, P_KEY, "favourite", CITIZEN,
    )  # fmt: skip


def test_polled_and_webhook_statuses_get_the_same_event() -> None:
    body = ERRORS["admin_webhook_status_created"]["raw_body"]
    webhook = MastodonWebhook(secret=SecretStr("s"), directory=DIRECTORY, pseudonymizer=PSEUDO)
    pushed = webhook.parse(orjson.loads(body))
    polled = parse_notification(MENTION, CONTEXT, source="poll:mastodon", where="n")
    assert [e.model_copy(update={"source": "x"}) for e in assert_parsed(pushed)] == [
        e.model_copy(update={"source": "x"}) for e in assert_parsed(polled)
    ]


def test_a_descendant_naming_no_agency_still_belongs_to_the_thread() -> None:
    nobody = _status(C_STATUS, "112345730000000001", "2024-05-01T10:20:00.000Z", mentions=[])
    nobody.update(in_reply_to_id=C_STATUS["id"], in_reply_to_account_id=C_STATUS["account"]["id"])
    items = parse_context({"ancestors": [], "descendants": [C_STATUS, nobody]}, P_STATUS, CONTEXT, source="p")
    deep = assert_parsed(items)[-1]
    assert isinstance(deep, Interaction)
    assert (deep.kind, deep.parent_id, deep.root_id, deep.agency_id) == (InteractionKind.REPLY, C_KEY, P_KEY, "jkn")


def test_a_deleted_status_context_is_skipped_and_the_rest_goes_on() -> None:
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(200, [R_STATUS, P_STATUS], {}), Answer(200, []))
        platform.script(NOTIFICATIONS, Answer(200, []))
        platform.script(f"/api/v1/statuses/{P_STATUS['id']}/context", Answer(404, ERRORS["not_found_404"]["body"]))
        platform.script(
            f"/api/v1/statuses/{R_STATUS['id']}/context", Answer(410, ERRORS["gone_410_account_suspended"]["body"])
        )
        pages = _drain(_poller(platform))
    assert _events(pages) == []
    assert len(pages) == 4  # statuses, two skipped contexts, notifications


def test_reblog_wrappers_are_skipped_and_other_notifications_too() -> None:
    boost = _status(P_STATUS, "112345740000000001", "2024-05-01T10:30:00.000Z", reblog=copy.deepcopy(C_STATUS))
    assert parse_statuses([boost], CONTEXT, source="p", where="statuses") == []
    assert parse_notification(FOLLOW, CONTEXT, source="p", where="n") == []


# --- rate limits and errors ------------------------------------------------------------------------------------


def test_a_429_waits_until_the_reset_then_the_same_page_succeeds() -> None:
    clock = FakeClock()
    limited = ERRORS["rate_limited_429"]
    reset = {**limited["headers"], "X-RateLimit-Reset": "2026-01-01T00:15:00.000000Z"}
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(429, limited["body"], reset), Answer(200, [P2], {}))
        poller = _poller(platform, clock)
        before = poller.snapshot()
        with pytest.raises(Retry) as raised:
            poller.next_page()
        assert raised.value.after_seconds == 900
        assert "Too many requests" in raised.value.reason
        assert poller.snapshot() == before
        assert poller.quota_remaining == 0
        clock.advance(900)
        page = poller.next_page()
    assert [e.event_id for e in _events([page])] == [f"mastodon:{P2['uri']}"]


def test_the_last_request_of_a_window_makes_the_next_call_wait() -> None:
    clock = FakeClock()
    with FakePlatform() as platform:
        last = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-01-01T00:05:00.000000Z"}
        platform.script(STATUSES, Answer(200, [P2], last))
        platform.script(NOTIFICATIONS, Answer(200, []))
        poller = _poller(platform, clock)
        poller.next_page()
        with pytest.raises(Retry) as raised:
            poller.next_page()
        assert raised.value.after_seconds == 300
        assert len(platform.requests) == 1  # the wait was known: no request was spent on a 429
        clock.sleep(raised.value.after_seconds)
        poller.next_page()
        assert len(platform.requests) == 2


@pytest.mark.parametrize("name", ["unauthorized_401", "forbidden_403"])
def test_a_refused_token_is_an_account_error(name: str) -> None:
    error = ERRORS[name]
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(error["status"], error["body"]))
        with pytest.raises(AccountError) as raised:
            _poller(platform).next_page()
    assert raised.value.account == AGENCY
    assert error["body"]["error"] in raised.value.reason
    assert TOKEN not in str(raised.value)


def test_an_unknown_account_is_an_account_error_but_a_5xx_backs_off() -> None:
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(503, b"<html>maintenance</html>"), Answer(404, {"error": "Record not found"}))
        poller = _poller(platform)
        with pytest.raises(Retry) as raised:
            poller.next_page()
        assert 0 <= raised.value.after_seconds <= 1
        with pytest.raises(AccountError, match="Record not found"):
            poller.next_page()


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"error": "not a list"}', b""])
def test_a_malformed_body_is_retried_with_back_off_and_the_cursor_stays(body: bytes) -> None:
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(200, body), Answer(200, body), Answer(200, [P2], {}))
        poller = _poller(platform)
        before = poller.snapshot()
        waits = retry_waits(poller, 2, match="statuses answer")
        assert poller.snapshot() == before
        assert waits[0] <= 1
        assert waits[1] <= 2
        assert len(_events([poller.next_page()])) == 1


def test_an_unreachable_instance_is_retried() -> None:
    with FakePlatform() as platform:
        url = platform.url()
    poller = MastodonPoller(
        CONTEXT, Urllib3Client(timeout_seconds=1), credentials=SecretStr(TOKEN), local_account_id=LOCAL_ID,
        instance_url=url, clock=FakeClock(),
    )  # fmt: skip
    with pytest.raises(Retry, match="mastodon"):
        poller.next_page()


def test_a_bad_item_is_rejected_and_the_rest_of_the_page_kept() -> None:
    broken = _status(P2, "112345600000000002", "2024-05-01T09:30:00.000Z")
    broken["uri"] = 12345
    late = _status(P2, "112345600000000003", "not a time")
    with FakePlatform() as platform:
        platform.script(STATUSES, Answer(200, [late, broken, P2], {}))
        page = _poller(platform).next_page()
    rejected = [i for i in page.items if isinstance(i, Rejected)]
    assert [r.reason.split(":")[1].strip() for r in rejected] == ["statuses item 1", "statuses item 0"]
    assert all(r.error_type == "invalid" and isinstance(r.raw, dict) for r in rejected)
    assert [e.event_id for e in _events([page])] == [f"mastodon:{P2['uri']}"]


# --- resume ----------------------------------------------------------------------------------------------------


def _dumps(page: Page) -> list[Any]:
    return [i.model_dump() if not isinstance(i, Rejected) else i for i in page.items]


@pytest.mark.parametrize("stop_after", [1, 2, 3, 4, 5, 6])
def test_a_resumed_poller_continues_exactly_where_the_snapshot_was(stop_after: int) -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        whole = [_dumps(page) for page in _drain(_poller(platform))]
    with FakePlatform() as platform:
        platform.script(f"/api/v1/statuses/{P_STATUS['id']}", Answer(200, P_STATUS))
        platform.script(f"/api/v1/statuses/{R_STATUS['id']}", Answer(200, R_STATUS))
        _script_backfill(platform)
        first = _poller(platform)
        before = [_dumps(first.next_page()) for _ in range(stop_after)]
        state = orjson.loads(orjson.dumps(first.snapshot()))  # JSON-able, as the runner stores it
        second = _poller(platform)  # a new process: nothing in memory but the cursor
        second.resume(state)
        after = [_dumps(page) for page in _drain(second)]
    assert [items for items in before + after if items] == [items for items in whole if items]


def test_resume_accepts_an_empty_or_foreign_state() -> None:
    with FakePlatform() as platform:
        poller = _poller(platform)
        fresh = poller.snapshot()
        poller.resume({"statuses": "nonsense", "contexts": [1, "2"], "turn": 7})
        assert poller.snapshot()["contexts"] == ["2"]
        poller.resume({})
        assert poller.snapshot() == fresh
        assert fresh["statuses"] == {"newest": None, "older": None, "backfilling": True}


def test_published_events_hold_no_citizen_id() -> None:
    with FakePlatform() as platform:
        _script_backfill(platform)
        items = [i for page in _drain(_poller(platform)) for i in page.items]
    assert_published_without(items, DIRECTORY, "poll:mastodon", AGENCY, [CITIZEN, "aisyah@mastodon.example"])


# --- pure helpers ----------------------------------------------------------------------------------------------


def test_link_header_ids_and_reset_times() -> None:
    links = link_ids(REST["notifications_mentions"]["response_headers"]["Link"])
    assert links == {
        "next": {"types[]": "mention", "limit": "1", "max_id": "34975861"},
        "prev": {"types[]": "mention", "limit": "1", "min_id": "34975861"},
    }
    assert link_ids(None) == {}
    assert link_ids("garbage") == {}
    assert parse_reset("2024-05-01T10:15:00.000000Z") == datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    assert parse_reset("1714558500") is None
    assert parse_reset("2024-05-01T10:15:00") is None
    assert newest_id(["99", "100", None, ""]) == "100"
    assert instance_of(AGENCY) == HOST


# --- hostile input ---------------------------------------------------------------------------------------------

_ids = st.sampled_from([P_STATUS["id"], C_STATUS["id"], "0", "", "x", LOCAL_ID])
_noise = json_values(_ids, st.sampled_from([AGENCY, CITIZEN, OTHER_AGENCY, "2024-05-01T10:00:00Z", "bad time"]))
_keys = ["id", "uri", "account", "in_reply_to_id", "in_reply_to_account_id", "mentions", "type", "status", "reblog"]
_statuses_pages = st.lists(st.one_of(mutated(R_STATUS, _noise, _keys), mutated(C_STATUS, _noise, _keys)), max_size=3)
_notifications = st.one_of(*(mutated(n, _noise, _keys) for n in (MENTION, FAVOURITE, REBLOG)), _noise)


def _parse_page(entries: Any) -> list[Parsed]:
    return parse_statuses(entries if isinstance(entries, list) else [entries], CONTEXT, source="p", where="s")


test_random_statuses_never_raise = fuzz_never_raises(_parse_page, st.one_of(_statuses_pages, _noise), "mastodon: ")
test_random_notifications_never_raise = fuzz_never_raises(
    partial(parse_notification, context=CONTEXT, source="p", where="n"), _notifications, "mastodon: "
)
test_random_contexts_never_raise = fuzz_never_raises(
    lambda payload: parse_context(payload, R_STATUS, CONTEXT, source="p"),
    st.one_of(mutated(P_CONTEXT, _noise, ["ancestors", "descendants"]), mutated(R_CONTEXT, _noise, _keys), _noise),
    "mastodon: ",
)


@fuzz_settings(200)
@given(header=st.one_of(st.none(), st.text(max_size=200)), reset=st.one_of(st.none(), st.text(max_size=40)))
def test_random_headers_never_raise(header: str | None, reset: str | None) -> None:
    assert isinstance(link_ids(header), dict)
    parsed = parse_reset(reset)
    assert parsed is None or parsed.utcoffset() is not None


def test_the_clock_is_never_slept_on() -> None:
    clock = FakeClock()
    with FakePlatform() as platform:
        _script_backfill(platform)
        _drain(_poller(platform, clock))
    assert clock.sleeps == []
    assert clock.now() == clock.start + timedelta(0)
