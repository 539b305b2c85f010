"""The board's JSON views of an agency's topic lists, over real chDB after the listening job ran on a flood burst:
what citizens ask about this week and the rising pain points, filtered to the agency by a bound parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import orjson
import pytest

from pipeline.domain.needs_reply import classify
from pipeline.runtime.listening import ListeningJob
from pipeline.storage.sql.catalog import view
from pipeline.storage.store import Store
from pipeline.web.board import board_app
from pipeline.web.board_server import BoardServer
from schemas.agency import Directory
from tests.helpers.fakes import FakeClock
from tests.helpers.listening import FLOOD, FLOOD_ANSWERED, FLOODED, QUIET, burst_events, store_events

# Today, not the helper's fixed date: citizen_topics keeps 7 days (its TTL drops older computations on insert).
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def board(store: Store, tiny_directory: Directory) -> Iterator[str]:
    store_events(store, tiny_directory, burst_events(END), now=END)
    ListeningJob(store, timedelta(minutes=15), clock=FakeClock(END)).refresh()
    # The board's "now" is an hour after the lists were computed: its windows end there.
    app = board_app(store, store.database, clock=lambda: END + timedelta(hours=1))
    server = BoardServer(app, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


def _get(url: str) -> tuple[int, Any]:
    try:
        with urlopen(url, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except HTTPError as error:
        return error.code, orjson.loads(error.read())


def _rows(board: str, name: str, **query: Any) -> list[dict[str, Any]]:
    status, body = _get(f"{board}api/views/{name}?{urlencode(query, doseq=True)}")
    assert status == 200, body
    assert [c["name"] for c in body["columns"]] == list(view(name).column_names)
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def test_the_agency_page_views_answer_the_flood_first(board: str) -> None:
    rising = _rows(board, "rising_pain_points", agency=FLOODED, window="24h")
    # Pain points: unanswered flood messages that need a reply; the day before's one was a statement.
    pains = sum(classify(text).needs_reply for text in FLOOD[FLOOD_ANSWERED:])
    assert (rising[0]["term"], rising[0]["unanswered"], rising[0]["rise"]) == ("banjir", pains, pains)
    assert rising[0]["computed_at"] == END.isoformat().replace("+00:00", "Z")
    assert rising[0]["example"].startswith("Banjir")
    week = _rows(board, "citizen_topics_week", agency=FLOODED, window="7d")
    assert week[0]["term"] == "banjir"
    assert week[0]["count"] == len(FLOOD) + 1
    assert {row["agency_id"] for row in week} == {FLOODED}


def test_filters_choose_the_agencies_and_the_window_the_computation(board: str) -> None:
    # The quiet agency was asked about licences all along: its computation holds no topic, so it shows none.
    both = _rows(board, "citizen_topics_week", agency=[FLOODED, QUIET], window="7d")
    assert {row["agency_id"] for row in both} == {FLOODED}
    assert _rows(board, "citizen_topics_week", agency=QUIET) == []
    assert _rows(board, "rising_pain_points", agency="x' OR 1=1 --") == []
    assert {row["agency_id"] for row in _rows(board, "rising_pain_points", tier="federal")} == {FLOODED}
    assert _rows(board, "rising_pain_points", tier="state") == []
    # A window ending before the computation has none to show.
    before = {"since": (END - timedelta(days=1)).isoformat(), "until": (END - timedelta(minutes=1)).isoformat()}
    assert _rows(board, "citizen_topics_week", **before) == []
    assert _rows(board, "citizen_topics_week", limit="2", agency=FLOODED)[1]["rank"] == 2
