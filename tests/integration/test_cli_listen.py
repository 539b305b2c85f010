"""`serambi listen classify` as a user runs it: a real process, files and stdin, no stack needed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from pipeline.domain.needs_reply import classify
from tests.helpers.paths import FIXTURES
from tests.helpers.processes import SERAMBI, cli_env, run_cli

CORPUS = FIXTURES / "listening" / "needs_reply.jsonl"


def _serambi(args: list[str], env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SERAMBI, *args], env=env, input=stdin, capture_output=True, timeout=120, check=False)


def _lines(*records: object) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def test_every_line_is_classified_in_order_with_its_text_and_nothing_else(tmp_path: Path) -> None:
    source = tmp_path / "messages.jsonl"
    source.write_bytes(
        _lines(
            {"id": 1, "text": "Air tak ada dari pagi, bila nak pulih", "author": "ps1:00"},
            {"text": "Terima kasih JKR! 🙏"},
            {"text": "@ps1:0123456789abcdef0123456789abcdef"},
            {"text": "Can I renew my passport online?", "extra": {"nested": True}},
        )
    )
    result = run_cli(["listen", "classify", str(source)], cli_env(tmp_path))
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == [
        {
            "text": "Air tak ada dari pagi, bila nak pulih",
            "needs_reply": True,
            "reason": "question word: bila nak",
            "language": "ms",
        },
        {"text": "Terima kasih JKR! 🙏", "needs_reply": False, "reason": "thanks: terima kasih", "language": "ms"},
        {
            "text": "@ps1:0123456789abcdef0123456789abcdef",
            "needs_reply": False,
            "reason": "tag only",
            "language": "mixed",
        },
        {
            "text": "Can I renew my passport online?",
            "needs_reply": True,
            "reason": "question word: can i",
            "language": "en",
        },
    ]


def test_stdin_and_the_whole_corpus_give_the_verdicts_of_the_domain_module(tmp_path: Path) -> None:
    result = _serambi(["listen", "classify", "-"], cli_env(tmp_path), stdin=CORPUS.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    rows = [orjson.loads(line) for line in CORPUS.read_bytes().splitlines()]
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(rows) >= 400
    for row, line in zip(rows, out, strict=True):
        verdict = classify(row["text"])
        assert line == {
            "text": row["text"],
            "needs_reply": verdict.needs_reply,
            "reason": verdict.reason,
            "language": verdict.language,
        }


def test_bad_lines_are_named_by_number_skipped_and_make_the_exit_status_1(tmp_path: Path) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(
        _lines({"text": "bila nak siap"})
        + b"this is not json\n"
        + b"\n"  # blank lines are skipped silently
        + _lines({"id": 7}, ["text"], {"text": None}, {"text": "tq!"})
    )
    result = _serambi(["listen", "classify", str(source)], cli_env(tmp_path))
    assert result.returncode == 1
    assert [orjson.loads(line)["text"] for line in result.stdout.splitlines()] == ["bila nak siap", "tq!"]
    errors = result.stderr.decode()
    assert f"{source}:2: not JSON" in errors
    assert f"{source}:4: no `text` field; line skipped" in errors
    assert f"{source}:5: an array, not a JSON object; line skipped" in errors
    assert f"{source}:6: `text` is null, not a string; line skipped" in errors
    assert f"4 line(s) of {source} skipped" in errors
    assert ":3:" not in errors
    assert "Traceback" not in errors


def test_the_table_is_for_reading(tmp_path: Path) -> None:
    stdin = _lines(
        {"text": "Tolong hantar bot, air naik!"},
        {"text": "Selamat pagi semua"},
        {"text": "Hujan lebat lagi hari ini " * 8},
    )
    result = _serambi(["listen", "classify", "--format", "table", "-"], cli_env(tmp_path), stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["reply", "lang", "reason", "text"]
    assert lines[1].split()[:2] == ["yes", "ms"]
    assert "Tolong hantar bot, air naik!" in lines[1]
    assert lines[2].split()[:2] == ["no", "ms"]
    assert "greeting: selamat pagi" in lines[2]
    assert lines[3].endswith("…")
    assert len(lines[3]) < 150
    assert lines[4] == "3 message(s), 1 need a reply (33%)"


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = _serambi(["listen", "classify", str(tmp_path / "nope.jsonl")], cli_env(tmp_path))
    assert result.returncode == 2
    assert "nope.jsonl" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
