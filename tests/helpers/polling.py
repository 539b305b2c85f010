"""What the polling and streaming connector tests share: fixture accounts, set-up, driving a poller, fuzzing.

- :func:`account_context`: the :class:`AccountContext` of a fixture agency's account (pseudonyms keyed by platform).
- X (:data:`X_AGENCY_USER` ... :data:`X_DIRECTORY`) and Mastodon (:data:`MASTODON_AGENCY` ...) fixture ids that the
  polling and streaming tests of one platform read alike.
- :func:`script_answers`: a FakePlatform scripted from ``{path: [body or Answer, ...]}``; for the Graph
  pollers :func:`script_graph`, :func:`scripted_graph`, :func:`graph_run` (every round), :func:`resumed_run`
  (a restart after any round), :func:`drive_rounds` and :func:`graph_paths`.
- :func:`drain`, :func:`event_ids` and :func:`retry_waits`: driving a poller and reading what it gave.
- :class:`RandomHttp` and :func:`assert_survives_random_answers`: a poller fed drawn answers never fails, and its
  cursor always survives a JSON round trip into a fresh instance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import orjson
import pytest

from connectors.core.contracts import AccountContext, Page, PollingSource, Rejected
from connectors.core.errors import AccountError, Retry
from connectors.core.http import HttpResponse
from connectors.core.testing import FakeClock
from schemas.agency import Directory
from schemas.events import Platform
from tests.helpers.fake_platform import Answer, FakePlatform
from tests.helpers.webhooks import PSEUDO, account, agency, assert_parsed, directory

__all__ = [
    "GRAPH_PREFIX",
    "MASTODON_AGENCY",
    "MASTODON_CITIZEN",
    "MASTODON_HOST",
    "MASTODON_TOKEN",
    "X_AGENCY_REPLY",
    "X_AGENCY_USER",
    "X_CITIZEN",
    "X_CITIZEN_REPLY",
    "X_DIRECTORY",
    "X_OTHER_AGENCY_USER",
    "X_POST_ID",
    "X_QUOTE",
    "X_TOKEN_TEXT",
    "RandomHttp",
    "account_context",
    "assert_survives_random_answers",
    "drain",
    "drive_rounds",
    "event_ids",
    "graph_paths",
    "graph_run",
    "resumed_run",
    "retry_waits",
    "script_answers",
    "script_graph",
    "scripted_graph",
]

X_AGENCY_USER = "1498765432109876543"
X_OTHER_AGENCY_USER = "1400000000000000002"
X_CITIZEN = "1587654321098765432"
X_POST_ID = "1785600000000000001"
X_CITIZEN_REPLY = "1785612345678901234"
X_AGENCY_REPLY = "1785613579246801357"
X_QUOTE = "1785620000000000042"
X_TOKEN_TEXT = "test-bearer-DO-NOT-USE"
X_DIRECTORY = directory(
    agency("moh", "Kementerian Kesihatan (Fictional)", "federal", account(Platform.X, X_AGENCY_USER, "MOHfictional")),
    agency("jkm", "Jabatan Kebajikan Masyarakat (Fictional)", "state", account(Platform.X, X_OTHER_AGENCY_USER)),
)
"""The X fixtures' agencies: ``moh`` (the polled/streamed account) and ``jkm`` (another agency)."""

GRAPH_PREFIX = "/v19.0/"
"""Where the Facebook and Instagram pollers' Graph API answers are scripted."""

MASTODON_HOST = "https://social.kesihatan.example"
MASTODON_AGENCY = f"{MASTODON_HOST}/users/jknselangor"
MASTODON_CITIZEN = "https://mastodon.example/users/aisyah"
MASTODON_TOKEN = "test-token-DO-NOT-USE"


def account_context(
    found: Directory, agency_id: str, platform: Platform, since: datetime, account_id: str | None = None
) -> AccountContext:
    """The context of ``agency_id``'s first ``platform`` account (or the one ``account_id`` names)."""
    owner = found.get(agency_id)
    chosen = next(a for a in owner.accounts if a.platform is platform and account_id in (None, a.account_id))
    return AccountContext(
        agency=owner,
        account=chosen,
        directory=found,
        pseudonym=partial(PSEUDO.pseudonym, platform.value),
        since=since,
    )


def script_answers(platform: FakePlatform, answers: dict[str, list[Any]], prefix: str = "") -> None:
    """Script ``prefix + path`` with its bodies (a plain body is a 200 answer), in order."""
    for path, bodies in answers.items():
        platform.script(f"{prefix}{path}", *(b if isinstance(b, Answer) else Answer(200, b) for b in bodies))


def script_graph(platform: FakePlatform, answers: dict[str, list[Any]]) -> None:
    """:func:`script_answers` under :data:`GRAPH_PREFIX`."""
    script_answers(platform, answers, GRAPH_PREFIX)


def scripted_graph(answers: dict[str, list[Any]]) -> Iterator[FakePlatform]:
    """A FakePlatform scripted with Graph API answers under :data:`GRAPH_PREFIX` (for a fixture to ``yield from``)."""
    with FakePlatform() as server:
        script_graph(server, answers)
        yield server


def graph_paths(platform: FakePlatform) -> list[str]:
    """The paths the platform was asked for, without :data:`GRAPH_PREFIX`."""
    return [seen.path.removeprefix(GRAPH_PREFIX) for seen in platform.requests]


def drive_rounds(poller: PollingSource[Any], clock: FakeClock, calls: int) -> list[Page]:
    """``calls`` pages; after a page without ``more`` the clock moves an hour (the runner's interval)."""
    pages = []
    for _ in range(calls):
        pages.append(poller.next_page())
        if not pages[-1].more:
            clock.advance(3600)  # long enough for a new snapshot bucket
    return pages


def graph_run(
    answers: dict[str, list[Any]],
    make: Callable[[FakePlatform, FakeClock], PollingSource[Any]],
    start: datetime,
    calls: int,
) -> tuple[list[Page], list[str]]:
    """The pages of ``calls`` rounds of a poller ``make`` builds on a scripted Graph, and the paths it asked for."""
    with FakePlatform() as server:
        script_graph(server, answers)
        clock = FakeClock(start)
        pages = drive_rounds(make(server, clock), clock, calls)
        return pages, graph_paths(server)


def resumed_run(make: Callable[[FakeClock], PollingSource[Any]], start: datetime, cut: int, calls: int) -> list[Page]:
    """``cut`` rounds of one instance, then the rest from a new one resumed from its JSON round-tripped snapshot."""
    clock = FakeClock(start)
    before = make(clock)
    pages = drive_rounds(before, clock, cut)
    state = orjson.loads(orjson.dumps(before.snapshot()))  # JSON-able, as a cursor store keeps it
    after = make(clock)
    after.resume(state)
    return pages + drive_rounds(after, clock, calls - cut)


def drain(poller: PollingSource[Any], limit: int = 20) -> list[Page]:
    """Pages from ``poller`` until one says there is no more (at most ``limit``)."""
    pages = [poller.next_page()]
    while pages[-1].more and len(pages) < limit:
        pages.append(poller.next_page())
    return pages


def event_ids(pages: list[Page]) -> list[str]:
    """The event ids of the pages' events, in order (rejections left out)."""
    return [item.event_id for page in pages for item in page.items if not isinstance(item, Rejected)]


def retry_waits(poller: PollingSource[Any], count: int, match: str | None = None) -> list[float]:
    """The waits of ``count`` pages in a row that must each raise :class:`Retry` (its reason matching ``match``)."""
    waits = []
    for _ in range(count):
        with pytest.raises(Retry, match=match) as caught:
            poller.next_page()
        waits.append(caught.value.after_seconds)
    return waits


class RandomHttp:
    """An HttpClient answering each GET with the next drawn (status, body): the poller must cope with anything."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers

    def get(self, url: str, *, params: Any = None, headers: Any = None) -> HttpResponse:
        """The next drawn answer, then empty data pages."""
        status, body = self.answers.pop(0) if self.answers else (200, {"data": []})
        return HttpResponse(status, json.dumps(body).encode())


def assert_survives_random_answers(
    poller: PollingSource[Any], rounds: int, fresh: Callable[[], PollingSource[Any]]
) -> None:
    """``rounds`` pages, each Retry, AccountError or parsed items; its cursor resumes in a ``fresh()`` instance."""
    for _ in range(rounds):
        try:
            page = poller.next_page()
        except (Retry, AccountError):
            continue
        assert_parsed(page.items)
        state = orjson.loads(orjson.dumps(poller.snapshot()))
        again = fresh()
        again.resume(state)
        assert again.snapshot() == state
