"""The Graph helpers the Meta pollers share: times, usage headers, error envelopes, paging, and the session.

The error envelopes and usage headers are Meta's documented ones
(tests/fixtures/payloads/facebook/graph_errors_and_rate_limit_headers.json); the session is driven by a stub
client here (one answer, no server) so every envelope is checked alone; the pollers' tests use FakePlatform.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.backoff import Backoff
from connectors.core.errors import AccountError, InvalidInput, Retry, Unreachable
from connectors.core.http import HttpResponse
from connectors.core.testing import FakeClock, load_payload
from connectors.polling.meta_graph import (
    THROTTLE_FLOOR_SECONDS,
    GraphSession,
    InvalidRequest,
    Paging,
    Usage,
    graph_time,
    paging_of,
    parse_error,
    parse_usage,
)
from tests.helpers.paths import PAYLOADS
from tests.helpers.webhooks import fuzz_settings, json_values

ERRORS = load_payload(PAYLOADS / "facebook" / "graph_errors_and_rate_limit_headers.json")
PAGE = "104857600012345"
TOKEN = "EAAB-secret-page-token"
FUZZ = fuzz_settings(300)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class _Stub:
    """An HttpClient answering every GET with one response (or raising), recording what was asked."""

    def __init__(self, response: HttpResponse | Exception) -> None:
        self.response = response
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def get(
        self, url: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        self.calls.append((url, dict(params or {}), dict(headers or {})))
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def _session(
    response: HttpResponse | Exception, clock: FakeClock | None = None, **kw: Any
) -> tuple[GraphSession, _Stub]:
    stub = _Stub(response)
    session = GraphSession(
        stub,
        "https://graph.example/v19.0/",
        kw.pop("token", SecretStr(TOKEN)),
        account_id=PAGE,
        label="facebook",
        clock=clock or FakeClock(),
        backoff=Backoff(base_seconds=1, cap_seconds=300, rng=random.Random(3)),
        **kw,
    )
    return session, stub


def _documented(name: str) -> HttpResponse:
    case = ERRORS[name]
    return HttpResponse(case["status"], orjson.dumps(case.get("body", {"data": []})), _lower(case.get("headers", {})))


# --- pure parsers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T10:00:00+0000", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T18:00:00+0800", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00+00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.250+0000", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_graph_time_reads_the_offset_without_colon(raw: str, expected: datetime) -> None:
    moment = graph_time(raw, "created_time")
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        1714557600,
        "",
        "2024-05-01 10:00:00",
        "2024-05-01T10:00:00",  # no offset: the zone would be a guess
        "2024-13-01T10:00:00+0000",
        "1999-05-01T10:00:00+0000",  # before any platform
        "２０２４-05-01T10:00:00+0000",  # non-ASCII digits
        "2024-05-01T10:00:00+0000\n",
    ],
)
def test_graph_time_refuses_anything_else_naming_the_field(raw: Any) -> None:
    with pytest.raises(InvalidInput, match="created_time"):
        graph_time(raw, "created_time")


def test_usage_of_a_documented_success_is_below_the_throttle() -> None:
    usage = parse_usage(_lower(ERRORS["success_with_usage_headers"]["headers"]))
    assert usage == Usage(percent=63, regain_seconds=None)
    assert not usage.throttled


def test_usage_at_100_or_with_time_to_regain_access_throttles_in_minutes() -> None:
    app = parse_usage(_lower(ERRORS["rate_limited_app_code_4"]["headers"]))
    assert (app.percent, app.regain_seconds, app.throttled) == (100, None, True)
    buc = parse_usage(_lower(ERRORS["rate_limited_pages_buc_code_80001"]["headers"]))
    assert (buc.percent, buc.regain_seconds, buc.throttled) == (100, 17 * 60, True)


@pytest.mark.parametrize(
    "value", ["not json", "[]", '"x"', '{"a": [1, "b"]}', '{"call_count": true}', '{"call_count": "NaN"}', "{}"]
)
def test_malformed_usage_headers_count_as_absent(value: str) -> None:
    assert parse_usage({"x-app-usage": value, "x-business-use-case-usage": value}) == Usage()


@pytest.mark.parametrize(
    ("name", "code", "subcode", "transient"),
    [
        ("rate_limited_app_code_4", 4, None, True),
        ("rate_limited_user_code_17", 17, 2446079, True),
        ("rate_limited_page_code_32", 32, None, False),
        ("rate_limited_code_613", 613, None, False),
        ("rate_limited_pages_buc_code_80001", 80001, None, True),
        ("token_expired_code_190", 190, 463, False),
        ("object_missing_or_no_permission_code_100", 100, 33, False),
    ],
)
def test_parse_error_reads_the_documented_envelopes(name: str, code: int, subcode: int | None, transient: bool) -> None:
    error = parse_error(ERRORS[name]["body"])
    assert error is not None
    assert (error.code, error.subcode, error.transient) == (code, subcode, transient)
    assert error.message == ERRORS[name]["body"]["error"]["message"][:300]


@pytest.mark.parametrize("body", [None, [], {"data": []}, {"error": "string"}, {"error": None}])
def test_parse_error_is_none_without_an_envelope(body: Any) -> None:
    assert parse_error(body) is None


def test_paging_keeps_the_after_cursor_never_the_next_url() -> None:
    body = {
        "data": [],
        "paging": {
            "cursors": {"before": "B", "after": "A1"},
            "next": "https://graph.facebook.com/v19.0/1/feed?access_token=SECRET&after=A1",
        },
    }
    assert paging_of(body) == Paging(True, {"after": "A1"})
    assert paging_of({"data": [], "paging": {"cursors": {"after": "A2"}}}) == Paging(False, {"after": "A2"})


def test_paging_without_cursors_takes_the_paging_parameters_of_next() -> None:
    following = (
        "https://graph.facebook.com/v19.0/1/feed?access_token=SECRET&limit=25&until=1714557600&__paging_token=enc_X"
    )
    assert paging_of({"data": [], "paging": {"next": following}}) == Paging(
        True, {"until": "1714557600", "__paging_token": "enc_X"}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        {"data": [], "paging": {}},
        {"data": [], "paging": {"previous": "https://x/?before=1"}},
        {"data": [], "paging": {"next": "https://x/?access_token=SECRET"}},  # a next without a position
        {"data": [], "paging": {"next": "http://[::1"}},
        [],
    ],
)
def test_paging_ends_without_a_next_it_can_follow(body: Any) -> None:
    assert not paging_of(body).more


# --- the session ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "regain_minutes"),
    [
        ("rate_limited_app_code_4", 0),
        ("rate_limited_user_code_17", 0),
        ("rate_limited_page_code_32", 0),
        ("rate_limited_code_613", 0),
        ("rate_limited_pages_buc_code_80001", 17),
    ],
)
def test_rate_limit_codes_retry_after_metas_estimate_or_the_floor(name: str, regain_minutes: int) -> None:
    session, _ = _session(_documented(name))
    with pytest.raises(Retry) as caught:
        session.get("1/feed", {})
    base = regain_minutes * 60 or THROTTLE_FLOOR_SECONDS
    assert base <= caught.value.after_seconds <= base + 1  # plus at most the first back-off's jitter
    assert f"code {ERRORS[name]['body']['error']['code']}" in caught.value.reason


def test_token_error_190_stops_the_account_without_naming_the_token() -> None:
    session, stub = _session(_documented("token_expired_code_190"))
    with pytest.raises(AccountError) as caught:
        session.get("1/feed", {})
    assert not isinstance(caught.value, InvalidRequest)
    assert caught.value.account == PAGE
    assert "Error validating access token" in caught.value.reason
    assert "code 190" in caught.value.reason
    assert TOKEN not in str(caught.value)
    url, params, headers = stub.calls[0]
    assert headers == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in url
    assert TOKEN not in str(params)


@pytest.mark.parametrize("code", [10, 200, 230, 299])
def test_permission_errors_stop_the_account(code: int) -> None:
    body = {"error": {"message": "(#200) Permissions error", "type": "OAuthException", "code": code}}
    session, _ = _session(HttpResponse(403, orjson.dumps(body)))
    with pytest.raises(AccountError, match=f"code {code}"):
        session.get("1/feed", {})


@pytest.mark.parametrize("code", [100, 803])
def test_bad_parameter_or_unknown_object_is_an_invalid_request(code: int) -> None:
    body = {"error": {"message": "Unsupported get request", "type": "GraphMethodException", "code": code}}
    session, _ = _session(HttpResponse(400, orjson.dumps(body)))
    with pytest.raises(InvalidRequest) as caught:
        session.get("1/feed", {})
    assert caught.value.code == code
    assert isinstance(caught.value, AccountError)
    assert "Unsupported get request" in caught.value.reason


@pytest.mark.parametrize(
    "response",
    [
        HttpResponse(200, b"<html>not json</html>"),
        HttpResponse(200, b"[1, 2]"),
        HttpResponse(200, b'{"nodata": true}'),
        HttpResponse(502, b"Bad gateway"),
        HttpResponse(500, orjson.dumps({"error": {"message": "Unknown", "code": 1}})),
        HttpResponse(503, orjson.dumps({"error": {"message": "Service unavailable", "code": 2, "is_transient": True}})),
        HttpResponse(400, orjson.dumps({"error": {"message": "Something new", "code": 9999}})),
        Unreachable("https://graph.example/v19.0/1/feed: ConnectTimeoutError"),
    ],
)
def test_transient_failures_and_malformed_bodies_back_off(response: HttpResponse | Exception) -> None:
    session, _ = _session(response)
    waits = []
    for _ in range(3):
        with pytest.raises(Retry) as caught:
            session.get("1/feed", {})
        waits.append(caught.value.after_seconds)
    assert waits[0] <= 1
    assert waits[1] <= 2
    assert waits[2] <= 4


def test_a_429_without_envelope_obeys_retry_after() -> None:
    session, _ = _session(HttpResponse(429, b"", {"retry-after": "120"}))
    with pytest.raises(Retry) as caught:
        session.get("1/feed", {})
    assert 120 <= caught.value.after_seconds <= 121


def test_a_throttled_success_is_returned_and_the_next_call_waits_without_asking() -> None:
    clock = FakeClock()
    usage = '{"104857600012345":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":5}]}'
    session, stub = _session(HttpResponse(200, b'{"data": []}', {"x-business-use-case-usage": usage}), clock=clock)
    assert session.get("1/feed", {}) == {"data": []}
    assert session.usage_percent == 100
    with pytest.raises(Retry) as caught:
        session.get("1/feed", {})
    assert caught.value.after_seconds == 300
    assert len(stub.calls) == 1
    clock.advance(300)
    session.get("1/feed", {})
    assert len(stub.calls) == 2


def test_a_success_resets_the_back_off() -> None:
    session, stub = _session(HttpResponse(502, b""))
    for _ in range(5):
        with pytest.raises(Retry):
            session.get("1/feed", {})
    stub.response = HttpResponse(200, b'{"data": []}')
    session.get("1/feed", {})
    assert session.backoff.attempt == 0


def test_no_token_is_an_account_error_before_any_request() -> None:
    session, stub = _session(HttpResponse(200, b'{"data": []}'), token=None)
    with pytest.raises(AccountError, match="no access token"):
        session.get("1/feed", {})
    assert stub.calls == []


def test_appsecret_proof_is_the_hmac_of_the_token() -> None:
    session, stub = _session(HttpResponse(200, b"{}"), app_secret=SecretStr("app-secret"))
    session.get("", {"ids": "1,2"}, listing=False)
    url, params, _ = stub.calls[0]
    assert url == "https://graph.example/v19.0/"
    assert params["ids"] == "1,2"
    assert params["appsecret_proof"] == hmac.new(b"app-secret", TOKEN.encode(), hashlib.sha256).hexdigest()


# --- hostile input -------------------------------------------------------------------------------------------


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["x-app-usage", "x-business-use-case-usage", "x-page-usage", "other"]),
        st.one_of(st.text(max_size=40), json_values().map(json.dumps)),
    )
)
def test_parse_usage_never_raises(headers: dict[str, str]) -> None:
    usage = parse_usage(headers)
    assert usage.percent is None or usage.percent >= 0
    assert usage.regain_seconds is None or usage.regain_seconds > 0


@FUZZ
@given(json_values(st.just("2024-05-01T10:00:00+0000"), st.just("https://x/?after=1&access_token=T")))
def test_paging_and_error_parsers_never_raise(body: Any) -> None:
    paging = paging_of({"data": [], "paging": body})
    assert paging.position is None or all(isinstance(v, str) for v in paging.position.values())
    assert paging.position is None or "access_token" not in paging.position
    parse_error({"error": body})


@FUZZ
@given(
    st.one_of(st.text(max_size=40), st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}\Z"), json_values())
)
def test_graph_time_raises_only_invalid_input(raw: Any) -> None:
    try:
        moment = graph_time(raw, "t")
    except InvalidInput:
        return
    assert moment.utcoffset() == timedelta(0)
