"""parse_instagram on Meta's documented comments batch and on a hand-written delivery with every quirk.

tests/fixtures/payloads/instagram/webhook_quirks.json (17841400000012345 = agency jkns, 17841400000099999 = kkm):

 entry/change  exercises                                                     expected
 0             Instagram Login shape: field/value on the entry, time as text  citizen comment
 1/0           own reply: from.id is an IGSID, but self_ig_scoped_id is set   agency reply (with a link)
 1/1           comment by another agency's account                           other_agency reply
 1/2           mention of a caption: media_id only                           mention rooted at the media
 1/3, 1/4      comment without from; without media                           Rejected
 1/5           story_insights                                                skipped
 1/6           live_comments reply                                           citizen reply
 2             account in no agency                                          Rejected unknown_account
 3             entry without time (comments carry no authored time)          Rejected
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.core.contracts import Parsed, Rejected
from connectors.core.testing import load_payload
from connectors.webhooks.instagram import parse_instagram
from schemas.events import AuthorRole, Interaction, InteractionKind, Platform
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import INSTAGRAM_ACCOUNT as ACCOUNT
from tests.helpers.webhooks import INSTAGRAM_OTHER_ACCOUNT as OTHER_ACCOUNT
from tests.helpers.webhooks import META_DIRECTORY as DIRECTORY
from tests.helpers.webhooks import PSEUDO, assert_parsed, at, fuzz_settings, graph_delivery, parsed_fixture

MEDIA = "18012345678901234"
FUZZ = fuzz_settings(200)


def _parse(payload: Any) -> list[Parsed]:
    return parse_instagram(payload, DIRECTORY, partial(PSEUDO.pseudonym, "instagram"))


def _delivery(*changes: dict[str, Any], account: Any = ACCOUNT, time: Any = 1714557807) -> dict[str, Any]:
    return graph_delivery("instagram", account, time, changes)


batch = parsed_fixture(_parse, "instagram", "webhook_comments_batch.json")
quirks = parsed_fixture(_parse, "instagram", "webhook_quirks.json")


def test_documented_batch(batch: list[Parsed]) -> None:
    comment, reply, reel, live, mention = batch
    assert isinstance(comment, Interaction)
    assert comment.event_id == "instagram:17890012345678901"
    assert (comment.kind, comment.author_role, comment.author_id) == (
        InteractionKind.COMMENT,
        AuthorRole.CITIZEN,
        "1234567890123456",
    )
    assert (comment.message_id, comment.root_id, comment.parent_id) == ("17890012345678901", MEDIA, MEDIA)
    assert (comment.agency_id, comment.account_id, comment.source) == ("jkns", ACCOUNT, "webhook:meta")
    assert comment.created_at == at(1714557807)  # entry.time: when Meta sent it
    assert isinstance(reply, Interaction)
    assert (reply.kind, reply.author_role, reply.author_id) == (InteractionKind.REPLY, AuthorRole.AGENCY, ACCOUNT)
    assert (reply.root_id, reply.parent_id) == (MEDIA, "17890012345678901")
    assert isinstance(reel, Interaction)
    assert reel.root_id == "18098765432109876"
    assert isinstance(live, Interaction)
    assert (live.kind, live.root_id) == (InteractionKind.COMMENT, "18011111111111111")
    assert isinstance(mention, Interaction)
    assert (mention.kind, mention.author_role) == (InteractionKind.MENTION, AuthorRole.CITIZEN)
    assert (mention.message_id, mention.root_id, mention.parent_id) == ("17890099999999999",) * 2 + (None,)
    assert mention.author_id == "mention:17890099999999999"
    assert mention.text is None


def test_signed_delivery_body_parses() -> None:
    fixture = load_payload(PAYLOADS / "instagram" / "webhook_signed_delivery.json")
    (comment,) = _parse(orjson.loads(fixture["raw_body"]))
    assert isinstance(comment, Interaction)
    assert comment.text == "Boleh walk-in ke untuk vaksin influenza?"


def test_entry_without_changes_wrapper_and_time_as_text(quirks: list[Parsed]) -> None:
    login = quirks[0]
    assert isinstance(login, Interaction)
    assert (login.message_id, login.kind, login.created_at) == (
        "17890012345670001",
        InteractionKind.COMMENT,
        at(1714560000),
    )


def test_self_ig_scoped_id_marks_the_own_account(quirks: list[Parsed]) -> None:
    own = quirks[1]
    assert isinstance(own, Interaction)
    assert (own.kind, own.author_role, own.parent_id) == (InteractionKind.REPLY, AuthorRole.AGENCY, "17890012345670001")
    assert own.links == ("https://jkn.example.gov.my/vaksin",)


def test_other_agency_by_account_id(quirks: list[Parsed]) -> None:
    other = quirks[2]
    assert isinstance(other, Interaction)
    assert (other.author_role, other.author_id) == (AuthorRole.OTHER_AGENCY, OTHER_ACCOUNT)


def test_caption_mention_is_rooted_at_the_media(quirks: list[Parsed]) -> None:
    mention = quirks[3]
    assert isinstance(mention, Interaction)
    assert (mention.event_id, mention.root_id) == ("instagram:18022222222222299", "18022222222222299")
    assert mention.author_id == "mention:18022222222222299"


def test_live_comment_reply(quirks: list[Parsed]) -> None:
    live = quirks[6]
    assert isinstance(live, Interaction)
    assert (live.kind, live.root_id, live.parent_id) == (
        InteractionKind.REPLY,
        "18011111111111111",
        "17890012345679999",
    )


def test_rejections_say_where_and_skips_say_nothing(quirks: list[Parsed]) -> None:
    rejected = [item for item in quirks if isinstance(item, Rejected)]
    assert [(r.reason.split(":")[0], r.error_type) for r in rejected] == [
        ("entry 1 change 3", "invalid"),
        ("entry 1 change 4", "invalid"),
        ("entry 2", "unknown_account"),
        ("entry 3 change 0", "invalid"),
    ]
    assert "without from.id" in rejected[0].reason
    assert "without id" in rejected[1].reason  # media.id
    assert "instagram account 17841400000000000" in rejected[2].reason
    assert "entry.time" in rejected[3].reason
    assert len(quirks) == 5 + len(rejected)  # story_insights gave nothing


def test_reply_to_own_account_by_id_not_username() -> None:
    value = {"from": {"id": "999", "username": "jknselangor_rasmi_fic"}, "media": {"id": MEDIA}, "id": "1"}
    (item,) = _parse(_delivery({"field": "comments", "value": value}))
    assert isinstance(item, Interaction)
    assert item.author_role is AuthorRole.CITIZEN


def test_ids_as_json_numbers_keep_every_digit() -> None:
    value = {"from": {"id": 2**53 + 1}, "media": {"id": 18012345678901234567}, "id": 17890012345678901234}
    (item,) = _parse(_delivery({"field": "comments", "value": value}, account=int(ACCOUNT)))
    assert isinstance(item, Interaction)
    assert (item.author_id, item.root_id, item.message_id) == (
        "9007199254740993",
        "18012345678901234567",
        "17890012345678901234",
    )
    assert item.account_id == ACCOUNT


@pytest.mark.parametrize("time", [None, 1714557807.5, "2024-05-01T10:03:27+0000", 1714557807000, True])
def test_entry_time_must_be_unix_seconds(time: Any) -> None:
    value = {"from": {"id": "1"}, "media": {"id": MEDIA}, "id": "2"}
    (item,) = _parse(_delivery({"field": "comments", "value": value}, time=time))
    assert isinstance(item, Rejected)
    assert "entry.time" in item.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("x", 'expected a delivery {"object": "instagram"'),
        ({"object": "page", "entry": []}, 'expected a delivery {"object": "instagram"'),
        ({"object": "instagram", "entry": [{"id": ACCOUNT, "time": 1}]}, "neither a changes list nor"),
        ({"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [[]]}]}, "change is not an object"),
        ({"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "mentions"}]}]}, "without a value"),
        (
            {"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "mentions", "value": {}}]}]},
            "mention without",
        ),
    ],
)
def test_wrong_shapes_are_rejected(payload: Any, reason: str) -> None:
    (item,) = _parse(payload)
    assert isinstance(item, Rejected)
    assert reason in item.reason


_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.none(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "username", "self_ig_scoped_id"]), st.text(max_size=10), max_size=2),
)
_values = st.fixed_dictionaries(
    {},
    optional={
        "from": st.one_of(st.sampled_from([{"id": ACCOUNT}, {"id": OTHER_ACCOUNT}, {"id": "1"}]), _hostile),
        "media": st.one_of(st.just({"id": MEDIA}), _hostile),
        "id": st.one_of(st.just("17890012345678901"), _hostile),
        "parent_id": _hostile,
        "text": st.one_of(st.text(max_size=40), _hostile),
        "media_id": _hostile,
        "comment_id": _hostile,
    },
)
_changes = st.fixed_dictionaries(
    {"field": st.one_of(st.sampled_from(["comments", "live_comments", "mentions", "story_insights"]), _hostile)},
    optional={"value": st.one_of(_values, _hostile)},
)


@FUZZ
@given(st.lists(_changes, max_size=4), st.one_of(st.integers(1_136_073_600, 4_102_444_799), _hostile))
def test_fuzzed_changes_give_events_or_rejected_never_raise(changes: list[dict[str, Any]], time: Any) -> None:
    for item in assert_parsed(_parse(_delivery(*changes, time=time))):
        assert isinstance(item, Interaction)
        assert item.platform is Platform.INSTAGRAM
