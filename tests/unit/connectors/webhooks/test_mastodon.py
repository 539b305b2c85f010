"""The Mastodon admin webhook: the signature vector, status mapping, parents and roots, hostile input.

tests/fixtures/payloads/mastodon/admin_webhooks.json (instance social.kesihatan.example; agency @jknselangor,
other agency @jkmselangor, local citizens @hafiz and @nurul):

 delivery                      exercises                                              expected
 signed_delivery               the shared VALID vector; a remote citizen's reply       citizen comment on the agency
                               (in_reply_to_id local, the agency in mentions[])        post (parent URI rebuilt)
 agency_post                   link with invisible spans, a hashtag anchor            Post, link kept, hashtag not
 citizen_reply                 <br>, &amp;, reply to the post                          citizen comment, root = post
 agency_reply                  reply to the citizen reply                              agency reply
 mention_with_content_warning  spoiler_text, not a reply                               citizen mention, CW first
 direct_message                visibility direct                                       message
 agency_reply_edited           status.updated with edited_at                           Change edit
 other_agency_reply            @jkmselangor replies to the post                        other_agency comment (jkn's)
 boost / unrelated_status /    reblog set / no agency involved / account.* / report.*  skipped
 account_created / report_created
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
from connectors.core.testing import load_payload
from connectors.webhooks.mastodon import MastodonWebhook, parse_mastodon, status_key
from schemas.events import AuthorRole, Change, ChangeOp, Interaction, InteractionKind, Platform, Post
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import (
    PSEUDO,
    account,
    agency,
    assert_published_without,
    directory,
    fuzz_never_raises,
    fuzz_webhook_never_raises,
    json_values,
    lower_case_names,
    mutated,
    one,
    parse_cleanly,
)

HOST = "https://social.kesihatan.example"
AGENCY = f"{HOST}/users/jknselangor"
OTHER_AGENCY = f"{HOST}/users/jkmselangor"
HAFIZ = f"{HOST}/users/hafiz"
NURUL = f"{HOST}/users/nurul"
AGENCY_LOCAL_ID = "109876543210987654"
REMOTE_CITIZEN = "https://mastodon.example/users/aisyah"
MASTODON = Platform.MASTODON
pseudonym = partial(PSEUDO.pseudonym, MASTODON.value)
POST = f"{AGENCY}/statuses/112345678901234567"  # an agency's status keeps its URI
CITIZEN_REPLY = f"{pseudonym(HAFIZ)}/statuses/112345700000000001"  # a citizen's has the actor pseudonymised
AGENCY_REPLY = f"{AGENCY}/statuses/112345720000000111"
DIRECTORY = directory(
    agency("jkn", "Jabatan Kesihatan Negeri Selangor (Fictional)", "state", account(MASTODON, AGENCY, "jknselangor")),
    agency("jkm", "Jabatan Kebajikan Masyarakat Selangor (Fictional)", "state", account(MASTODON, OTHER_AGENCY)),
)
FIXTURE: dict[str, Any] = load_payload(PAYLOADS / "mastodon" / "admin_webhooks.json")
DELIVERIES: dict[str, Any] = FIXTURE["deliveries"]
SECRET = SecretStr(FIXTURE["test_webhook_secret"])
SIGNED_HEADERS = lower_case_names(FIXTURE["signed_delivery"]["headers"])
SIGNED_BODY: bytes = FIXTURE["signed_delivery"]["raw_body"].encode()


def _webhook(max_known: int = 1000) -> MastodonWebhook:
    return MastodonWebhook(secret=SECRET, directory=DIRECTORY, pseudonymizer=PSEUDO, max_known=max_known)


def _delivery(name: str) -> dict[str, Any]:
    delivery: dict[str, Any] = copy.deepcopy(DELIVERIES[name])
    return delivery


def _parse(name: str, roots: dict[str, str] | None = None, known: dict[str, str] | None = None) -> list[Parsed]:
    return parse_mastodon(_delivery(name), DIRECTORY, pseudonym, roots or {}, known or {})


def _reply(name: str, local_id: str, parent_local: str, parent_account: str, mentions: list[Any]) -> dict[str, Any]:
    """A local citizen's reply, built from the citizen_reply delivery."""
    delivery = _delivery("citizen_reply")
    status = delivery["object"]
    status.update(id=local_id, in_reply_to_id=parent_local, in_reply_to_account_id=parent_account, mentions=mentions)
    account = status["account"]
    account.update(id=f"1100000000000{len(name):05d}", username=name, acct=name, uri=f"{HOST}/users/{name}")
    status["uri"] = f"{HOST}/users/{name}/statuses/{local_id}"
    return delivery


# --- signatures -----------------------------------------------------------------------------------------------


def test_the_documented_signed_delivery_verifies_and_needs_no_handshake() -> None:
    webhook = _webhook()
    assert webhook.verify(SIGNED_HEADERS, SIGNED_BODY)
    upper = "sha256=" + SIGNED_HEADERS["x-hub-signature"].removeprefix("sha256=").upper()
    assert webhook.verify({"x-hub-signature": upper}, SIGNED_BODY)  # hex has no case
    assert webhook.handshake({"hub.challenge": "1"}) is None


@pytest.mark.parametrize(
    ("header", "body"),
    [
        pytest.param(None, SIGNED_BODY.replace(b"walk-in", b"walk-on"), id="tampered-body"),
        pytest.param(None, SIGNED_BODY + b" ", id="trailing-space"),
        pytest.param("sha256=47bebb485eba6499c7ed5a76a44ad4fd64c07d8bbab697d2b68ba413106dcf01", None, id="tampered"),
        pytest.param("47bebb485eba6499c7ed5a76a44ad4fd64c07d8bbab697d2b68ba413106dcf00", None, id="no-prefix"),
        pytest.param("sha1=47bebb485eba6499c7ed5a76a44ad4fd64c07d8b", None, id="sha1"),
        pytest.param("", None, id="empty"),
    ],
)
def test_a_tampered_delivery_does_not_verify(header: str | None, body: bytes | None) -> None:
    headers = dict(SIGNED_HEADERS)
    if header is not None:
        headers["x-hub-signature"] = header
    assert not _webhook().verify(headers, body or SIGNED_BODY)


def test_a_missing_header_or_another_secret_does_not_verify() -> None:
    assert not _webhook().verify({"content-type": "application/json"}, SIGNED_BODY)
    assert not _webhook().verify({"x-hub-signature-256": SIGNED_HEADERS["x-hub-signature"]}, SIGNED_BODY)
    other = MastodonWebhook(secret=SecretStr("another"), directory=DIRECTORY, pseudonymizer=PSEUDO)
    assert not other.verify(SIGNED_HEADERS, SIGNED_BODY)


def test_webhook_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        MastodonWebhook(secret=SecretStr(""), directory=DIRECTORY, pseudonymizer=PSEUDO)
    with pytest.raises(ValueError, match="max_known"):
        MastodonWebhook(secret=SECRET, directory=DIRECTORY, pseudonymizer=PSEUDO, max_known=0)
    assert (MastodonWebhook.source, MastodonWebhook.route, MastodonWebhook.platforms) == (
        "webhook:mastodon",
        "/webhooks/mastodon",
        ("mastodon",),
    )


# --- mapping --------------------------------------------------------------------------------------------------


def test_the_signed_delivery_is_a_citizen_comment_on_the_agency_post() -> None:
    event = one(_webhook().parse(orjson.loads(SIGNED_BODY)))
    assert isinstance(event, Interaction)
    key = f"{pseudonym(REMOTE_CITIZEN)}/statuses/112345692300000000"  # not the uri: it names the citizen
    assert (event.event_id, event.message_id) == (f"mastodon:{key}", key)
    assert (event.kind, event.author_role) == (InteractionKind.COMMENT, AuthorRole.CITIZEN)
    assert event.author_id == REMOTE_CITIZEN  # raw here: the publisher pseudonymises it
    # in_reply_to_id is local: the parent's author is a local account (mentions[] with that id), so the parent's
    # URI is Mastodon's URI of a local status, which is the agency post's uri.
    assert (event.parent_id, event.root_id, event.parent_author_id) == (POST, POST, AGENCY)
    assert (event.platform, event.agency_id, event.account_id, event.source) == (
        Platform.MASTODON,
        "jkn",
        AGENCY,
        "webhook:mastodon",
    )
    assert event.created_at == datetime(2024, 5, 1, 10, 3, 27, tzinfo=UTC)
    assert event.text == "@jknselangor Boleh walk-in ke?"
    assert event.links == ()  # the mention's anchor is not a shared link


def test_an_agency_status_is_a_post_whose_links_leave_out_hashtags() -> None:
    post = one(_parse("agency_post"))
    assert isinstance(post, Post)
    assert (post.event_id, post.post_id, post.account_id) == (f"mastodon:{POST}", POST, AGENCY)
    assert post.created_at == datetime(2024, 5, 1, 10, 0, 0, 512000, tzinfo=UTC)
    assert post.text == (
        "Vaksin influenza kini tersedia di semua klinik kesihatan kerajaan. "
        "Maklumat: https://kesihatan.example/vaksin #KesihatanAwam"
    )
    assert post.links == ("https://kesihatan.example/vaksin",)


def test_a_citizen_reply_to_the_post_is_a_comment_with_plain_text() -> None:
    comment = one(_parse("citizen_reply"))
    assert isinstance(comment, Interaction)
    assert (comment.kind, comment.author_id, comment.author_role) == (
        InteractionKind.COMMENT,
        HAFIZ,
        AuthorRole.CITIZEN,
    )
    assert (comment.parent_id, comment.root_id, comment.parent_author_id) == (POST, POST, AGENCY)
    assert comment.text == "@jknselangor Klinik mana yang buka hujung minggu?\nTerima kasih & salam."


def test_an_agency_reply_answers_the_citizen_in_the_known_conversation() -> None:
    reply = one(_parse("agency_reply", roots={CITIZEN_REPLY: POST}))
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role, reply.author_id) == (InteractionKind.REPLY, AuthorRole.AGENCY, AGENCY)
    assert (reply.parent_id, reply.root_id, reply.parent_author_id) == (CITIZEN_REPLY, POST, HAFIZ)


def test_a_mention_is_its_own_root_with_the_content_warning_first() -> None:
    mention = one(_parse("mention_with_content_warning"))
    assert isinstance(mention, Interaction)
    assert (mention.kind, mention.author_id, mention.parent_id) == (InteractionKind.MENTION, NURUL, None)
    assert mention.root_id == mention.message_id
    assert mention.text == "Aduan kesihatan awam\n\n@jknselangor Air paip di kawasan saya keruh sejak semalam."


def test_a_direct_status_is_a_message() -> None:
    message = one(_parse("direct_message"))
    assert isinstance(message, Interaction)
    assert (message.kind, message.author_role, message.root_id) == (
        InteractionKind.MESSAGE,
        AuthorRole.CITIZEN,
        message.message_id,
    )


def test_an_update_is_an_edit_with_the_new_text() -> None:
    edit = one(_parse("agency_reply_edited", roots={AGENCY_REPLY: POST}))
    assert isinstance(edit, Change)
    assert edit.event_id == f"mastodon:{AGENCY_REPLY}:edit:2024-05-01T10:09:02.118Z"
    assert (edit.op, edit.target_id, edit.root_id) == (ChangeOp.EDIT, AGENCY_REPLY, POST)
    assert (edit.author_id, edit.author_role) == (AGENCY, AuthorRole.AGENCY)
    assert edit.created_at == datetime(2024, 5, 1, 10, 9, 2, 118000, tzinfo=UTC)
    assert edit.text is not None
    assert edit.text.endswith("8 pagi hingga 12 tengah hari.")


def test_another_agency_replying_is_an_other_agency_comment_in_the_agencys_conversation() -> None:
    comment = one(_parse("other_agency_reply"))
    assert isinstance(comment, Interaction)
    assert (comment.author_id, comment.author_role, comment.kind) == (
        OTHER_AGENCY,
        AuthorRole.OTHER_AGENCY,
        InteractionKind.COMMENT,
    )
    assert (comment.agency_id, comment.account_id, comment.root_id) == ("jkn", AGENCY, POST)


@pytest.mark.parametrize("name", ["boost", "unrelated_status", "account_created", "report_created"])
def test_boosts_other_events_and_statuses_without_an_agency_are_skipped(name: str) -> None:
    assert _parse(name) == []


# --- parents and roots ----------------------------------------------------------------------------------------


def test_a_known_local_id_gives_the_parent_uri_and_an_unknown_one_stays_host_prefixed() -> None:
    delivery = _reply("ali", "112345799000000001", "112345788000000009", "110000000000000999", [])
    delivery["object"]["mentions"] = [DELIVERIES["citizen_reply"]["object"]["mentions"][0]]  # the agency
    parsed = one(parse_mastodon(delivery, DIRECTORY, pseudonym))
    assert isinstance(parsed, Interaction)
    assert parsed.parent_id == parsed.root_id == "social.kesihatan.example:112345788000000009"
    assert parsed.parent_author_id is None
    known = {"112345788000000009": f"{pseudonym(NURUL)}/statuses/112345788000000009"}
    resolved = one(parse_mastodon(delivery, DIRECTORY, pseudonym, {}, known))
    assert isinstance(resolved, Interaction)
    assert resolved.parent_id == known["112345788000000009"]


def test_a_reply_without_mentions_finds_the_agency_through_learnt_accounts() -> None:
    delivery = _reply("ali", "112345799000000002", "112345678901234567", AGENCY_LOCAL_ID, [])
    assert parse_mastodon(delivery, DIRECTORY, pseudonym) == []  # no agency visible in the status alone
    event = one(parse_mastodon(delivery, DIRECTORY, pseudonym, accounts={AGENCY_LOCAL_ID: AGENCY}))
    assert isinstance(event, Interaction)
    assert (event.parent_id, event.kind, event.agency_id) == (POST, InteractionKind.COMMENT, "jkn")
    webhook = _webhook()
    webhook.parse(_delivery("agency_post"))  # teaches the agency's local account id
    learnt = one(webhook.parse(copy.deepcopy(delivery)))
    assert learnt == event


def test_a_late_parent_re_emits_its_children_with_the_right_root() -> None:
    webhook = _webhook()
    early = one(webhook.parse(_delivery("agency_reply")))
    assert isinstance(early, Interaction)
    assert early.root_id == CITIZEN_REPLY  # the parent is not known yet: it is the guess
    items = webhook.parse(_delivery("citizen_reply"))
    assert len(items) == 2
    comment, again = items
    assert isinstance(comment, Interaction)
    assert comment.root_id == POST
    assert again == early.model_copy(update={"root_id": POST})


def test_a_late_parent_known_only_by_its_local_id_re_emits_its_children_with_its_uri() -> None:
    webhook = _webhook()
    agency = DELIVERIES["citizen_reply"]["object"]["mentions"][0]
    child = _reply("ali", "112345799000000003", "112345788000000010", "110000000000000998", [agency])
    early = one(webhook.parse(child))
    assert isinstance(early, Interaction)
    assert early.parent_id == "social.kesihatan.example:112345788000000010"
    parent = _reply("nurul", "112345788000000010", "112345678901234567", AGENCY_LOCAL_ID, [agency])
    items = webhook.parse(parent)
    assert len(items) == 2
    arrived, again = items
    assert isinstance(arrived, Interaction)
    assert isinstance(again, Interaction)
    assert arrived.message_id == f"{pseudonym(f'{HOST}/users/nurul')}/statuses/112345788000000010"
    assert (arrived.kind, arrived.root_id) == (InteractionKind.COMMENT, POST)
    assert (again.event_id, again.parent_id, again.root_id) == (early.event_id, arrived.message_id, POST)
    assert again.kind is InteractionKind.REPLY  # its parent is no longer the root


def test_the_webhook_learns_local_ids_from_every_status() -> None:
    webhook = _webhook()
    webhook.parse(_delivery("unrelated_status"))  # skipped, yet its local id is learnt
    agency = DELIVERIES["citizen_reply"]["object"]["mentions"][0]
    child = _reply("ali", "112345799000000004", "112345760000000555", "110000000000000998", [agency])
    event = one(webhook.parse(child))
    assert isinstance(event, Interaction)
    assert event.parent_id == f"{pseudonym(HAFIZ)}/statuses/112345760000000555"


def test_status_keys_name_no_citizen_and_agency_statuses_keep_their_uri() -> None:
    uri = f"{HAFIZ}/statuses/1"
    assert status_key(uri, HAFIZ, DIRECTORY, pseudonym) == f"{pseudonym(HAFIZ)}/statuses/1"
    assert status_key(POST, AGENCY, DIRECTORY, pseudonym) == POST
    assert status_key(
        "https://misskey.example/notes/9abc", "https://misskey.example/users/9x", DIRECTORY, pseudonym
    ) == ("https://misskey.example/notes/9abc")


def test_every_fixture_delivery_published_keeps_no_raw_citizen_id() -> None:
    items = parse_cleanly(_webhook(max_known=3), [orjson.loads(SIGNED_BODY), *DELIVERIES.values()], "mastodon: ")
    assert len(items) == 8
    hidden = (HAFIZ, NURUL, REMOTE_CITIZEN, "@hafiz", "@nurul", "users/hafiz", "users/aisyah")
    assert_published_without(items, DIRECTORY, MastodonWebhook.source, kept=AGENCY, hidden=hidden)


# --- rejections -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param("status.created", "not a JSON object", id="text"),
        pytest.param({"object": {}}, "event name", id="no-event"),
        pytest.param({"event": "status.created", "object": []}, "object is a list", id="object-list"),
        pytest.param({"event": "status.created"}, "object is a NoneType", id="no-object"),
    ],
)
def test_a_delivery_of_the_wrong_shape_is_one_rejection(payload: Any, reason: str) -> None:
    (rejected,) = parse_mastodon(payload, DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert reason in rejected.reason


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        pytest.param("citizen_reply", {"uri": None}, "uri is None", id="no-uri"),
        pytest.param("citizen_reply", {"uri": "112345700000000001"}, "not an http(s) URI", id="local-id-uri"),
        pytest.param("citizen_reply", {"account": {"id": "1", "acct": "hafiz"}}, "account.uri", id="no-actor"),
        pytest.param("citizen_reply", {"created_at": "2024-05-01T10:04:10"}, "ISO 8601", id="naive-time"),
        pytest.param("citizen_reply", {"created_at": "Wed May 01 10:04:10 2024"}, "ISO 8601", id="other-time"),
        pytest.param("citizen_reply", {"created_at": "1999-05-01T10:04:10Z"}, "created_at", id="before-2006"),
        pytest.param("agency_reply_edited", {"edited_at": None}, "edited_at", id="edit-without-time"),
        pytest.param("agency_post", {"content": "<p>" + "x" * 70_000 + "</p>"}, "text", id="text-too-long"),
    ],
)
def test_a_bad_status_is_rejected_with_where_and_why(name: str, change: dict[str, Any], reason: str) -> None:
    delivery = _delivery(name)
    delivery["object"].update(change)
    (rejected,) = parse_mastodon(delivery, DIRECTORY, pseudonym)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(f"mastodon: {delivery['event']}: ")
    assert reason in rejected.reason
    assert rejected.raw == delivery


# --- hostile input --------------------------------------------------------------------------------------------

_json = json_values(
    st.sampled_from([2**64, 10**30]),
    st.sampled_from([AGENCY, OTHER_AGENCY, POST, AGENCY_LOCAL_ID, "status.created", "status.updated", "direct"]),
    st.sampled_from(["https://x/@a", "https://[::1", "http://h/tags/t", "<p>a<br>b</p>", "<a href='https://x'>"]),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
)
_KEYS = ["event", "object", "uri", "account", "in_reply_to_id", "mentions", "reblog", "content", "edited_at"]
_mutated_fixtures = st.sampled_from(sorted(DELIVERIES)).flatmap(
    lambda name: mutated(_delivery(name), _json, _KEYS, change=3)
)
_parse_any = partial(parse_mastodon, directory=DIRECTORY, pseudonym=pseudonym)
_known = partial(_parse_any, roots={CITIZEN_REPLY: POST}, known={}, accounts={AGENCY_LOCAL_ID: AGENCY})

test_random_json_never_raises = fuzz_never_raises(_parse_any, _json, "mastodon: ")
test_random_statuses_never_raise = fuzz_never_raises(
    _parse_any, st.builds(lambda status: {"event": "status.created", "object": status}, _json), "mastodon: "
)
test_mutated_fixtures_never_raise = fuzz_never_raises(_known, _mutated_fixtures, "mastodon: ")
test_a_webhook_fed_mutated_deliveries_never_raises = fuzz_webhook_never_raises(
    partial(_webhook, max_known=4), _mutated_fixtures, "mastodon: "
)
