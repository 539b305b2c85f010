"""``serambi listen``: listening on citizens' messages.

``serambi listen classify`` works offline (no broker, no ClickHouse, no network); ``serambi listen topics``
reads the stored messages, from the running stack of the data dir or its store (as ``serambi report`` does).

``serambi listen classify FILE`` says for every JSON line's ``text`` whether it needs an agency's reply, the cue
that decided and the language (:mod:`pipeline.domain.needs_reply`). Output is one JSON line per input line, in
order. Lines that are not a JSON object with a string ``text`` are skipped with one stderr line each, naming
the line number; the valid lines are still classified, and the command then exits 1, so a script notices.
Blank lines are skipped silently (a trailing newline is no error).

``serambi listen topics`` says what citizens ask each agency about in a window: the terms of its messages
that set them apart from its own history (:mod:`pipeline.domain.topics`), with their counts, how many are
still unanswered, their rise against the previous window and a few redacted examples. JSON output is one
object per line, one per agency (sorted by id); with ``--agency`` that is a single object.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from pipeline.cli.common import check_agency, friendly, read_settings_of
from pipeline.cli.run import IsoTime
from pipeline.domain.windows import REPORT_WINDOWS

if TYPE_CHECKING:
    from pipeline.domain.topics import Topic
    from pipeline.storage.query import QueryEngine
    from pipeline.storage.sql.topics import TopicSpan, TopicTexts

__all__ = ["listen", "listen_classify", "listen_topics"]

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
    """Listening: what citizens' messages ask for (classify: offline, on files) and about (topics: stored data)."""


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


_TOPICS_LEGEND = """\b
Terms: words and two-word phrases, lower-cased, abbreviations expanded (x -> tidak, tq -> thank you), links,
@handles and ps1: pseudonyms removed, Malay and English stop words (stopwordsiso) left out. A term's score is
its weighted log-odds z-score (informative Dirichlet prior, Monroe et al. 2008) of this window against the
agency's history: the 4 windows before it. Only terms in at least --min-count messages scoring --min-score.
\b
Columns: count = messages holding the term; open = of them, unanswered at the window's end (no reply yet);
prev = messages holding it in the window before; rise = count - prev; example: one, redacted. Messages
removed before the window's end are left out.
\b
--unanswered compares pain points with pain points: the window's messages that need a reply (the stored
needs_reply verdict) and are unanswered at its end, against the earlier windows' messages that need a reply
and were unanswered at the end of their own window (as the board's rising pain points)."""


class _Until(click.ParamType):
    """``latest`` (just after the latest stored citizen message) or an ISO-8601 time (UTC unless it has an offset)."""

    name = "TIME|latest"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime | str:
        if value == "latest":
            return "latest"
        try:
            return _TIME.convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is neither `latest` nor an ISO-8601 time (e.g. 2026-11-05T08:00+08:00)", param, ctx)


_TIME = IsoTime()


@listen.command("topics", epilog=_TOPICS_LEGEND)
@click.option("--agency", default=None, help="Only this agency id [default: every agency with messages].")
@click.option("--window", type=click.Choice(list(REPORT_WINDOWS)), default="7d", show_default=True)
@click.option("--until", type=_Until(), default=None, help="The window's end: a time, or `latest` [default: now].")
@click.option(
    "--unanswered",
    is_flag=True,
    help="Pain points only: messages that need a reply, unanswered at their window's end, in every window.",
)
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True, help="Topics per agency.")
@click.option("--min-count", type=click.IntRange(1), default=3, show_default=True, help="Messages a topic needs.")
@click.option(
    "--min-score", type=float, default=1.0, show_default=True, help="Score a topic needs (0: any term used more)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one object per agency per line, {agency, window, since, until, messages, unanswered, topics}.",
)
@click.pass_context
@friendly
def listen_topics(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    agency: str | None,
    window: str,
    until: datetime | str | None,
    unanswered: bool,
    top: int,
    min_count: int,
    min_score: float,
    fmt: str,
) -> None:
    """What citizens ask each agency about: the terms setting this window's messages apart from its history."""
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.report import agency_ids  # noqa: PLC0415
    from pipeline.storage.sql.topics import TopicTexts, latest_message, topic_texts  # noqa: PLC0415
    from pipeline.storage.topic_lists import topic_span  # noqa: PLC0415

    settings = read_settings_of(ctx)
    with open_read_engine(settings) as engine:
        if agency is not None:
            check_agency(agency, agency_ids(engine.queries, engine.database))
        end = _window_end(until, engine.queries, engine.database, agency, latest_message)
        span = topic_span(end, REPORT_WINDOWS[window], agency)
        texts = topic_texts(engine.queries, engine.database, span, pain_points=unanswered)
    if agency is not None:
        texts.setdefault(agency, TopicTexts())
    out = click.get_text_stream("stdout")
    for name in sorted(texts):
        limits = {"top": top, "min_count": min_count, "min_score": min_score}
        record = _agency_topics(name, window, span, texts[name], unanswered=unanswered, limits=limits)
        out.write(orjson.dumps(record).decode() + "\n" if fmt == "json" else _table(record))
    if not texts and fmt == "table":
        out.write(f"no citizen messages from {_iso(span.since)} to {_iso(span.until)}\n")
    out.flush()


def _window_end(
    until: datetime | str | None,
    engine: QueryEngine,
    database: str,
    agency: str | None,
    latest: Callable[[QueryEngine, str, str | None], datetime | None],
) -> datetime:
    if until is None:
        return datetime.now(UTC)
    if isinstance(until, datetime):
        return until.astimezone(UTC)
    moment = latest(engine, database, agency)
    if moment is None:
        msg = "no citizen message is stored yet, so `--until latest` has no time: import or run something first"
        raise click.BadParameter(msg, param_hint="'--until'")
    # The end is excluded: the next whole second keeps the latest message in the window (and reads well).
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _agency_topics(  # noqa: PLR0913 - an agency's part of the output
    agency: str, window: str, span: TopicSpan, texts: TopicTexts, *, unanswered: bool, limits: dict[str, Any]
) -> dict[str, Any]:
    from pipeline.storage.topic_lists import rank_texts  # noqa: PLC0415 - loads the lexicons only when asked

    ranked = rank_texts(texts, pain_points=unanswered, **limits)
    return {
        "agency": agency,
        "window": window,
        "since": _iso(span.since),
        "until": _iso(span.until),
        "messages": ranked.messages,
        "unanswered": ranked.unanswered,
        "topics": [_topic_json(topic) for topic in ranked.topics],
    }


def _topic_json(topic: Topic) -> dict[str, Any]:
    record = asdict(topic)
    record["examples"] = list(topic.examples)
    return record


def _table(record: dict[str, Any]) -> str:
    head = (
        f"{record['agency']}: {record['messages']} message(s), {record['unanswered']} unanswered, "
        f"{record['window']} to {record['until']}"
    )
    lines = [head, f"  {'term':<24} {'score':>7} {'count':>6} {'open':>5} {'prev':>5} {'rise':>5}  example"]
    for topic in record["topics"]:
        example = _short(topic["examples"][0]) if topic["examples"] else ""
        lines.append(
            f"  {topic['term']:<24} {topic['score']:>7.2f} {topic['count']:>6} {topic['unanswered']:>5} "
            f"{topic['previous']:>5} {topic['rise']:>+5}  {example}"
        )
    if not record["topics"]:
        lines.append("  no topic: too few messages, or none used more than before")
    return "\n".join(lines) + "\n\n"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
