"""``serambi report --format html``: one self-contained page with every agency, its charts, and no other host."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.cli.report import ReportHeading, print_report
from pipeline.storage.sql.report import REPORT_FIELDS
from pipeline.web.report_page import render_report

UNTIL = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=7)


def _row(agency: str, **figures: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REPORT_FIELDS)
    row.update(
        agency_id=agency,
        citizen_messages=0,
        answered=0,
        pending=0,
        overdue=0,
        agency_posts=0,
        agency_replies=0,
        backlog=0,
        **{"class": "insufficient_data"},
    )
    row.update(figures)
    return row


ROWS = [
    _row(
        "jpj",
        **{"class": "dinner_party"},
        citizen_messages=120,
        answered=100,
        overdue=5,
        reply_rate=0.952381,
        sla_compliance=0.8,
        median_response_seconds=5400.0,
        p90_response_seconds=30000.0,
        two_way_ratio=0.7,
        pull_share=0.1,
        backlog=20,
        oldest_unanswered_seconds=90000.0,
    ),
    _row(
        "metmy",
        **{"class": "soapbox"},
        citizen_messages=400,
        answered=40,
        overdue=300,
        reply_rate=0.117647,
        sla_compliance=0.05,
        median_response_seconds=200000.0,
        p90_response_seconds=400000.0,
        two_way_ratio=0.05,
    ),
    _row("o'brien<script>alert(1)</script>"),
]


def _page(rows: list[dict[str, Any]] = ROWS) -> str:
    return render_report(rows, since=SINCE, until=UNTIL, generated_at=UNTIL, tz=ZoneInfo("Asia/Kuala_Lumpur"))


def test_the_page_holds_every_agency_and_no_other_host() -> None:
    html = _page()
    assert html.startswith("<!doctype html>")
    for agency in ("jpj", "metmy", "o&#x27;brien&lt;script&gt;alert(1)&lt;/script&gt;"):
        assert f'<td class="u-text">{agency}</td>' in html
    assert "<script" not in html  # the hostile id is text; the page has no script at all
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(src|href)\s*=""", html)  # nothing to load: styles and charts are inline
    assert "<style>" in html


def test_the_page_draws_its_charts_from_the_rows() -> None:
    html = _page()
    quadrant = html[html.index('class="quadrant"') : html.index("</svg>", html.index('class="quadrant"'))]
    assert quadrant.count("<circle") == 2  # agencies with a reply rate and a two-way ratio
    assert 'class="dot-dinner_party"' in quadrant
    assert "Not shown: 1 of 3 agencies" in html
    assert html.count('class="bars"') == 2
    assert "95%" in html  # reply rate, as the table prints it
    assert "90m" in html  # median response, human readable
    assert "2026-10-29 16:00 to 2026-11-05 16:00 (Asia/Kuala_Lumpur)" in html


def test_an_empty_report_is_still_a_page() -> None:
    html = _page([])
    assert "No agency yet." in html
    assert "</html>" in html


def test_the_command_prints_the_rows_in_its_sort_order() -> None:
    lines: list[str] = []
    heading = ReportHeading(SINCE, UNTIL, UTC, UNTIL)
    print_report([dict(r) for r in ROWS], "html", "citizen_messages", lines.append, heading=heading)
    html = "".join(lines)
    order = [html.index(f'<td class="u-text">{agency}</td>') for agency in ("metmy", "jpj")]
    assert order == sorted(order)  # most messages first, as the table would print them
    assert "2026-10-29 08:00 to 2026-11-05 08:00 (UTC)" in html
