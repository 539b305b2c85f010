"""An agency's page in Debian's Chromium shows what its citizens ask about this week and its rising pain points,
from the listening job's lists on real chDB, and refreshes them without a reload or a request elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from pipeline.runtime.listening import ListeningJob
from pipeline.storage.store import Store
from pipeline.web.board import BoardOptions, board_app
from pipeline.web.board_server import BoardServer
from schemas.agency import Directory
from tests.helpers.fakes import FakeClock
from tests.helpers.listening import FLOODED, QUIET, burst_events, store_events

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make tools)")

# Today, not the helper's fixed date: citizen_topics keeps 7 days (its TTL drops older computations on insert).
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def board(store: Store, tiny_directory: Directory) -> Iterator[str]:
    store_events(store, tiny_directory, burst_events(END), now=END)
    ListeningJob(store, timedelta(minutes=15), clock=FakeClock(END)).refresh()
    app = board_app(store, store.database, BoardOptions(refresh_seconds=1.0), clock=lambda: END + timedelta(hours=1))
    server = BoardServer(app, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


@pytest.fixture
def page() -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page and the problems seen: page errors, console errors, requests to another host (aborted)."""
    problems: list[str] = []

    def route(request: Route) -> None:
        if urlparse(request.request.url).hostname in {"127.0.0.1", "localhost"}:
            request.continue_()
        else:
            problems.append(f"request to {request.request.url}")
            request.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        chromium = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        chromium.set_default_timeout(30_000)
        chromium.route("**/*", route)
        chromium.on("pageerror", lambda error: problems.append(str(error)))
        chromium.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        yield chromium, problems
        browser.close()


def _cells(page: Page, table: str, column: int) -> list[str]:
    cells: list[str] = page.eval_on_selector_all(
        f"#{table} tbody tr td:nth-child({column})", "cells => cells.map(c => c.textContent)"
    )
    return cells


def test_the_agency_page_shows_both_lists_and_refreshes_them(
    board: str, page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    chromium, problems = page
    chromium.goto(f"{board}agency/{FLOODED}")
    chromium.wait_for_selector("#topics-rising tbody tr")
    chromium.wait_for_selector("#topics-week tbody tr")
    assert _cells(chromium, "topics-rising", 1)[0] == "banjir"
    assert _cells(chromium, "topics-rising", 3)[0].startswith("+")
    assert _cells(chromium, "topics-rising", 4)[0].startswith("Banjir")
    assert _cells(chromium, "topics-week", 1)[0] == "banjir"
    assert chromium.inner_text("#topics-week-status").startswith("As computed")
    done = int(chromium.evaluate("document.body.dataset.listeningRefreshes"))
    chromium.wait_for_function(f"() => Number(document.body.dataset.listeningRefreshes) > {done}")
    assert _cells(chromium, "topics-week", 1)[0] == "banjir"
    assert chromium.evaluate("window.__boardCspViolations") == []
    chromium.screenshot(path=str(tmp_path / "listening.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'listening.png'}")
    assert problems == []


def test_an_agency_without_topics_says_so(board: str, page: tuple[Page, list[str]]) -> None:
    chromium, problems = page
    chromium.goto(f"{board}agency/{QUIET}")
    chromium.wait_for_selector("#topics-week .empty")
    assert "No topic this week" in chromium.inner_text("#topics-week")
    assert "No rising pain point" in chromium.inner_text("#topics-rising")
    assert problems == []
