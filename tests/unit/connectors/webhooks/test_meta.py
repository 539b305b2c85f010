"""MetaWebhook: the subscription handshake, the signature vectors of the documented deliveries, dispatch by
``object``, and fuzzing of every Meta parser with random JSON and mutated fixtures (nothing may raise).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected, WebhookResponse, WebhookSource
from connectors.core.testing import load_payload
from connectors.webhooks.facebook import parse_facebook
from connectors.webhooks.instagram import parse_instagram
from connectors.webhooks.meta import MetaWebhook
from schemas.events import Reaction
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import META_DIRECTORY as DIRECTORY
from tests.helpers.webhooks import PSEUDO, assert_parsed, fuzz_settings, json_values, lower_case_names, mutated

FACEBOOK = load_payload(PAYLOADS / "facebook" / "webhook_verification_and_signed_delivery.json")
INSTAGRAM = load_payload(PAYLOADS / "instagram" / "webhook_signed_delivery.json")
SECRET = FACEBOOK["delivery"]["test_app_secret"]
TOKEN = FACEBOOK["verification"]["request"]["query"]["hub.verify_token"]
FUZZ = fuzz_settings(300)
FIXTURES = [
    load_payload(PAYLOADS / "facebook" / "webhook_feed_batch.json"),
    load_payload(PAYLOADS / "facebook" / "webhook_feed_quirks.json"),
    load_payload(PAYLOADS / "instagram" / "webhook_comments_batch.json"),
    load_payload(PAYLOADS / "instagram" / "webhook_quirks.json"),
]


def _hook(verify_token: str | None = TOKEN) -> MetaWebhook:
    return MetaWebhook(
        app_secret=SecretStr(SECRET),
        verify_token=SecretStr(verify_token) if verify_token is not None else None,
        directory=DIRECTORY,
        pseudonymizer=PSEUDO,
    )


def test_is_a_webhook_source_with_route_and_platforms() -> None:
    hook: WebhookSource = _hook()
    assert (hook.source, MetaWebhook.route, MetaWebhook.platforms) == (
        "webhook:meta",
        "/webhooks/meta",
        ("facebook", "instagram"),
    )


def test_empty_app_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="app secret is empty"):
        MetaWebhook(app_secret=SecretStr(""), verify_token=None, directory=DIRECTORY, pseudonymizer=PSEUDO)


def test_handshake_echoes_the_challenge_when_the_token_matches() -> None:
    query = FACEBOOK["verification"]["request"]["query"]
    expected = FACEBOOK["verification"]["expected_response_if_token_matches"]
    assert _hook().handshake(query) == WebhookResponse(expected["status"], expected["body"], expected["content_type"])


@pytest.mark.parametrize("token", ["kkm-verify-2023", "", "kkm-verify-2024 ", "KKM-VERIFY-2024"])
def test_handshake_refuses_another_token(token: str) -> None:
    query = {**FACEBOOK["verification"]["request"]["query"], "hub.verify_token": token}
    assert _hook().handshake(query) == WebhookResponse(403, "verify token does not match")


def test_handshake_without_a_token_configured_or_given_is_refused() -> None:
    query = FACEBOOK["verification"]["request"]["query"]
    assert _hook(None).handshake(query) == WebhookResponse(403, "verify token does not match")
    without = {k: v for k, v in query.items() if k != "hub.verify_token"}
    assert _hook().handshake(without) == WebhookResponse(403, "verify token does not match")


def test_handshake_without_a_challenge_is_a_bad_request() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": TOKEN}
    assert _hook().handshake(query) == WebhookResponse(400, "hub.challenge is missing")


@pytest.mark.parametrize("query", [{}, {"hub.challenge": "1", "hub.verify_token": TOKEN}, {"hub.mode": "unsubscribe"}])
def test_no_subscription_check_is_no_handshake(query: dict[str, str]) -> None:
    assert _hook().handshake(query) is None


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (FACEBOOK["delivery"]["headers"], FACEBOOK["delivery"]["raw_body"]),
        (INSTAGRAM["headers"], INSTAGRAM["raw_body"]),
    ],
)
def test_documented_signature_vectors_verify(headers: dict[str, str], body: str) -> None:
    assert _hook().verify(lower_case_names(headers), body.encode()) is True


def test_upper_case_hex_signature_verifies() -> None:
    headers = lower_case_names(FACEBOOK["delivery"]["headers"])
    signature = headers["x-hub-signature-256"]
    headers["x-hub-signature-256"] = "sha256=" + signature.removeprefix("sha256=").upper()
    assert _hook().verify(headers, FACEBOOK["delivery"]["raw_body"].encode()) is True


def test_tampered_body_fails() -> None:
    body = FACEBOOK["delivery"]["raw_body"].replace("walk-in", "walk-out").encode()
    assert _hook().verify(lower_case_names(FACEBOOK["delivery"]["headers"]), body) is False


def test_reserialised_body_fails() -> None:
    # Meta signs its own bytes (\ud83d\ude4f escapes); JSON re-serialised by us differs and must not pass.
    body = orjson.dumps(orjson.loads(FACEBOOK["delivery"]["raw_body"]))
    assert _hook().verify(lower_case_names(FACEBOOK["delivery"]["headers"]), body) is False


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha256=7ae752bd88ee2e67d62767514758b006ff5aaa6df9580b0ffb586d0e6db81494",  # last digit changed
        "7ae752bd88ee2e67d62767514758b006ff5aaa6df9580b0ffb586d0e6db81495",  # no sha256= prefix
        "sha1=7ae752bd88ee2e67d62767514758b006ff5aaa6df9580b0ffb586d0e6db81495",
        "",
        "sha256=✓",
    ],
)
def test_tampered_header_fails(signature: str) -> None:
    headers = {**lower_case_names(FACEBOOK["delivery"]["headers"]), "x-hub-signature-256": signature}
    assert _hook().verify(headers, FACEBOOK["delivery"]["raw_body"].encode()) is False


def test_missing_header_and_sha1_only_fail() -> None:
    headers = lower_case_names(FACEBOOK["delivery"]["headers"])
    body = FACEBOOK["delivery"]["raw_body"].encode()
    sha1_only = {k: v for k, v in headers.items() if k != "x-hub-signature-256"}
    assert "x-hub-signature" in sha1_only  # a valid SHA-1 signature of this body
    assert _hook().verify(sha1_only, body) is False
    assert _hook().verify({}, body) is False


def test_another_secret_fails() -> None:
    hook = MetaWebhook(app_secret=SecretStr("other"), verify_token=None, directory=DIRECTORY, pseudonymizer=PSEUDO)
    headers = lower_case_names(FACEBOOK["delivery"]["headers"])
    assert hook.verify(headers, FACEBOOK["delivery"]["raw_body"].encode()) is False


def test_parse_dispatches_on_object() -> None:
    fb, ig = FIXTURES[0], FIXTURES[2]
    assert _hook().parse(fb) == parse_facebook(fb, DIRECTORY, lambda native: PSEUDO.pseudonym("facebook", native))
    assert _hook().parse(ig) == parse_instagram(ig, DIRECTORY, lambda native: PSEUDO.pseudonym("instagram", native))
    assert _hook().parse([fb, ig]) == _hook().parse(fb) + _hook().parse(ig)  # Meta's array-wrapped examples


def test_reaction_ids_use_the_facebook_pseudonym() -> None:
    reactions = [item for item in _hook().parse(FIXTURES[0]) if isinstance(item, Reaction)]
    assert reactions[0].event_id.endswith(":reaction:" + PSEUDO.pseudonym("facebook", "6987654321098765"))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"object": "user", "entry": []}, "object 'user' is not page or instagram"),
        ({"entry": []}, "object None is not page or instagram"),
        ("page", "delivery is not a JSON object"),
        ([7], "delivery is not a JSON object"),
    ],
)
def test_parse_rejects_other_objects(payload: Any, reason: str) -> None:
    assert _hook().parse(payload) == [Rejected(reason, payload if not isinstance(payload, list) else 7)]


# --- fuzzing: random JSON and mutated fixtures --------------------------------------------------------------------

_json = json_values(
    st.sampled_from([2**53 + 1, 2**63, 2**64, 10**30, -1, 1714557807, "1714557807", "page", "instagram", "feed"]),
    finite=False,
    key_size=8,
    width=3,
    max_leaves=15,
)
_keys = st.sampled_from(["object", "entry", "id", "time", "changes", "field", "value", "item", "verb", "from"])
_envelopes = st.fixed_dictionaries(
    {"object": st.sampled_from(["page", "instagram"]), "entry": st.lists(_json | st.dictionaries(_keys, _json))}
)
# A few nodes replaced by random JSON and a few keys dropped (one in 25 each), no keys added.
_mutated_fixtures = st.sampled_from(FIXTURES).flatmap(
    lambda fixture: mutated(fixture, _json, replace=25, drop=25, change=24)
)


def _check(items: list[Parsed]) -> None:
    for event in assert_parsed(items):
        assert event.agency_id in {"jkns", "kkm"}


@FUZZ
@given(st.one_of(_json, _envelopes))
def test_random_json_never_raises(payload: Any) -> None:
    _check(_hook().parse(payload))
    _check(parse_facebook(payload, DIRECTORY, str))
    _check(parse_instagram(payload, DIRECTORY, str))


@FUZZ
@given(_mutated_fixtures)
def test_mutated_fixtures_never_raise(payload: Any) -> None:
    _check(_hook().parse(payload))
