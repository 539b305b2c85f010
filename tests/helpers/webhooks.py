"""What the webhook connector tests share: the fixture agencies, payloads, the checks of every parse, fuzzing.

- :data:`PSEUDO` and :func:`directory` (of :func:`agency` and :func:`account`); :data:`META_DIRECTORY` holds the
  agencies of the Facebook and Instagram fixtures (tests/fixtures/payloads/facebook, .../instagram), which the
  Facebook, Instagram and MetaWebhook tests read alike.
- :func:`parsed_fixture`, :func:`graph_delivery` and :func:`lower_case_names`: payloads and deliveries.
- :func:`assert_parsed`, :func:`one`, :func:`parse_cleanly` and :func:`assert_published_without`: what every
  parse must give (events that survive the schema, or rejections), and that publishing hides citizens.
- :func:`fuzz_settings`, :func:`json_values`, :func:`mutated`, :func:`fuzz_never_raises` and
  :func:`fuzz_webhook_never_raises`: hostile input (random JSON, mutated fixtures) never raises.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.core.contracts import Parsed, Rejected, WebhookSource, publish_all
from connectors.core.publisher import Publisher
from connectors.core.testing import ListRecordSink, load_payload
from schemas.agency import Account, Agency, Directory
from schemas.events import EVENT_ADAPTER, Change, Event, Interaction, Platform, Post, Reaction
from schemas.privacy import Pseudonymizer
from schemas.topics import EVENTS
from tests.helpers.paths import PAYLOADS

__all__ = [
    "FACEBOOK_OTHER_PAGE",
    "FACEBOOK_PAGE",
    "INSTAGRAM_ACCOUNT",
    "INSTAGRAM_OTHER_ACCOUNT",
    "META_DIRECTORY",
    "PSEUDO",
    "account",
    "agency",
    "assert_parsed",
    "assert_published_without",
    "at",
    "directory",
    "fuzz_never_raises",
    "fuzz_settings",
    "fuzz_webhook_never_raises",
    "graph_delivery",
    "json_values",
    "lower_case_names",
    "mutated",
    "one",
    "parse_cleanly",
    "parsed_fixture",
]

PSEUDO = Pseudonymizer(SecretStr("test-key"))
"""The pseudonymizer of every webhook test (a fixed key, so pseudonyms are stable across tests)."""

FACEBOOK_PAGE = "104857600012345"
FACEBOOK_OTHER_PAGE = "200000000000001"
INSTAGRAM_ACCOUNT = "17841400000012345"
INSTAGRAM_OTHER_ACCOUNT = "17841400000099999"


def account(platform: Platform, account_id: str, handle: str | None = None) -> Account:
    """One official account of a test agency."""
    return Account(platform=platform, account_id=account_id, handle=handle)


def agency(agency_id: str, name: str, tier: str, *accounts: Account) -> Agency:
    """A test agency with its accounts (every other setting at its default)."""
    return Agency(id=agency_id, name=name, tier=tier, accounts=accounts)


def directory(*agencies: Agency) -> Directory:
    """A test agency directory."""
    return Directory(agencies=agencies)


META_DIRECTORY = directory(
    agency(
        "jkns",
        "Jabatan Kesihatan Negeri Selangor (Fictional)",
        "state",
        account(Platform.FACEBOOK, FACEBOOK_PAGE),
        account(Platform.INSTAGRAM, INSTAGRAM_ACCOUNT, "jknselangor_rasmi_fic"),
    ),
    agency(
        "kkm",
        "Kementerian (Fictional)",
        "federal",
        account(Platform.FACEBOOK, FACEBOOK_OTHER_PAGE),
        account(Platform.INSTAGRAM, INSTAGRAM_OTHER_ACCOUNT),
    ),
)
"""The agencies of the Meta fixtures: jkns (the Page and Instagram account delivered to), kkm (another agency)."""


# --- payloads and deliveries -----------------------------------------------------------------------------------


def parsed_fixture(parse: Callable[[Any], list[Parsed]], *path: str) -> Any:
    """A module-scoped pytest fixture: the payload file ``PAYLOADS/<path>``, parsed once by ``parse``.

    >>> batch = parsed_fixture(_parse, "facebook", "webhook_feed_batch.json")  # the fixture "batch"  # doctest: +SKIP
    """

    def parsed() -> list[Parsed]:
        return parse(load_payload(PAYLOADS.joinpath(*path)))

    return pytest.fixture(scope="module")(parsed)


def graph_delivery(obj: str, account_id: Any, time: Any, changes: Iterable[Any]) -> dict[str, Any]:
    """A Meta Graph delivery ``{"object": obj, "entry": [...]}`` of one entry holding ``changes``."""
    return {"object": obj, "entry": [{"id": account_id, "time": time, "changes": list(changes)}]}


def lower_case_names(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with lower-case names, as the ingress hands them to ``verify``."""
    return {name.lower(): value for name, value in headers.items()}


def at(seconds: int) -> datetime:
    """Unix seconds as an aware UTC time."""
    return datetime.fromtimestamp(seconds, UTC)


# --- what every parse must give --------------------------------------------------------------------------------


def assert_parsed(items: Iterable[Parsed], reason_prefix: str = "") -> list[Event]:
    """Assert each item is a rejection whose reason starts with ``reason_prefix``, or an event that survives a
    JSON round trip through the schema; return the events.
    """
    events: list[Event] = []
    for item in items:
        if isinstance(item, Rejected):
            assert item.reason.startswith(reason_prefix), item
            continue
        assert isinstance(item, Post | Interaction | Reaction | Change), item
        assert EVENT_ADAPTER.validate_python(item.model_dump(mode="json")) == item
        events.append(item)
    return events


def one(items: Sequence[Parsed]) -> Event:
    """The one event of ``items`` (which must hold exactly one item, not a rejection)."""
    assert len(items) == 1, items
    assert not isinstance(items[0], Rejected), items[0]
    return items[0]


def parse_cleanly(webhook: WebhookSource, payloads: Iterable[Any], reason_prefix: str = "") -> list[Parsed]:
    """Every payload (a deep copy) through ``webhook.parse``: all items, asserted events and no rejection."""
    items: list[Parsed] = []
    for number, payload in enumerate(payloads):
        parsed = webhook.parse(copy.deepcopy(payload))
        assert_parsed(parsed, reason_prefix)
        assert not [item for item in parsed if isinstance(item, Rejected)], number
        items.extend(parsed)
    return items


def assert_published_without(
    items: Sequence[Parsed], directory: Directory, source: str, kept: str, hidden: Iterable[str]
) -> None:
    """Publish ``items`` through a real Publisher: assert it accepts every one, and that the event records hold
    ``kept`` (an agency's id, never pseudonymised) and none of ``hidden`` (citizens' ids and handles).
    """
    sink = ListRecordSink()
    publisher = Publisher(sink, pseudonymizer=PSEUDO, partitions=2, source=source, directory=directory)
    assert publish_all(publisher, items) == len(items)
    records = b"".join(record.value for record in sink.on(EVENTS.name))
    assert kept.encode() in records
    for citizen in hidden:
        assert citizen.encode() not in records, citizen


# --- hostile input ---------------------------------------------------------------------------------------------


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of a fuzz test: ``examples`` runs, or SERAMBI_FUZZ_EXAMPLES (e.g. 10000) for a long
    campaign, like tests/unit/fuzz; no deadline, and no health check against slow or large data.
    """
    runs = int(os.environ.get("SERAMBI_FUZZ_EXAMPLES", str(examples)))
    return settings(
        max_examples=runs, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


def json_values(
    *leaves: st.SearchStrategy[Any], finite: bool = True, key_size: int = 12, width: int = 4, max_leaves: int = 100
) -> st.SearchStrategy[Any]:
    """Random JSON-like values: scalars (and ``leaves``, e.g. the platform's ids and times) in lists and objects.

    Args:
        leaves: more scalar strategies, beside null, booleans, integers, floats and short text.
        finite: no NaN and no infinity among the floats (default).
        key_size: the longest object key; width: the most keys of an object (lists hold 3 at most).
        max_leaves: how many scalars one value holds at the most.
    """
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=not finite, allow_infinity=not finite),
        st.text(max_size=20),
        *leaves,
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=key_size), inner, max_size=width),
        max_leaves=max_leaves,
    )


@st.composite
def mutated(
    draw: st.DrawFn,
    value: Any,
    noise: st.SearchStrategy[Any],
    keys: Sequence[str] = (),
    *,
    replace: int = 12,
    drop: int = 10,
    change: int = 4,
) -> Any:
    """``value`` with some nodes replaced by ``noise`` and some keys dropped, changed or added.

    Each node becomes ``noise`` one time in ``replace``; each key of an object is dropped one time in ``drop``
    and its value mutated ``change`` times in ``drop``; one object in six gains a key of ``keys`` (if any).
    """
    if draw(st.integers(0, replace - 1)) == 0:
        return draw(noise)
    again = {"replace": replace, "drop": drop, "change": change}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            roll = draw(st.integers(0, drop - 1))
            if roll == 0:
                continue
            out[key] = draw(mutated(item, noise, keys, **again)) if roll <= change else item
        if keys and draw(st.integers(0, 5)) == 0:
            out[draw(st.sampled_from(keys))] = draw(noise)
        return out
    if isinstance(value, list):
        return [draw(mutated(item, noise, keys, **again)) for item in value]
    return value


_FUZZ = fuzz_settings(150)


def fuzz_never_raises(
    parse: Callable[[Any], list[Parsed]], payloads: st.SearchStrategy[Any], reason_prefix: str
) -> Callable[..., None]:
    """A fuzz test: ``parse`` turns every drawn payload into events and rejections (:func:`assert_parsed`).

    >>> test_random_json_never_raises = fuzz_never_raises(parse, json_values(), "x: ")  # doctest: +SKIP
    """

    @_FUZZ
    @given(payload=payloads)
    def test(payload: Any) -> None:
        assert_parsed(parse(payload), reason_prefix)

    return test


def fuzz_webhook_never_raises(
    webhook: Callable[[], WebhookSource], payloads: st.SearchStrategy[Any], reason_prefix: str
) -> Callable[..., None]:
    """A fuzz test: one new ``webhook()`` fed a few drawn deliveries in turn parses each (:func:`assert_parsed`)."""

    @_FUZZ
    @given(deliveries=st.lists(payloads, min_size=1, max_size=6))
    def test(deliveries: list[Any]) -> None:
        source = webhook()
        for payload in deliveries:
            assert_parsed(source.parse(payload), reason_prefix)

    return test
