"""``serambi report``: the cross-agency table in the terminal, or JSON or CSV for other tools."""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import click
import orjson

from pipeline.cli.common import check_agency, friendly, read_settings_of
from pipeline.domain.classify import ClassThresholds
from pipeline.domain.windows import CALENDAR_WINDOWS, REPORT_WINDOWS, report_window
from pipeline.storage.sql.report import ALL_DATA, REPORT_FIELDS
from pipeline.web.report_page import human_duration, render_report
from schemas.timeutil import LATEST_EVENT

__all__ = ["ReportHeading", "human_duration", "print_report", "report"]

_COLOURS = {"dinner_party": "green", "mixed": "yellow", "soapbox": "red", "insufficient_data": "bright_black"}
_COLUMNS = (
    ("agency_id", "agency", 18),
    ("class", "class", 18),
    ("citizen_messages", "msgs", 7),
    ("answered", "answered", 9),
    ("pending", "pending", 8),
    ("overdue", "overdue", 8),
    ("removed", "removed", 8),
    ("needs_reply_messages", "needs", 7),
    ("reply_rate", "reply%", 7),
    ("needs_reply_rate", "needs%", 7),
    ("sla_compliance", "sla%", 6),
    ("median_response_seconds", "median", 9),
    ("p90_response_seconds", "p90", 9),
    ("two_way_ratio", "2-way", 6),
    ("pull_share", "pull%", 6),
    ("backlog", "backlog", 8),
    ("oldest_unanswered_seconds", "oldest", 9),
)
_T = ClassThresholds()
_LEGEND = f"""\b
Columns (--format json and csv give every field, raw: ratios 0-1, times in seconds):
  msgs      citizen messages asked in the window
  answered  of them, answered before the window's end
  pending   unanswered, still within the SLA; overdue: unanswered past it
  removed   removed (by the citizen or a moderator) before any answer: neither answered nor overdue
  needs     of the msgs, those that need a reply (a question, request, complaint: serambi listen classify)
  reply%    answered / (answered + overdue); sla%: answered within the SLA / (answered + overdue)
  needs%    reply% of the messages that need a reply
  median    median time to the first reply; p90: its 90th percentile
  2-way     replies / (replies + posts): how much of the agency's output answers someone
  pull%     share of posts linking to an official domain
  backlog   messages unanswered at the window's end, whatever their age; oldest: the oldest one's age
  Ages read s, m, h, d, y (years); "-" is a figure without data (e.g. nothing answered yet).
\b
Classes (defaults of pipeline/domain/classify.py):
  dinner_party       2-way >= {_T.dinner_min_two_way:.0%} and reply% >= {_T.dinner_min_reply_rate:.0%}: it converses
  soapbox            2-way <= {_T.soapbox_max_two_way:.0%} or reply% <= {_T.soapbox_max_reply_rate:.0%}: it broadcasts
  mixed              in between
  insufficient_data  too little to judge: under {_T.min_messages} messages and under {_T.min_output} posts + replies,
                     or under {_T.min_style_output} post or reply (an agency that said nothing is no soapbox)
\b
Windows: 24h, 7d, 30d, 90d (rolling, ending now); month, quarter (the current calendar
month or quarter in --tz, so far); month:2026-10, quarter:2026-Q4 (a whole one).
Times: ISO-8601, with an offset or in --tz: 2026-11-05, 2026-11-05T08:00+08:00."""


@dataclass(frozen=True)
class ReportHeading:
    """What a report covers: ``[since, until)`` (``since`` None = all data), shown in ``tz``, made at ``generated_at``.

    Example: ``ReportHeading(None, datetime.now(UTC))`` for a report over all data until now, in UTC.
    """

    since: datetime | None
    until: datetime
    tz: tzinfo = UTC
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        """``{"window": {"since", "until", "tz"}, "generated_at"}``, ISO-8601 times with the zone's offset."""
        local = self._local
        window = {"since": local(self.since) if self.since else None, "until": local(self.until), "tz": str(self.tz)}
        return {"window": window, "generated_at": local(self.generated_at)}

    def line(self) -> str:
        """One line for the end of the table."""
        since = f"{self.since.astimezone(self.tz):%Y-%m-%d %H:%M}" if self.since else "all data"
        return (
            f"window: {since} to {self.until.astimezone(self.tz):%Y-%m-%d %H:%M} {self.tz} "
            "(statuses judged at its end); columns and classes: serambi report --help"
        )

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).isoformat(timespec="seconds")


class _Instant(click.ParamType):
    """An ISO-8601 time; naive ones are read in ``--tz`` by the command."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-05, 2026-11-05T08:00+08:00)", param, ctx)


@click.command(epilog=_LEGEND)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="html: one self-contained page (table and charts, no external file or URL), e.g. > report.html.",
)
@click.option("--since", type=_Instant(), default=None, help="Start, ISO-8601 [default: all data].")
@click.option("--until", type=_Instant(), default=None, help="End (excluded), statuses judged here [default: now].")
@click.option(
    "--window",
    default=None,
    metavar="WINDOW",
    help=f"Instead of --since/--until: {', '.join([*REPORT_WINDOWS, *CALENDAR_WINDOWS])}, month:YYYY-MM, "
    "quarter:YYYY-Qn.",
)
@click.option(
    "--tz",
    "tz_name",
    default="UTC",
    show_default=True,
    envvar="SERAMBI_TZ",
    show_envvar=True,
    help="IANA time zone (e.g. Asia/Kuala_Lumpur) of times without an offset, calendar windows and the output.",
)
@click.option("--agency", default=None, help="Only this agency id.")
@click.option("--sort", type=click.Choice(REPORT_FIELDS), default="reply_rate", show_default=True)
@click.pass_context
@friendly
def report(  # noqa: PLR0913 - one per CLI option
    ctx: click.Context,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    window: str | None,
    tz_name: str,
    agency: str | None,
    sort: str,
) -> None:
    """Cross-agency report: do agencies answer citizens, how fast, and are they soapboxes or dinner parties?"""
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.report import ReportWindow, agency_ids, build_report  # noqa: PLC0415

    tz = _zone(tz_name)
    heading = _heading(_bounded(since, tz, "--since"), _bounded(until, tz, "--until"), window, tz)
    settings = read_settings_of(ctx)
    span = ReportWindow(
        since=heading.since or ALL_DATA,
        until=heading.until,
        agency_id=agency,
        default_sla_hours=settings.sla_hours,
    )
    with open_read_engine(settings) as engine:
        if agency is not None:
            check_agency(agency, agency_ids(engine.queries, engine.database))
        print_report(build_report(engine.queries, engine.database, span), fmt, sort, click.echo, heading=heading)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "use an IANA name such as Asia/Kuala_Lumpur or UTC"
        msg = f"unknown time zone {name!r}: {hint}"
        raise click.BadParameter(msg, param_hint="'--tz'") from None


def _bounded(moment: datetime | None, tz: tzinfo, option: str) -> datetime | None:
    # A time beyond what can be stored only makes absurd ages: say so instead (the year test first, as a time
    # within a day of year 9999 cannot even be shifted to UTC).
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    if not (ALL_DATA.year <= moment.year < LATEST_EVENT.year and ALL_DATA <= aware.astimezone(UTC) <= LATEST_EVENT):
        msg = (
            f"{moment.isoformat()} is out of range: give a time from {ALL_DATA:%Y-%m-%d} to {LATEST_EVENT:%Y-%m-%d} "
            f"(or leave {option} out: {'all data' if option == '--since' else 'now'})"
        )
        raise click.BadParameter(msg, param_hint=f"'{option}'")
    return aware.astimezone(UTC)


def _heading(since: datetime | None, until: datetime | None, window: str | None, tz: tzinfo) -> ReportHeading:
    now = datetime.now(UTC)
    if window is not None:
        if since is not None or until is not None:
            msg = "--window replaces --since/--until: give one or the other"
            raise click.UsageError(msg)
        try:
            since, until = report_window(window, now, tz)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--window'") from None
    until = until or now
    if since is not None and since >= until:
        msg = (
            f"--since {since.astimezone(tz).isoformat(timespec='seconds')} is not before "
            f"--until {until.astimezone(tz).isoformat(timespec='seconds')}"
            f"{'' if until != now else ' (now)'}: give a --since earlier than --until"
        )
        raise click.UsageError(msg)
    return ReportHeading(since, until, tz, now)


def print_report(
    rows: list[dict[str, Any]],
    fmt: str,
    sort: str,
    say: Callable[[str], None],
    *,
    heading: ReportHeading | None = None,
) -> None:
    """Print report rows as a coloured table sorted by ``sort`` (agencies without the figure last), JSON or CSV.

    ``heading`` says what the report covers: JSON gets its ``window`` (null without a heading) and
    ``generated_at``; the table ends with a line about it; the HTML page is headed by it. ``fmt`` is ``table``,
    ``json``, ``csv`` or ``html``.
    """
    if fmt == "json":
        meta = heading.as_json() if heading else {"window": None, "generated_at": _now_iso()}
        say(orjson.dumps({**meta, "agencies": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    descending = sort not in ("agency_id", "class")
    known = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=descending)
    rows = known + [r for r in rows if r[sort] is None]  # agencies without the figure go last
    if fmt == "csv":
        say(_csv(rows))
        return
    if fmt == "html":
        say(_html(rows, heading))
        return
    first = max([_COLUMNS[0][2], *(len(str(r["agency_id"])) + 1 for r in rows)])
    widths = [first, *(width for _, _, width in _COLUMNS[1:])]
    say(
        "".join(
            f"{title:>{w}}" if i else f"{title:<{w}}"
            for i, ((_, title, _), w) in enumerate(zip(_COLUMNS, widths, strict=True))
        )
    )
    for row in rows:
        say(
            "".join(_cell(key, row[key], w, i) for i, ((key, _, _), w) in enumerate(zip(_COLUMNS, widths, strict=True)))
        )
    if not rows:
        say("no agencies yet")
    if heading is not None:
        say(heading.line())


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _html(rows: list[dict[str, Any]], heading: ReportHeading | None) -> str:
    heading = heading or ReportHeading(None, datetime.now(UTC))
    return render_report(
        rows, since=heading.since, until=heading.until, generated_at=heading.generated_at, tz=heading.tz
    ).rstrip("\n")


def _csv(rows: list[dict[str, Any]]) -> str:
    # Raw numbers (ratios 0-1, seconds) and empty cells for undefined figures: what a spreadsheet sums.
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_FIELDS)
    writer.writerows([["" if row[f] is None else row[f] for f in REPORT_FIELDS] for row in rows])
    return out.getvalue().rstrip("\n")


def _cell(key: str, value: Any, width: int, index: int) -> str:
    if key == "class":
        return click.style(f"{value:>{width}}", fg=_COLOURS.get(str(value)))
    if value is None:
        text = "-"
    elif key.endswith(("_rate", "_compliance", "_share", "_ratio")):
        text = f"{100 * value:.0f}"
    elif key.endswith("_seconds"):
        text = human_duration(float(value))
    else:
        text = str(value)
    return f"{text:<{width}}" if index == 0 else f"{text:>{width}}"
