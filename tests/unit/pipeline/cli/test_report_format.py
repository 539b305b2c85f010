"""How ``print_report`` renders rows: human ages that keep the table aligned, CSV, and JSON with its window."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
import orjson
import pytest

from pipeline.cli.report import ReportHeading, human_duration, print_report
from pipeline.storage.sql.report import REPORT_FIELDS

DAY = 86400.0


def _row(agency_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REPORT_FIELDS)
    row.update(agency_id=agency_id, citizen_messages=0, answered=0, pending=0, overdue=0, backlog=0)
    row["class"] = "insufficient_data"
    row.update(values)
    return row


def _print(rows: list[dict[str, Any]], fmt: str, sort: str = "reply_rate", **kwargs: Any) -> list[str]:
    out: list[str] = []
    print_report(rows, fmt, sort, out.append, **kwargs)
    return [click.unstyle(text) for text in out]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0s"),
        (45, "45s"),
        (119.4, "119s"),
        (1020, "17m"),
        (5 * 3600 + 12 * 60, "5h 12m"),
        (3 * DAY + 4 * 3600, "3d 4h"),
        (420 * DAY, "420d"),
        (20786 * DAY, "56.9y"),  # an epoch-seconds time read as 1970, aged to 2026
        (2915424.6 * DAY, ">999y"),  # an --until in year 9999
    ],
)
def test_ages_read_in_human_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_every_age_fits_the_table_and_keeps_it_aligned() -> None:
    ages = [45.0, 3 * DAY + 4 * 3600, 729 * DAY, 20786 * DAY, 2915424.6 * DAY, 1e30]
    rows = [_row(f"agency{i}", oldest_unanswered_seconds=age, backlog=1) for i, age in enumerate(ages)]
    lines = _print(rows, "table", sort="agency_id")
    header, *body = lines
    assert len(body) == len(ages)
    assert {len(line) for line in body} == {len(header)}
    assert [line[-9:].strip() for line in body] == ["45s", "3d 4h", "729d", "56.9y", ">999y", ">999y"]


def test_a_long_agency_id_widens_its_column_instead_of_shifting_the_others() -> None:
    lines = _print([_row("a-very-long-agency-identifier"), _row("mbpp")], "table", sort="agency_id")
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("a-very-long-agency-identifier ")


def test_csv_has_every_field_raw_in_the_table_order() -> None:
    rows = [
        _row("b", reply_rate=0.5, oldest_unanswered_seconds=20786 * DAY, backlog=2),
        _row("a", reply_rate=0.75),
        _row("c"),
    ]
    table = list(csv.DictReader(io.StringIO("\n".join(_print(rows, "csv")))))
    assert [r["agency_id"] for r in table] == ["a", "b", "c"]  # highest reply rate first, undefined last
    assert tuple(table[0]) == REPORT_FIELDS
    assert table[1]["reply_rate"] == "0.5"
    assert table[1]["oldest_unanswered_seconds"] == str(20786 * DAY)
    assert table[2]["reply_rate"] == ""


def test_json_carries_the_window_in_its_zone_and_the_generation_time() -> None:
    kl = ZoneInfo("Asia/Kuala_Lumpur")
    heading = ReportHeading(
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 5, 6, 30, tzinfo=UTC),
        kl,
        datetime(2026, 11, 5, 6, 30, 1, tzinfo=UTC),
    )
    [text] = _print([_row("mbpp")], "json", heading=heading)
    body = orjson.loads(text)
    assert body == {
        "window": {
            "since": "2026-11-01T00:00:00+08:00",
            "until": "2026-11-05T14:30:00+08:00",
            "tz": "Asia/Kuala_Lumpur",
        },
        "generated_at": "2026-11-05T14:30:01+08:00",
        "agencies": [_row("mbpp")],
    }
    table = _print([_row("mbpp")], "table", heading=heading)
    assert table[-1].startswith("window: 2026-11-01 00:00 to 2026-11-05 14:30 Asia/Kuala_Lumpur")


def test_json_without_a_heading_keeps_its_agencies() -> None:
    # The demo prints its closing report with the original four arguments.
    [text] = _print([_row("mbpp")], "json")
    body = orjson.loads(text)
    assert body["agencies"] == [_row("mbpp")]
    assert body["window"] is None
    assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None
    assert "window:" not in "\n".join(_print([_row("mbpp")], "table"))
