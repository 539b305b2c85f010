"""The X Account Activity webhook: CRC and signature vectors, v1.1 parsing, root tracking, hostile input.

tests/fixtures/payloads/x_twitter/account_activity_webhook.json (agency @MOHfictional = 1498765432109876543):

 delivery            exercises                                                  expected
 signed_delivery     the shared VALID signature vector (trimmed v1.1 tweet)    citizen comment on post ...0001
 agency_post         t.co link with expanded_url, "&amp;" in text               Post, decoded text, expanded link
 citizen_reply       reply to the post                                          citizen comment, root = post
 agency_reply        reply to the citizen reply                                 agency reply, parent author citizen
 mention_truncated   truncated tweet with extended_tweet.full_text              citizen mention, full text + links
 quote               quote of the agency post (quoted_status)                   citizen mention, its own root
 retweet             retweeted_status                                           skipped
 other_agency_reply  @JKMfictional (1400000000000000002) replies to the post    other_agency comment
 favorites           likes of the post and of the agency reply                  Reactions, pseudonymous event ids
 deletes             the citizen reply deleted (timestamp_ms a string)          Change remove
 mixed               post + reply + agency reply, follow and typing events     3 events (others ignored)
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected
from connectors.core.errors import InvalidInput
from connectors.core.testing import load_payload
from connectors.webhooks.threads import RootTracker
from connectors.webhooks.x import XWebhook, parse_v11_time, parse_x_activity
from schemas.events import AuthorRole, Change, ChangeOp, Event, Interaction, InteractionKind, Platform, Post, Reaction
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import (
    PSEUDO,
    account,
    agency,
    assert_parsed,
    assert_published_without,
    directory,
    fuzz_never_raises,
    fuzz_webhook_never_raises,
    json_values,
    mutated,
    one,
    parse_cleanly,
)

AGENCY_USER = "1498765432109876543"
OTHER_AGENCY_USER = "1400000000000000002"
CITIZEN = "1587654321098765432"
CITIZEN_2 = "1600000000000000007"
POST_ID = "1785600000000000001"
REPLY_ID = "1785612345678901234"
AGENCY_REPLY_ID = "1785620000000000002"
pseudonym = partial(PSEUDO.pseudonym, "x")
DIRECTORY = directory(
    agency("moh", "Kementerian Kesihatan (Fictional)", "federal", account(Platform.X, AGENCY_USER, "MOHfictional")),
    agency("jkm", "Jabatan Kebajikan Masyarakat (Fictional)", "state", account(Platform.X, OTHER_AGENCY_USER)),
)
FIXTURE: dict[str, Any] = load_payload(PAYLOADS / "x_twitter" / "account_activity_webhook.json")
DELIVERIES: dict[str, Any] = FIXTURE["deliveries"]
SECRET = SecretStr(FIXTURE["test_consumer_secret"])


def _webhook(max_known: int = 1000) -> XWebhook:
    return XWebhook(consumer_secret=SECRET, directory=DIRECTORY, pseudonymizer=PSEUDO, max_known=max_known)


def _parse(name: str, roots: dict[str, str] | None = None) -> list[Parsed]:
    return parse_x_activity(copy.deepcopy(DELIVERIES[name]), DIRECTORY, pseudonym, roots or {})


def _tweet(tweet_id: str, author: str, parent: str | None = None, parent_author: str | None = None) -> dict[str, Any]:
    return {
        "id_str": tweet_id,
        "created_at": "Wed May 01 10:30:00 +0000 2024",
        "text": f"tweet {tweet_id}",
        "in_reply_to_status_id_str": parent,
        "in_reply_to_user_id_str": parent_author,
        "user": {"id_str": author},
    }


def _delivery(*tweets: dict[str, Any], **others: Any) -> dict[str, Any]:
    return {"for_user_id": AGENCY_USER, "tweet_create_events": list(tweets), **others}


# --- handshake and signatures -------------------------------------------------------------------------------


def test_crc_answer_is_the_documented_vector() -> None:
    expected = FIXTURE["crc"]["expected_response"]
    answer = _webhook().handshake(FIXTURE["crc"]["query"])
    assert answer is not None
    assert (answer.status, answer.content_type) == (expected["status"], expected["content_type"])
    assert orjson.loads(answer.body) == expected["body"]


def test_a_get_without_crc_token_is_no_handshake() -> None:
    assert _webhook().handshake({}) is None
    assert _webhook().handshake({"hub.challenge": "1"}) is None


def test_the_documented_signed_delivery_verifies() -> None:
    signed = FIXTURE["signed_delivery"]
    assert _webhook().verify(signed["headers"], signed["raw_body"].encode())


@pytest.mark.parametrize(
    ("header", "body"),
    [
        pytest.param("keep", b' {"for_user_id":"1"}', id="other-body"),
        pytest.param("keep", b"tamper", id="tampered-body"),
        pytest.param("sha256=V1PTgXnlR9lCOY4n5Q/emxRBgB9+dYvJCec+NSDXgDA=", None, id="tampered-header"),
        pytest.param("V1PTgXnlR9lCOY4n5Q/emxRBgB9+dYvJCec+NSDXgDI=", None, id="without-prefix"),
        pytest.param("sha256=v1ptgxnlr9lcoy4n5q/emxrbgb9+dyvjcec+nsdxgdi=", None, id="base64-is-case-sensitive"),
        pytest.param("", None, id="empty-header"),
        pytest.param(None, None, id="missing-header"),
    ],
)
def test_a_tampered_or_unsigned_delivery_does_not_verify(header: str | None, body: bytes | None) -> None:
    signed = FIXTURE["signed_delivery"]
    headers = dict(signed["headers"])
    if header is None:
        del headers["x-twitter-webhooks-signature"]
    elif header != "keep":
        headers["x-twitter-webhooks-signature"] = header
    raw = signed["raw_body"].encode()
    tampered = raw.replace(b"walk-in", b"walk-on") if body == b"tamper" else body
    assert not _webhook().verify(headers, tampered or raw)


def test_another_secret_does_not_verify() -> None:
    signed = FIXTURE["signed_delivery"]
    other = XWebhook(consumer_secret=SecretStr("another"), directory=DIRECTORY, pseudonymizer=PSEUDO)
    assert not other.verify(signed["headers"], signed["raw_body"].encode())


def test_webhook_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="consumer secret is empty"):
        XWebhook(consumer_secret=SecretStr(""), directory=DIRECTORY, pseudonymizer=PSEUDO)
    with pytest.raises(ValueError, match="max_known"):
        XWebhook(consumer_secret=SECRET, directory=DIRECTORY, pseudonymizer=PSEUDO, max_known=0)
    assert (XWebhook.source, XWebhook.route, XWebhook.platforms) == ("webhook:x", "/webhooks/x", ("x",))


# --- mapping --------------------------------------------------------------------------------------------------


def test_the_signed_delivery_is_a_citizen_comment_on_the_post() -> None:
    event = one(_webhook().parse(orjson.loads(FIXTURE["signed_delivery"]["raw_body"])))
    assert isinstance(event, Interaction)
    assert event.event_id == f"x:{REPLY_ID}"
    assert (event.kind, event.author_role, event.author_id) == (InteractionKind.COMMENT, AuthorRole.CITIZEN, CITIZEN)
    assert (event.root_id, event.parent_id, event.parent_author_id) == (POST_ID, POST_ID, AGENCY_USER)
    assert (event.agency_id, event.account_id, event.source) == ("moh", AGENCY_USER, "webhook:x")
    assert event.created_at == datetime(2024, 5, 1, 10, 3, 27, tzinfo=UTC)
    assert event.text == "@MOHfictional Perlu buat temujanji dulu atau boleh walk-in?"


def test_an_agency_tweet_is_a_post_with_decoded_text_and_expanded_links() -> None:
    post = one(_parse("agency_post"))
    assert isinstance(post, Post)
    assert (post.event_id, post.post_id, post.platform) == (f"x:{POST_ID}", POST_ID, Platform.X)
    assert post.text is not None
    assert "klinik & hospital" in post.text
    assert post.links == ("https://www.moh.gov.my/vaksin-influenza",)


def test_ids_are_the_exact_strings_never_the_float_unsafe_numbers() -> None:
    delivery = copy.deepcopy(DELIVERIES["agency_post"])
    tweet = delivery["tweet_create_events"][0]
    assert tweet["id"] > 2**53
    assert float(tweet["id"]) != tweet["id"]  # the number a JSON double cannot hold
    tweet["id"] = 1  # whatever the number says, the id is id_str
    post = one(parse_x_activity(delivery, DIRECTORY, pseudonym))
    assert isinstance(post, Post)
    assert post.post_id == POST_ID


def test_an_agency_reply_answers_its_parent_in_the_known_conversation() -> None:
    reply = one(_parse("agency_reply", {REPLY_ID: POST_ID}))
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role) == (InteractionKind.REPLY, AuthorRole.AGENCY)
    assert (reply.root_id, reply.parent_id, reply.parent_author_id) == (POST_ID, REPLY_ID, CITIZEN)


def test_a_truncated_mention_is_read_in_full() -> None:
    mention = one(_parse("mention_truncated"))
    assert isinstance(mention, Interaction)
    assert (mention.kind, mention.author_role, mention.author_id) == (
        InteractionKind.MENTION,
        AuthorRole.CITIZEN,
        CITIZEN_2,
    )
    assert (mention.root_id, mention.parent_id) == (mention.message_id, None)
    assert mention.text is not None
    assert mention.text.endswith("Aduan penuh: https://t.co/Zz9Yy8Xx7W")
    assert "klinik & masih" in mention.text
    assert "diterima <3" in mention.text
    assert mention.links == ("https://aduan.example.my/tiket/8812",)


def test_a_quote_tweet_is_a_mention_and_a_retweet_is_skipped() -> None:
    quote = one(_parse("quote"))
    assert isinstance(quote, Interaction)
    assert (quote.kind, quote.root_id, quote.parent_id) == (InteractionKind.MENTION, quote.message_id, None)
    assert _parse("retweet") == []


def test_another_agency_replying_is_an_other_agency_comment() -> None:
    comment = one(_parse("other_agency_reply"))
    assert isinstance(comment, Interaction)
    assert (comment.kind, comment.author_role, comment.author_id) == (
        InteractionKind.COMMENT,
        AuthorRole.OTHER_AGENCY,
        OTHER_AGENCY_USER,
    )
    assert comment.agency_id == "moh"


def test_favorites_are_likes_whose_event_ids_name_a_pseudonym() -> None:
    items = _parse("favorites", {AGENCY_REPLY_ID: POST_ID})
    assert len(items) == 2
    on_post, on_reply = items
    assert isinstance(on_post, Reaction)
    assert isinstance(on_reply, Reaction)
    assert on_post.event_id == f"x:{POST_ID}:like:{pseudonym(CITIZEN)}"
    assert CITIZEN not in on_post.event_id
    assert (on_post.target_id, on_post.root_id, on_post.reaction_type) == (POST_ID, POST_ID, "like")
    assert on_post.author_id == CITIZEN  # raw here: the publisher pseudonymises it
    assert on_post.created_at == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    assert (on_reply.target_id, on_reply.root_id) == (AGENCY_REPLY_ID, POST_ID)


def test_a_like_of_an_unknown_reply_follows_the_reply_rule() -> None:
    reaction = one(_parse("favorites")[1:])
    assert isinstance(reaction, Reaction)
    assert reaction.root_id == REPLY_ID  # the liked tweet answers REPLY_ID, not known: its parent is the guess


def test_a_delete_is_a_removal_in_its_conversation() -> None:
    removal = one(_parse("deletes", {REPLY_ID: POST_ID}))
    assert isinstance(removal, Change)
    assert removal.event_id == f"x:{REPLY_ID}:remove"
    assert (removal.op, removal.target_id, removal.root_id) == (ChangeOp.REMOVE, REPLY_ID, POST_ID)
    assert (removal.author_id, removal.author_role) == (CITIZEN, AuthorRole.CITIZEN)
    assert removal.created_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    unknown = one(_parse("deletes"))
    assert isinstance(unknown, Change)
    assert unknown.root_id == REPLY_ID


def test_other_keys_are_ignored_and_replies_find_roots_earlier_in_the_delivery() -> None:
    items = _parse("mixed")
    assert [type(item) for item in items] == [Post, Interaction, Interaction]
    _, comment, reply = items
    assert isinstance(comment, Interaction)
    assert isinstance(reply, Interaction)
    assert comment.kind is InteractionKind.COMMENT
    assert (reply.kind, reply.root_id, reply.parent_id) == (InteractionKind.REPLY, POST_ID, REPLY_ID)


def test_a_citizen_reply_below_the_root_is_a_reply() -> None:
    deeper = _tweet("1785690000000000009", CITIZEN_2, AGENCY_REPLY_ID, AGENCY_USER)
    event = one(parse_x_activity(_delivery(deeper), DIRECTORY, pseudonym, {AGENCY_REPLY_ID: POST_ID}))
    assert isinstance(event, Interaction)
    assert (event.kind, event.root_id, event.parent_id) == (InteractionKind.REPLY, POST_ID, AGENCY_REPLY_ID)


# --- rejections -----------------------------------------------------------------------------------------------


def test_a_delivery_for_an_account_outside_the_directory_is_rejected_once() -> None:
    delivery = copy.deepcopy(DELIVERIES["mixed"])
    delivery["for_user_id"] = "999"
    (rejected,) = parse_x_activity(delivery, DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert rejected.error_type == "unknown_account"
    assert "999" in rejected.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param([1], "not a JSON object", id="list"),
        pytest.param({"tweet_create_events": []}, "for_user_id", id="no-account"),
        pytest.param({"for_user_id": int(AGENCY_USER)}, "for_user_id", id="numeric-account"),
        pytest.param({"for_user_id": AGENCY_USER, "tweet_create_events": {}}, "not a list", id="events-not-a-list"),
    ],
)
def test_a_delivery_of_the_wrong_shape_is_one_rejection(payload: Any, reason: str) -> None:
    (rejected,) = parse_x_activity(payload, DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert reason in rejected.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"id_str": None, "id": 1785612345678901234}, "id_str", id="only-numeric-id"),
        pytest.param({"id_str": "17856e3"}, "id_str", id="not-decimal"),
        pytest.param({"user": {"id": 1}}, "user.id_str", id="no-user-id"),
        pytest.param({"created_at": "2024-05-01T10:03:27.000Z"}, "v1.1 time", id="iso-time"),
        pytest.param({"created_at": "Wed May 32 10:03:27 +0000 2024"}, "not a valid time", id="day-32"),
        pytest.param({"created_at": "Wed Foo 01 10:03:27 +0000 2024"}, "v1.1 time", id="no-month"),
        pytest.param({"created_at": "Wed May 01 10:03:27 +2400 2024"}, "not a valid time", id="offset-a-day"),
        pytest.param({"created_at": "Wed May 01 10:03:27 +0000 1999"}, "created_at", id="before-2006"),
        pytest.param({"created_at": 1714557807}, "v1.1 time", id="number-time"),
        pytest.param({"text": "x" * 70_000}, "text", id="text-too-long"),
        pytest.param({"in_reply_to_status_id_str": 1785600000000000001}, "in_reply_to_status_id_str", id="int-parent"),
    ],
)
def test_a_bad_tweet_is_rejected_with_where_and_why(change: dict[str, Any], reason: str) -> None:
    tweet = {**_tweet(REPLY_ID, CITIZEN, POST_ID, AGENCY_USER), **change}
    good = _tweet("1785612345678901299", CITIZEN)
    rejected, kept = parse_x_activity(_delivery(tweet, good), DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("x: tweet_create_events[0]: ")
    assert reason in rejected.reason
    assert rejected.raw == tweet
    assert isinstance(kept, Interaction)  # one bad tweet does not lose the rest of the delivery


def test_v11_times_are_read_without_the_locale_and_kept_in_utc() -> None:
    assert parse_v11_time("Wed May 01 18:03:27 +0800 2024") == datetime(2024, 5, 1, 10, 3, 27, tzinfo=UTC)
    assert parse_v11_time("Tue Dec 31 23:59:59 -0130 2024") == datetime(2025, 1, 1, 1, 29, 59, tzinfo=UTC)
    for bad in ("wed May 01 10:03:27 +0000 2024", "Wed May  1 10:03:27 +0000 2024", " Wed May 01 10:03:27 +0000 2024"):
        with pytest.raises(InvalidInput, match=r"v1\.1 time"):
            parse_v11_time(bad)


def test_timestamp_ms_stands_in_for_a_missing_created_at() -> None:
    tweet = _tweet(REPLY_ID, CITIZEN)
    del tweet["created_at"]
    event = one(parse_x_activity(_delivery({**tweet, "timestamp_ms": "1714557807123"}), DIRECTORY, pseudonym))
    assert event.created_at == datetime(2024, 5, 1, 10, 3, 27, 123000, tzinfo=UTC)
    for bad in (True, "1.5e12", "99999999999999999999", None):
        (rejected,) = parse_x_activity(_delivery({**tweet, "timestamp_ms": bad}), DIRECTORY, pseudonym)
        assert isinstance(rejected, Rejected)
        assert "timestamp_ms" in rejected.reason


# --- roots: known, guessed, corrected -------------------------------------------------------------------------


def test_a_late_parent_re_emits_its_children_in_the_right_conversation() -> None:
    webhook = _webhook()
    early = one(webhook.parse(copy.deepcopy(DELIVERIES["agency_reply"])))
    assert isinstance(early, Interaction)
    assert early.root_id == REPLY_ID  # the parent is unknown: it is the guess
    items = webhook.parse(copy.deepcopy(DELIVERIES["citizen_reply"]))
    assert len(items) == 2
    comment, again = items
    assert isinstance(comment, Interaction)
    assert isinstance(again, Interaction)
    assert (comment.message_id, comment.root_id) == (REPLY_ID, POST_ID)
    assert again == early.model_copy(update={"root_id": POST_ID})  # same event id, same everything but the root
    later = one(webhook.parse(_delivery(_tweet("1785699000000000001", CITIZEN, AGENCY_REPLY_ID, AGENCY_USER))))
    assert isinstance(later, Interaction)
    assert (later.root_id, later.kind) == (POST_ID, InteractionKind.REPLY)


def test_a_chain_arriving_backwards_ends_in_one_conversation() -> None:
    a, b, c, d = (f"17857000000000000{n}" for n in range(10, 14))
    tweets = {
        a: _tweet(a, AGENCY_USER),
        b: _tweet(b, CITIZEN, a, AGENCY_USER),
        c: _tweet(c, AGENCY_USER, b, CITIZEN),
        d: _tweet(d, CITIZEN_2, c, AGENCY_USER),
    }
    webhook = _webhook()
    latest: dict[str, Event] = {}
    for tweet_id in (d, c, b, a):
        items = webhook.parse(_delivery(tweets[tweet_id]))
        assert_parsed(items, "x: ")
        latest.update({item.event_id: item for item in items if not isinstance(item, Rejected)})
    interactions = [event for event in latest.values() if isinstance(event, Interaction)]
    assert {event.message_id: event.root_id for event in interactions} == {b: a, c: a, d: a}
    kinds = {event.message_id: event.kind for event in interactions}
    assert kinds == {b: InteractionKind.COMMENT, c: InteractionKind.REPLY, d: InteractionKind.REPLY}


def test_a_citizen_comment_becomes_a_reply_when_its_parent_turns_out_not_to_be_the_root() -> None:
    webhook = _webhook()
    first = one(webhook.parse(_delivery(_tweet("1785699000000000002", CITIZEN_2, REPLY_ID, CITIZEN))))
    assert isinstance(first, Interaction)
    assert first.kind is InteractionKind.COMMENT  # its parent is the guessed root
    _, again = webhook.parse(copy.deepcopy(DELIVERIES["citizen_reply"]))
    assert isinstance(again, Interaction)
    assert (again.event_id, again.kind, again.root_id) == (first.event_id, InteractionKind.REPLY, POST_ID)


def test_a_root_arriving_late_re_emits_nothing_and_redelivery_is_idempotent() -> None:
    webhook = _webhook()
    assert len(webhook.parse(copy.deepcopy(DELIVERIES["citizen_reply"]))) == 1
    assert len(webhook.parse(copy.deepcopy(DELIVERIES["agency_post"]))) == 1
    again = webhook.parse(copy.deepcopy(DELIVERIES["mixed"]))
    assert [item.event_id for item in again if not isinstance(item, Rejected)] == [
        f"x:{POST_ID}",
        f"x:{REPLY_ID}",
        f"x:{AGENCY_REPLY_ID}",
    ]


def test_likes_and_removals_held_on_a_guess_are_re_emitted_too() -> None:
    webhook = _webhook()
    like, removal = webhook.parse(
        {
            "for_user_id": AGENCY_USER,
            "favorite_events": DELIVERIES["favorites"]["favorite_events"][1:],
            "tweet_delete_events": DELIVERIES["deletes"]["tweet_delete_events"],
        }
    )
    assert isinstance(like, Reaction)
    assert isinstance(removal, Change)
    assert like.root_id == removal.root_id == REPLY_ID
    items = webhook.parse(copy.deepcopy(DELIVERIES["citizen_reply"]))
    assert [(type(item), getattr(item, "root_id", None)) for item in items] == [
        (Interaction, POST_ID),
        (Reaction, POST_ID),
        (Change, POST_ID),
    ]


def test_the_tracker_is_bounded() -> None:
    tracker = RootTracker(max_known=3)
    for n in range(10):
        items = parse_x_activity(
            _delivery(_tweet(f"18{n:017d}", CITIZEN, f"19{n:017d}", AGENCY_USER)), DIRECTORY, pseudonym, tracker.roots
        )
        tracker.track(items)
    assert len(tracker.roots) == 3
    assert tracker.held == 3
    with pytest.raises(ValueError, match="max_known"):
        RootTracker(max_known=0)


def test_an_evicted_child_is_not_re_emitted() -> None:
    webhook = _webhook(max_known=1)
    webhook.parse(copy.deepcopy(DELIVERIES["agency_reply"]))
    webhook.parse(_delivery(_tweet("1785699000000000003", CITIZEN_2, "1785699000000000004", CITIZEN)))
    assert len(webhook.parse(copy.deepcopy(DELIVERIES["citizen_reply"]))) == 1


def test_every_fixture_delivery_published_keeps_no_raw_citizen_id() -> None:
    items = parse_cleanly(_webhook(), DELIVERIES.values(), "x: ")
    assert len(items) == 12
    hidden = (CITIZEN, CITIZEN_2, "aisyah_r_92", "hafiz_kl")
    assert_published_without(items, DIRECTORY, XWebhook.source, kept=AGENCY_USER, hidden=hidden)


# --- hostile input --------------------------------------------------------------------------------------------

_times = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%a %b %d %H:%M:%S +0000 ") + f"{d.year:04d}")
_json = json_values(
    st.sampled_from([2**53 + 1, 2**64, -(2**63), 10**30]),
    st.sampled_from([AGENCY_USER, OTHER_AGENCY_USER, CITIZEN, POST_ID, REPLY_ID, ""]),
    _times,
)
_KEYS = ["for_user_id", "tweet_create_events", "favorite_events", "tweet_delete_events", "id_str", "user"]
_fixtures = st.sampled_from(sorted(DELIVERIES)).map(lambda name: copy.deepcopy(DELIVERIES[name]))
_mutated_fixtures = _fixtures.flatmap(lambda delivery: mutated(delivery, _json, _KEYS))


_parse_any = partial(parse_x_activity, directory=DIRECTORY, pseudonym=pseudonym)

test_random_json_never_raises = fuzz_never_raises(_parse_any, _json, "x: ")
test_random_tweets_never_raise = fuzz_never_raises(
    _parse_any, st.builds(lambda events: {"for_user_id": AGENCY_USER, "tweet_create_events": events}, _json), "x: "
)
test_mutated_fixtures_never_raise = fuzz_never_raises(
    partial(_parse_any, roots={REPLY_ID: POST_ID}), _mutated_fixtures, "x: "
)
test_a_webhook_fed_mutated_deliveries_never_raises = fuzz_webhook_never_raises(
    partial(_webhook, max_known=4), _mutated_fixtures, "x: "
)
