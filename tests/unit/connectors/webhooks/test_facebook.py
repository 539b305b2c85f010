"""parse_facebook on Meta's documented Page feed batch and on a hand-written delivery with every quirk.

tests/fixtures/payloads/facebook/webhook_feed_quirks.json, entry 0 (Page 104857600012345 = agency jkns):

 change  exercises                                                     expected
 0       legacy sender_id (a JSON number past 2**53), string time      citizen comment, author kept exact
 1       visitor post on the Page (from.id != page), a link            citizen mention, its own root
 2       photo comment without message                                 citizen comment, no text
 3       comment by another agency's Page (kkm), a reply               other_agency reply
 4       post edit with verb "edit" (not "edited")                     Change edit by the agency
 5       reaction changed like -> love (verb "edit")                   Reaction, same id as the batch's like
 6       reaction remove                                               Change remove of that reaction
 7       comment remove without from                                   Change remove, no author
 8-10    comment hide, item like, field ratings                        skipped
 11      comment add without from                                      Rejected
 12      created_time in Graph's ISO format                            Rejected
 13      comment add without comment_id                                Rejected
 14      created_time 1714560840.5 (not whole seconds)                 Rejected
entry 1: Page 999999999999999, in no agency -> Rejected unknown_account.
entry 2: Page 200000000000001 (kkm, entry id a JSON number): kkm's photo post, and jkns commenting on it
         (other_agency from kkm's side).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.core.contracts import Parsed, Rejected
from connectors.core.testing import load_payload
from connectors.webhooks.facebook import parse_facebook
from connectors.webhooks.graph import native_id, unix_time
from schemas.events import (
    AuthorRole,
    Change,
    ChangeOp,
    Interaction,
    InteractionKind,
    Platform,
    Post,
    Reaction,
    ReactionMode,
)
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import FACEBOOK_OTHER_PAGE as OTHER_PAGE
from tests.helpers.webhooks import FACEBOOK_PAGE as PAGE
from tests.helpers.webhooks import META_DIRECTORY as DIRECTORY
from tests.helpers.webhooks import PSEUDO, assert_parsed, at, fuzz_settings, graph_delivery, parsed_fixture

POST = f"{PAGE}_881234567890123"
CITIZEN = "7012345678901234"
CITIZEN_2 = "6987654321098765"
pseudonym = partial(PSEUDO.pseudonym, "facebook")
FUZZ = fuzz_settings(200)


def _parse(payload: Any) -> list[Parsed]:
    return parse_facebook(payload, DIRECTORY, pseudonym)


def _delivery(*values: dict[str, Any], page: str = PAGE) -> dict[str, Any]:
    return graph_delivery("page", page, 1714560000, ({"field": "feed", "value": value} for value in values))


def _comment(**overrides: Any) -> dict[str, Any]:
    value = {
        "from": {"id": CITIZEN, "name": "Aisyah Rahman"},
        "item": "comment",
        "verb": "add",
        "post_id": POST,
        "comment_id": "881234567890123_1",
        "parent_id": POST,
        "created_time": 1714557807,
        "message": "Boleh walk-in?",
    }
    return {k: v for k, v in {**value, **overrides}.items() if v is not None}


batch = parsed_fixture(_parse, "facebook", "webhook_feed_batch.json")
quirks = parsed_fixture(_parse, "facebook", "webhook_feed_quirks.json")


def test_documented_batch_gives_one_event_per_change(batch: list[Parsed]) -> None:
    post, comment, reply, edit, _like, _care, removal = batch
    assert isinstance(post, Post)
    assert (post.event_id, post.post_id, post.agency_id, post.account_id) == (f"facebook:{POST}", POST, "jkns", PAGE)
    assert post.created_at == at(1714557600)
    assert post.source == "webhook:meta"
    assert isinstance(comment, Interaction)
    assert (comment.kind, comment.author_role, comment.author_id) == (
        InteractionKind.COMMENT,
        AuthorRole.CITIZEN,
        CITIZEN,
    )
    assert (comment.message_id, comment.root_id, comment.parent_id) == ("881234567890123_1122334455667788", POST, POST)
    assert comment.parent_author_id is None
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role, reply.author_id) == (InteractionKind.REPLY, AuthorRole.AGENCY, PAGE)
    assert reply.parent_id == "881234567890123_1122334455667788"
    assert reply.created_at == at(1714558065)
    assert isinstance(edit, Change)
    assert edit.event_id == "facebook:881234567890123_1122334455667788:edit:1714558329"
    assert (edit.op, edit.target_id, edit.root_id, edit.author_role) == (
        ChangeOp.EDIT,
        "881234567890123_1122334455667788",
        POST,
        AuthorRole.CITIZEN,
    )
    assert edit.text is not None
    assert "Seksyen 7 je ke?" in edit.text
    assert isinstance(removal, Change)
    assert removal.event_id == "facebook:881234567890123_1122334455668001:remove"
    assert (removal.op, removal.author_id, removal.author_role) == (ChangeOp.REMOVE, CITIZEN_2, AuthorRole.CITIZEN)


def test_reactions_target_the_comment_when_named_else_the_post(batch: list[Parsed]) -> None:
    like, care = batch[4], batch[5]
    assert isinstance(like, Reaction)
    assert isinstance(care, Reaction)
    assert (like.target_id, like.root_id, like.reaction_type, like.count) == (POST, POST, "like", 1)
    assert (care.target_id, care.root_id, care.reaction_type) == ("881234567890123_1122334455667799", POST, "care")
    assert like.mode is ReactionMode.EVENT
    assert like.author_id == CITIZEN_2  # raw here: the publisher pseudonymises it
    assert like.event_id == f"facebook:{POST}:reaction:{pseudonym(CITIZEN_2)}"
    assert CITIZEN_2 not in like.event_id
    assert CITIZEN not in care.event_id


def test_signed_delivery_body_parses_to_the_citizen_comment() -> None:
    fixture = load_payload(PAYLOADS / "facebook" / "webhook_verification_and_signed_delivery.json")
    (comment,) = _parse(orjson.loads(fixture["delivery"]["raw_body"]))
    assert isinstance(comment, Interaction)
    assert comment.text == "Perlu buat temujanji dulu ke atau walk-in boleh? Terima kasih 🙏"


def test_legacy_sender_id_beyond_2_53_is_kept_exactly(quirks: list[Parsed]) -> None:
    legacy = quirks[0]
    assert isinstance(legacy, Interaction)
    assert legacy.author_id == "9007199254740993"  # a float would have made it ...992
    assert (legacy.kind, legacy.author_role) == (InteractionKind.COMMENT, AuthorRole.CITIZEN)
    assert legacy.created_at == at(1714560000)  # "1714560000" as text


def test_visitor_post_is_a_citizen_mention_rooted_at_itself(quirks: list[Parsed]) -> None:
    visitor = quirks[1]
    assert isinstance(visitor, Interaction)
    root = f"{PAGE}_881234567899999"
    assert (visitor.kind, visitor.author_role) == (InteractionKind.MENTION, AuthorRole.CITIZEN)
    assert (visitor.message_id, visitor.root_id, visitor.parent_id) == (root, root, None)
    assert visitor.links == ("https://maps.example.my/p/123",)


def test_photo_comment_has_no_text_and_other_agency_is_told_by_id(quirks: list[Parsed]) -> None:
    photo, other = quirks[2], quirks[3]
    assert isinstance(photo, Interaction)
    assert photo.text is None
    assert isinstance(other, Interaction)
    assert (other.kind, other.author_role, other.author_id) == (
        InteractionKind.REPLY,
        AuthorRole.OTHER_AGENCY,
        OTHER_PAGE,
    )
    assert other.links == ("https://kkm.example.gov.my/vaksin",)


def test_edit_verb_without_d_is_an_edit_too(quirks: list[Parsed]) -> None:
    edit = quirks[4]
    assert isinstance(edit, Change)
    assert (edit.op, edit.target_id, edit.author_role) == (ChangeOp.EDIT, POST, AuthorRole.AGENCY)
    assert edit.event_id == f"facebook:{POST}:edit:1714560240"
    assert edit.text == "Klinik dibuka hingga 10 malam (dikemas kini)"


def test_changed_reaction_keeps_its_event_id(batch: list[Parsed], quirks: list[Parsed]) -> None:
    like, love = batch[4], quirks[5]
    assert isinstance(like, Reaction)
    assert isinstance(love, Reaction)
    assert love.event_id == like.event_id  # storage upserts: the newer type wins
    assert (love.reaction_type, love.created_at) == ("love", at(1714560300))


def test_reaction_removal_targets_the_reaction(batch: list[Parsed], quirks: list[Parsed]) -> None:
    care, removal = batch[5], quirks[6]
    assert isinstance(care, Reaction)
    assert isinstance(removal, Change)
    assert removal.op is ChangeOp.REMOVE
    assert care.event_id == f"facebook:{removal.target_id}"
    assert removal.event_id == f"{care.event_id}:remove"
    assert (removal.root_id, removal.author_role) == (POST, AuthorRole.CITIZEN)


def test_removal_without_from_has_no_author(quirks: list[Parsed]) -> None:
    removal = quirks[7]
    assert isinstance(removal, Change)
    assert removal.event_id == "facebook:881234567890123_1122334455669002:remove"
    assert (removal.author_id, removal.author_role) == (None, None)


def test_skips_moderation_page_likes_and_other_fields_and_rejects_with_where(quirks: list[Parsed]) -> None:
    rejected = [item for item in quirks if isinstance(item, Rejected)]
    assert [r.reason.split(":")[0] for r in rejected] == [
        "entry 0 change 11",
        "entry 0 change 12",
        "entry 0 change 13",
        "entry 0 change 14",
        "entry 1",
    ]
    assert "without from.id" in rejected[0].reason
    assert "not unix seconds" in rejected[1].reason
    assert "without comment_id" in rejected[2].reason
    assert "not unix seconds" in rejected[3].reason
    assert rejected[4].error_type == "unknown_account"
    assert "facebook account 999999999999999" in rejected[4].reason
    assert len(quirks) == 8 + len(rejected) + 2  # changes 8, 9, 10 gave nothing


def test_entries_of_two_agencies_in_one_delivery(quirks: list[Parsed]) -> None:
    post, comment = quirks[-2:]
    assert isinstance(post, Post)
    assert (post.agency_id, post.account_id, post.post_id) == ("kkm", OTHER_PAGE, f"{OTHER_PAGE}_555")
    assert isinstance(comment, Interaction)
    assert (comment.agency_id, comment.author_role) == ("kkm", AuthorRole.OTHER_AGENCY)


def test_agency_post_vs_visitor_post_by_id_not_name() -> None:
    by_page = {"from": {"id": PAGE}, "item": "video", "verb": "add", "post_id": POST, "created_time": 1714560000}
    by_name = {**by_page, "from": {"id": CITIZEN, "name": "Jabatan Kesihatan Negeri Selangor (Fictional)"}}
    page_post, citizen_post = _parse(_delivery(by_page, by_name))
    assert isinstance(page_post, Post)
    assert isinstance(citizen_post, Interaction)
    assert (citizen_post.kind, citizen_post.author_role) == (InteractionKind.MENTION, AuthorRole.CITIZEN)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1714557807, at(1714557807)), ("1714557807", at(1714557807))],
)
def test_unix_time_int_or_digits(raw: Any, expected: datetime) -> None:
    assert unix_time(raw, "created_time") == expected


@pytest.mark.parametrize(
    "raw", [None, True, 1714557807.0, "", " 1714557807", "1_714_557_807", "١٧١٤٥٥٧٨٠٧", -1, 10**11, 10**30, "9" * 40]
)
def test_invalid_times_are_rejected_not_raised(raw: Any) -> None:
    (item,) = _parse(_delivery(_comment(created_time=raw)))  # None: no created_time at all
    assert isinstance(item, Rejected)
    assert item.reason.startswith("entry 0 change 0: ")
    assert item.error_type == "invalid"


def test_ids_are_strings_and_numbers_keep_every_digit() -> None:
    assert native_id(2**64 + 1) == str(2**64 + 1)
    assert native_id(9007199254740993.0) is None
    assert native_id(True) is None
    assert native_id("") is None
    (item,) = _parse(_delivery(_comment(comment_id=881234567890123456789, **{"from": {"id": 2**53 + 1}})))
    assert isinstance(item, Interaction)
    assert (item.message_id, item.author_id) == ("881234567890123456789", "9007199254740993")


def test_reply_when_parent_is_a_comment_and_comment_when_parent_absent() -> None:
    reply, top = _parse(_delivery(_comment(parent_id="881234567890123_9"), _comment(parent_id=None, comment_id="c2")))
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.parent_id) == (InteractionKind.REPLY, "881234567890123_9")
    assert isinstance(top, Interaction)
    assert (top.kind, top.parent_id) == (InteractionKind.COMMENT, POST)


def test_reaction_needs_its_author_and_type() -> None:
    reaction = {"from": {"id": CITIZEN}, "item": "reaction", "verb": "add", "post_id": POST, "created_time": 1714560000}
    no_type, no_author = _parse(_delivery(reaction, {k: v for k, v in reaction.items() if k != "from"}))
    assert isinstance(no_type, Rejected)
    assert "reaction_type" in no_type.reason
    assert isinstance(no_author, Rejected)
    assert "from.id" in no_author.reason
    (upper,) = _parse(_delivery({**reaction, "reaction_type": "LOVE"}))
    assert isinstance(upper, Reaction)
    assert upper.reaction_type == "love"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], 'expected a delivery {"object": "page"'),
        ({"object": "instagram", "entry": []}, 'expected a delivery {"object": "page"'),
        ({"object": "page", "entry": {}}, 'expected a delivery {"object": "page"'),
        ({"object": "page", "entry": ["x"]}, "entry 0: not an object with an id"),
        ({"object": "page", "entry": [{"time": 1}]}, "entry 0: not an object with an id"),
        ({"object": "page", "entry": [{"id": PAGE, "messaging": []}]}, "entry 0: no changes list"),
        ({"object": "page", "entry": [{"id": PAGE, "changes": [7]}]}, "entry 0 change 0: change is not an object"),
        ({"object": "page", "entry": [{"id": PAGE, "changes": [{"field": "feed"}]}]}, "without a value object"),
    ],
)
def test_wrong_shapes_are_one_rejected_each(payload: Any, reason: str) -> None:
    (item,) = _parse(payload)
    assert isinstance(item, Rejected)
    assert reason in item.reason


def test_an_empty_delivery_gives_nothing() -> None:
    assert _parse({"object": "page", "entry": []}) == []


def test_text_longer_than_the_limit_is_rejected_as_schema() -> None:
    (item,) = _parse(_delivery(_comment(message="x" * 70_000)))
    assert isinstance(item, Rejected)
    assert item.error_type == "schema"


_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**53 + 1, 2**64, -1, 10**30, 1714560000, "1714560000"]),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "name"]), st.one_of(st.text(max_size=20), st.integers()), max_size=2),
)
_values = st.fixed_dictionaries(
    {},
    optional={
        "item": st.one_of(st.sampled_from(["status", "post", "photo", "comment", "reaction", "like"]), _hostile),
        "verb": st.one_of(st.sampled_from(["add", "edited", "edit", "remove", "hide"]), _hostile),
        "from": st.one_of(st.sampled_from([{"id": PAGE}, {"id": CITIZEN}, {"id": OTHER_PAGE}, {}]), _hostile),
        "sender_id": _hostile,
        "post_id": st.one_of(st.just(POST), _hostile),
        "comment_id": st.one_of(st.just("881234567890123_1"), _hostile),
        "parent_id": st.one_of(st.just(POST), _hostile),
        "created_time": st.one_of(st.integers(1_136_073_600, 4_102_444_799), _hostile),
        "message": st.one_of(st.text(max_size=40), _hostile),
        "reaction_type": st.one_of(st.sampled_from(["like", "LOVE", "x" * 40]), _hostile),
    },
)


@FUZZ
@given(st.lists(_values, max_size=4), st.sampled_from([PAGE, OTHER_PAGE, "999"]))
def test_fuzzed_feed_values_give_events_or_rejected_never_raise(values: list[dict[str, Any]], page: str) -> None:
    for item in assert_parsed(_parse(_delivery(*values, page=page))):
        assert item.platform is Platform.FACEBOOK
        if isinstance(item, Reaction | Change) and item.author_id == CITIZEN:
            assert CITIZEN not in item.event_id


def test_an_unexpected_failure_is_a_poison_rejected_not_an_exception() -> None:
    def broken(native: str) -> str:
        raise RuntimeError(native[:0] + "keyed hash unavailable")

    reaction = {"from": {"id": CITIZEN}, "item": "reaction", "verb": "add", "post_id": POST, "created_time": 1714560000}
    (item,) = parse_facebook(_delivery(reaction), DIRECTORY, broken)
    assert isinstance(item, Rejected)
    assert (item.reason, item.error_type) == ("entry 0 change 0: RuntimeError: keyed hash unavailable", "poison")
