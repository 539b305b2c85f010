"""`serambi report` and `serambi status` options, run as a user runs them, on data imported by `serambi import`.

One data dir for the module (the import starts the real embedded stack once): agency ``kesihatan`` posts, is
asked 12 questions and answers 8 of them; ``kerjaraya`` is asked 12 and says nothing; a copy of one question dated in
2099 (a source with a wrong clock, stored before ingest refused such times) is written straight to ClickHouse.
"""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime, timedelta

import click
import orjson
import pytest

from pipeline.storage.rows import event_json
from pipeline.storage.sql.report import REPORT_FIELDS
from tests.helpers.events import T0, make_event
from tests.helpers.processes import SERAMBI, cli_env, run_cli, run_python

# Two agencies of the packaged sample directory, with one X account each.
TALKER, TALKER_ACCOUNT = "kesihatan", "1458392012345670101"
SILENT, SILENT_ACCOUNT = "kerjaraya", "1458392012345670202"
QUESTIONS = 12
ANSWERED = 8


def _events() -> list[bytes]:
    talker = {"agency_id": TALKER, "account_id": TALKER_ACCOUNT}
    post = make_event("post", post_id="p1", event_id="x:p1", created_at=T0, **talker)
    lines = [event_json(post)]
    for n in range(QUESTIONS):
        asked = T0 + timedelta(minutes=5 + n)
        question = make_event("comment", message_id=f"q{n}", event_id=f"x:q{n}", created_at=asked, **talker)
        lines.append(event_json(question))
        silent = {"agency_id": SILENT, "account_id": SILENT_ACCOUNT, "root_id": "p2", "parent_id": "p2"}
        lines.append(
            event_json(make_event("comment", message_id=f"s{n}", event_id=f"x:s{n}", created_at=asked, **silent))
        )
        if n < ANSWERED:
            reply = make_event(
                "reply",
                message_id=f"a{n}",
                event_id=f"x:a{n}",
                parent_id=f"q{n}",
                parent_author_id=question.author_id,  # type: ignore[union-attr]
                author_id=TALKER_ACCOUNT,
                created_at=asked + timedelta(minutes=30),
                **talker,
            )
            lines.append(event_json(reply))
    return lines


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("report")
    env = cli_env(tmp)
    events = tmp / "events.jsonl"
    events.write_bytes(b"\n".join(_events()) + b"\n")
    run_cli(["import", "jsonl", str(events)], env)
    # A stored question again, as a wrong clock dated it (the rows' own insert path: JSONEachRow).
    code = """
from datetime import UTC, datetime
from pipeline.settings import load_settings
from pipeline.storage.store import Store
s = Store(load_settings())
[row] = s.query("SELECT * EXCEPT ingested_at FROM serambi.interactions FINAL WHERE event_id = 'x:q0'").dicts()
row.update(event_id="x:future", message_id="future", created_at=datetime(2099, 6, 1, tzinfo=UTC))
s.insert("interactions", list(row), [list(row.values())])
s.close()
"""
    run_python(code, env)
    return env


def _fails(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SERAMBI, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _json(args: list[str], env: dict[str, str]) -> dict[str, object]:
    body = orjson.loads(run_cli(["report", "--format", "json", *args], env).stdout)
    assert isinstance(body, dict)
    return body


def _rows(body: dict[str, object]) -> dict[str, dict[str, object]]:
    agencies = body["agencies"]
    assert isinstance(agencies, list)
    return {row["agency_id"]: row for row in agencies}


def test_an_unknown_agency_is_an_error_naming_close_matches(env: dict[str, str]) -> None:
    result = _fails(["report", "--agency", "kesihatn"], env)
    assert result.returncode == 2  # a usage error, like any bad option value
    assert "no agency 'kesihatn'" in result.stderr
    assert "did you mean kesihatan" in result.stderr
    known = _fails(["report", "--agency", "zzzz-nothing-like-it"], env)
    assert "known agencies:" in known.stderr
    assert SILENT in known.stderr
    assert list(_rows(_json(["--agency", TALKER], env))) == [TALKER]


def test_since_after_until_is_refused(env: dict[str, str]) -> None:
    result = _fails(["report", "--since", "2026-11-03", "--until", "2026-11-02"], env)
    assert "is not before --until" in result.stderr
    same = _fails(["report", "--since", "2026-11-02T10:00+08:00", "--until", "2026-11-02T02:00Z"], env)
    assert "is not before --until" in same.stderr  # the same instant: an empty window


def test_times_with_offsets_and_a_time_zone_mean_the_same_instants(env: dict[str, str]) -> None:
    # 02:00-02:10 UTC holds the post and the first five questions of each agency.
    utc = _json(["--since", "2026-11-02T02:00", "--until", "2026-11-02T02:10"], env)
    offset = _json(["--since", "2026-11-02T10:00+08:00", "--until", "2026-11-02T10:10+08:00"], env)
    zoned = _json(["--since", "2026-11-02T10:00", "--until", "2026-11-02 10:10", "--tz", "Asia/Kuala_Lumpur"], env)
    assert _rows(utc)[TALKER]["citizen_messages"] == 5
    assert _rows(utc)[TALKER]["agency_posts"] == 1
    assert utc["agencies"] == offset["agencies"] == zoned["agencies"]
    assert zoned["window"] == {
        "since": "2026-11-02T10:00:00+08:00",
        "until": "2026-11-02T10:10:00+08:00",
        "tz": "Asia/Kuala_Lumpur",
    }
    assert utc["window"] == {"since": "2026-11-02T02:00:00+00:00", "until": "2026-11-02T02:10:00+00:00", "tz": "UTC"}
    bad = _fails(["report", "--tz", "Asia/Kuala_Lumpr"], env)
    assert "did you mean Asia/Kuala_Lumpur" in bad.stderr


@pytest.mark.parametrize(("window", "days"), [("30d", 30), ("90d", 90)])
def test_longer_rolling_windows(env: dict[str, str], window: str, days: int) -> None:
    body = _json(["--window", window], env)
    span = body["window"]
    assert isinstance(span, dict)
    since, until = datetime.fromisoformat(span["since"]), datetime.fromisoformat(span["until"])
    assert until == datetime.fromisoformat(str(body["generated_at"]))
    assert until - since == timedelta(days=days)


def test_calendar_windows_in_the_time_zone(env: dict[str, str]) -> None:
    kl = ["--tz", "Asia/Kuala_Lumpur"]
    month = _json(["--window", "month", *kl], env)["window"]
    quarter = _json(["--window", "quarter", *kl], env)["window"]
    assert isinstance(month, dict)
    assert isinstance(quarter, dict)
    start = datetime.fromisoformat(month["since"])
    assert (start.day, start.hour, start.minute, start.utcoffset()) == (1, 0, 0, timedelta(hours=8))
    assert datetime.fromisoformat(month["until"]).month == start.month
    first = datetime.fromisoformat(quarter["since"])
    assert (first.month % 3, first.day, first.hour) == (1, 1, 0)
    assert first <= start
    november = _json(["--window", "month:2026-11", "--agency", TALKER], env)
    assert _rows(november)[TALKER]["citizen_messages"] == QUESTIONS
    october = _json(["--window", "quarter:2026-Q4", *kl], env)["window"]
    assert isinstance(october, dict)
    assert october["since"] == "2026-10-01T00:00:00+08:00"
    bad = _fails(["report", "--window", "month:2026-13"], env)
    assert "no such month" in bad.stderr


def test_csv_is_a_header_and_raw_numbers(env: dict[str, str]) -> None:
    window = ["--since", "2026-11-01", "--until", "2026-11-05", "--sort", "agency_id"]
    text = run_cli(["report", "--format", "csv", *window], env).stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert table
    assert tuple(table[0]) == REPORT_FIELDS
    assert [row["agency_id"] for row in table] == sorted(row["agency_id"] for row in table)
    rows = _rows(_json(window, env))
    for row in table:
        want = rows[row["agency_id"]]
        assert row == {k: "" if v is None else str(v) for k, v in want.items()}
    assert table[[r["agency_id"] for r in table].index(TALKER)]["reply_rate"] == str(round(ANSWERED / QUESTIONS, 6))


def test_json_says_its_window_and_when_it_was_made(env: dict[str, str]) -> None:
    before = datetime.now(UTC)
    body = _json([], env)
    assert list(body) == ["window", "generated_at", "agencies"]
    assert body["window"] == {"since": None, "until": body["generated_at"], "tz": "UTC"}
    made = datetime.fromisoformat(str(body["generated_at"]))
    assert made >= before.replace(microsecond=0)


def test_an_agency_that_said_nothing_is_insufficient_data_not_a_soapbox(env: dict[str, str]) -> None:
    rows = _rows(_json(["--until", "2026-11-20"], env))
    silent = rows[SILENT]
    assert silent["citizen_messages"] == QUESTIONS
    assert silent["agency_posts"] == silent["agency_replies"] == 0
    assert silent["class"] == "insufficient_data"
    assert rows[TALKER]["class"] == "dinner_party"  # 8 of 12 answered; 8 replies of 9 outputs


def test_status_and_report_count_the_same_events(env: dict[str, str]) -> None:
    status = orjson.loads(run_cli(["status", "--format", "json"], env).stdout)
    report = _rows(_json([], env))
    for agency, kinds in status["agencies"].items():
        citizen = sum(n for kind, n in kinds.items() if kind.startswith("citizen_"))
        assert citizen == report[agency]["citizen_messages"], agency
        assert kinds.get("post", 0) == report[agency]["agency_posts"], agency
    assert status["future_events"] == {"events": 1, "earliest": "2099-06-01T00:00:00+00:00"}
    table = run_cli(["status"], env).stdout
    assert "not counted: 1 stored event(s) dated after now (earliest 2099-06-01" in table


def test_times_beyond_the_stored_range_are_refused(env: dict[str, str]) -> None:
    result = _fails(["report", "--until", "9999-12-31"], env)
    assert "out of range" in result.stderr
    assert "--until" in result.stderr


def test_ages_far_in_the_future_keep_the_table_aligned(env: dict[str, str]) -> None:
    lines = [click.unstyle(line) for line in run_cli(["report", "--until", "2099-12-31"], env).stdout.splitlines()]
    header, *rows, footer = lines
    assert footer.startswith("window: all data to 2099-12-31 00:00 UTC")
    assert {len(line) for line in rows} == {len(header)}
    tdemo = next(line for line in rows if line.startswith(f"{TALKER} "))
    assert tdemo.split()[-1] == "73.2y"  # the oldest unanswered question, asked 2026-11-02


def test_help_explains_columns_classes_and_windows() -> None:
    result = subprocess.run([SERAMBI, "report", "--help"], capture_output=True, text=True, timeout=60, check=True)
    for text in (
        "reply%    answered / (answered + overdue)",
        "needs%    reply% of the messages that need a reply",
        "insufficient_data",
        "soapbox",
        "quarter:2026-Q4",
    ):
        assert text in result.stdout, text
