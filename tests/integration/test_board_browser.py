"""The web board in Debian's Chromium (Playwright, no browser download): it lists every sample agency, draws its
charts, sorts, opens an agency's page, refreshes without a reload, and never asks another host for anything.

Screenshots are saved under each test's tmp dir (CI keeps them as artifacts); their paths are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import urlopen

import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from pipeline.storage.sql.report import ReportWindow, build_report
from pipeline.web.board import BoardOptions, board_app
from pipeline.web.board_server import BoardServer
from pipeline.web.report_page import render_report
from schemas.agency import Directory
from tests.helpers.catalog_data import LoadedStack, load_simulation

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost"}
ROWS = "#leaderboard tbody tr[data-key]"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make tools)")


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, sample_directory: Directory
) -> Iterator[LoadedStack]:
    stack = load_simulation(tmp_path_factory.mktemp("board-browser"), chdb_dir, sample_directory)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def board(loaded: LoadedStack) -> Iterator[str]:
    # Refresh every second, so a refresh happens within the test.
    app = board_app(loaded.store, loaded.database, BoardOptions(refresh_seconds=1.0))
    server = BoardServer(app, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


class Watched:
    """A page whose every request is routed: loopback ones go on, others are aborted and recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _route(self, route: Route) -> None:
        if urlparse(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def csp_violations(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__boardCspViolations")
        return violations


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen = Watched(page)
    yield seen
    context.close()
    assert seen.elsewhere == [], f"requests that would have left this machine: {seen.elsewhere}"
    assert seen.errors == [], seen.errors


def _api(board: str, path: str) -> Any:
    with urlopen(board + path, timeout=60) as response:
        return orjson.loads(response.read())


def _screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def _open(watched: Watched, url: str, agencies: int) -> Page:
    page = watched.page
    page.goto(url)
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === {agencies}")
    return page


def test_board_lists_every_agency_and_draws_its_charts(
    board: str, watched: Watched, sample_directory: Directory, tmp_path: Path
) -> None:
    ids = sorted(a.id for a in sample_directory.agencies)
    page = _open(watched, board, len(ids))
    assert sorted(page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.dataset.key)")) == ids
    bubbles = _api(board, "api/views/quadrant?window=7d")["rows"]
    plotted = [r for r in bubbles if r["two_way_ratio"] is not None and r["reply_rate"] is not None]
    assert plotted, "the simulation gives agencies a reply rate and a two-way ratio"
    page.wait_for_function(f"() => document.querySelectorAll('#quadrant svg circle').length === {len(plotted)}")
    # uPlot drew on its canvas: some pixel is not transparent.
    page.wait_for_selector("#trend-reply canvas")
    painted = page.evaluate(
        """() => { const c = document.querySelector('#trend-reply canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; }"""
    )
    assert painted
    legend = page.inner_text("#class-legend")
    assert all(label in legend for label in ("Dinner party", "Mixed", "Soapbox", "Insufficient data"))
    assert watched.csp_violations() == []
    _screenshot(page, tmp_path / "board.png")


def _column(page: Page, key: str) -> list[str]:
    values: list[str] = page.eval_on_selector_all(
        f"{ROWS} td[data-key='{key}']", "cells => cells.map(c => c.dataset.value)"
    )
    return values


def test_clicking_a_column_header_sorts_the_leaderboard(
    board: str, watched: Watched, sample_directory: Directory
) -> None:
    page = _open(watched, board, len(sample_directory.agencies))
    page.click("th button[data-sort='citizen_messages']")
    page.wait_for_selector("th[aria-sort='descending'] button[data-sort='citizen_messages']")
    messages = [int(v) for v in _column(page, "citizen_messages")]
    assert messages == sorted(messages, reverse=True)
    assert messages[0] > messages[-1]  # an order to check, not all equal
    page.click("th button[data-sort='citizen_messages']")
    page.wait_for_selector("th[aria-sort='ascending'] button[data-sort='citizen_messages']")
    assert [int(v) for v in _column(page, "citizen_messages")] == sorted(messages)
    page.click("th button[data-sort='median_response_seconds']")
    page.wait_for_selector("th[aria-sort='descending'] button[data-sort='median_response_seconds']")
    medians = _column(page, "median_response_seconds")
    known = [float(v) for v in medians if v]
    assert known == sorted(known, reverse=True)
    assert medians[len(known) :] == [""] * (len(medians) - len(known))  # agencies without one go last


def test_an_agency_page_shows_its_figures(
    board: str, watched: Watched, sample_directory: Directory, tmp_path: Path
) -> None:
    page = _open(watched, board, len(sample_directory.agencies))
    agency = sample_directory.get("jpj")
    page.click(f"{ROWS}[data-key='jpj'] a")
    page.wait_for_url("**/agency/jpj*")
    page.wait_for_function("() => document.body.dataset.refreshes >= 1")
    assert page.inner_text("#agency-name") == agency.name
    row = _api(board, "api/views/leaderboard?window=7d&agency=jpj")["rows"][0]
    shown = page.inner_text(".kpi[data-key='citizen_messages'] .kpi-value")
    assert shown == f"{row['citizen_messages']:,}"
    assert page.inner_text(".kpi[data-key='reply_rate'] .kpi-value") == f"{round(100 * row['reply_rate'])}%"
    assert watched.csp_violations() == []
    _screenshot(page, tmp_path / "agency.png")


def test_figures_refresh_without_reloading_the_page(board: str, watched: Watched, sample_directory: Directory) -> None:
    page = _open(watched, board, len(sample_directory.agencies))
    page.wait_for_function("() => document.body.dataset.refreshes >= 1")
    page.evaluate("window.__sameDocument = 'kept'")
    before = page.get_attribute("#updated-at", "datetime")
    done = int(page.evaluate("document.body.dataset.refreshes"))
    page.wait_for_function(f"() => Number(document.body.dataset.refreshes) > {done}")
    assert page.evaluate("window.__sameDocument") == "kept"  # a reload would have dropped it
    assert page.get_attribute("#updated-at", "datetime") != before


def test_the_window_picker_reloads_the_figures_for_that_window(
    board: str, watched: Watched, sample_directory: Directory
) -> None:
    page = _open(watched, board, len(sample_directory.agencies))
    page.click("#windows button:text-is('24h')")
    page.wait_for_function("() => document.getElementById('window-label').textContent.startsWith('last 24 hours')")
    assert page.url.endswith("?window=24h")
    day = {r["agency_id"]: r["citizen_messages"] for r in _api(board, "api/views/leaderboard?window=24h")["rows"]}
    page.wait_for_function(
        f"""() => {{ const want = {orjson.dumps(day).decode()};
                     return [...document.querySelectorAll("{ROWS}")].every(
                       r => Number(r.querySelector("td[data-key='citizen_messages']").dataset.value)
                            === want[r.dataset.key]); }}"""
    )


def test_a_request_to_another_host_is_refused_and_caught(board: str, watched: Watched) -> None:
    # What guards every test above, shown to work. The board's own policy refuses another host's URL in the
    # browser; the tests' route sees and aborts whatever a page would still ask.
    page = watched.page
    page.goto(board)
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("fetch('https://cdn.example.org/lib.js').catch(() => null)")
    with pytest.raises(PlaywrightError):
        page.goto("https://cdn.example.org/")
    assert watched.elsewhere == ["https://cdn.example.org/"]
    watched.elsewhere.clear()
    watched.errors.clear()


def test_the_html_report_renders_offline(loaded: LoadedStack, watched: Watched, tmp_path: Path) -> None:
    window = ReportWindow(loaded.since, loaded.until)
    rows = build_report(loaded.store, loaded.database, window)
    page = watched.page
    page.set_content(render_report(rows, since=loaded.since, until=loaded.until))
    agencies = page.eval_on_selector_all(".data tbody tr td:first-child", "cells => cells.map(c => c.textContent)")
    assert sorted(agencies) == sorted(row["agency_id"] for row in rows)
    assert page.locator(".quadrant circle").count() == sum(
        1 for row in rows if row["two_way_ratio"] is not None and row["reply_rate"] is not None
    )
    assert page.locator("svg.bars rect").count() > 0
    _screenshot(page, tmp_path / "report.png")
