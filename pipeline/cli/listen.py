"""``serambi listen``: listening on citizens' messages, offline (no broker, no ClickHouse, no network).

``serambi listen classify FILE`` says for every JSON line's ``text`` whether it needs an agency's reply, the cue
that decided and the language (:mod:`pipeline.domain.needs_reply`). Output is one JSON line per input line, in
order. Lines that are not a JSON object with a string ``text`` are skipped with one stderr line each, naming
the line number; the valid lines are still classified, and the command then exits 1, so a script notices.
Blank lines are skipped silently (a trailing newline is no error).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import click
import orjson

from pipeline.cli.common import friendly

__all__ = ["listen", "listen_classify"]

_TEXT_WIDTH = 70
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


@click.group()
def listen() -> None:
    """Listening: what citizens' messages ask for (offline; reads files, writes stdout)."""


@dataclass(frozen=True, slots=True)
class _BadLine:
    number: int
    problem: str


@listen.command("classify")
@click.argument("file", type=click.File("rb"), metavar="FILE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "table"]),
    default="jsonl",
    show_default=True,
    help="jsonl: {text, needs_reply, reason, language} per line, in input order; table: for reading.",
)
@friendly
def listen_classify(file: IO[bytes], fmt: str) -> None:
    """Does each message need a reply? FILE (`-` = stdin) has JSON lines with a `text` field (others ignored).

    Each output line says needs_reply (true: question, request, complaint, problem report, emergency; false:
    thanks, praise, greetings, tags, statements, jokes, spam), the deciding cue as the reason ("question
    word: bila", "request: tolong", "thanks: terima kasih", "emoji only") and the language (ms, en, mixed).
    A line that is not a JSON object with a string `text` is reported on stderr with its line number and
    skipped; the others are classified, then the exit status is 1.
    """
    from pipeline.domain.needs_reply import classify  # noqa: PLC0415 - loads the lexicons only when asked

    out = click.get_binary_stream("stdout")
    bad: list[_BadLine] = []
    counts = [0, 0]  # messages, of which need a reply
    if fmt == "table":
        out.write(f"{'reply':<6} {'lang':<6} {'reason':<36} text\n".encode())
    for item in _texts(file, bad):
        verdict = classify(item)
        counts[0] += 1
        counts[1] += verdict.needs_reply
        if fmt == "jsonl":
            record = {"text": item, "needs_reply": verdict.needs_reply, "reason": verdict.reason}
            out.write(orjson.dumps({**record, "language": verdict.language}) + b"\n")
        else:
            reply = "yes" if verdict.needs_reply else "no"
            out.write(f"{reply:<6} {verdict.language:<6} {verdict.reason:<36} {_short(item)}\n".encode())
    if fmt == "table":
        share = f" ({counts[1] / counts[0]:.0%})" if counts[0] else ""
        out.write(f"{counts[0]} message(s), {counts[1]} need a reply{share}\n".encode())
    out.flush()
    if bad:
        name = _name(file)
        for line in bad:
            click.echo(f"{name}:{line.number}: {line.problem}; line skipped", err=True)
        msg = f"{len(bad)} line(s) of {name} skipped (listed above): give each line a JSON object with a string `text`"
        raise click.ClickException(msg)


def _texts(file: IO[bytes], bad: list[_BadLine]) -> Iterator[str]:
    """The ``text`` of every valid line, in order; invalid lines go to ``bad``."""
    for number, raw in enumerate(file, start=1):
        if not raw.strip():
            continue
        try:
            record: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            bad.append(_BadLine(number, f"not JSON ({exc})"))
            continue
        if not isinstance(record, dict):
            bad.append(_BadLine(number, f"{_json_type(record)}, not a JSON object"))
        elif "text" not in record:
            bad.append(_BadLine(number, "no `text` field"))
        elif not isinstance(record["text"], str):
            bad.append(_BadLine(number, f"`text` is {_json_type(record['text'])}, not a string"))
        else:
            yield record["text"]


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "null")


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _TEXT_WIDTH else flat[: _TEXT_WIDTH - 1] + "…"


def _name(file: IO[bytes]) -> str:
    name = getattr(file, "name", "-")
    return "<stdin>" if name in ("-", "<stdin>") or file is sys.stdin.buffer else str(name)
