"""``serambi deadletters``: what was rejected, why, from where, with its raw value masked.

Read-only: from the running stack of the data dir, else its local ClickHouse; a data dir without data is an
error, never created.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import click
import orjson

from pipeline.cli.common import SINCE, friendly, read_settings_of
from schemas.privacy import Pseudonymizer

if TYPE_CHECKING:
    from pipeline.storage.sql.deadletters import StoredDeadLetter

__all__ = ["deadletters", "split_location"]

# Reasons start with where the input was: "line 3: not JSON", "row 7: tweet_id is missing", "tweet 12: ...".
_LOCATION = re.compile(r"^((?:line|row|tweet) [^:\s]+): (.*)$", re.DOTALL)
_REASON_WIDTH = 60
_RAW_WIDTH = 50


def split_location(reason: str) -> tuple[str, str]:
    """``("line 3", "not JSON: ...")`` from ``"line 3: not JSON: ..."``; ``("", reason)`` when it names no place."""
    match = _LOCATION.match(reason)
    return (match.group(1), match.group(2)) if match else ("", reason)


@click.command("deadletters")
@click.option("--since", type=SINCE, default=None, help="Received at or after: ISO-8601, or an age (30m, 24h, 7d).")
@click.option(
    "--stage", type=click.Choice(["connector", "worker"]), default=None, help="Only this stage [default: both]."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest first, at most this many."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
@friendly
def deadletters(ctx: click.Context, since: datetime | None, stage: str | None, limit: int, fmt: str) -> None:
    """Show dead letters: when, stage, source, type, line/row, reason and the masked raw value.

    \b
    stage   connector: refused before Kafka (a bad line or row of an import, an invalid API payload);
            worker: refused by the worker (a record it cannot decode or store)
    type    not_json, schema, invalid_row, unknown_account, poison, ...
    where   the line/row of the file, or the tweet id, when the input had one
    raw     the input as stored: citizen ids pseudonymised, numbers/handles/e-mails masked (***)
    """
    from pipeline.runtime.engine import open_read_engine  # noqa: PLC0415 - may open chDB
    from pipeline.storage.sql.deadletters import DeadLetterFilter, latest_dead_letters  # noqa: PLC0415

    with open_read_engine(read_settings_of(ctx)) as engine:
        letters, total = latest_dead_letters(engine.queries, engine.database, DeadLetterFilter(since, stage, limit))
        print_dead_letters(engine.source, letters, total, fmt, click.echo)


def print_dead_letters(
    source: str, letters: list[StoredDeadLetter], total: int, fmt: str, say: Callable[[str], None]
) -> None:
    """Print ``letters`` (``fmt`` = table or json); ``total`` is how many matched before the limit."""
    rows = [_row(letter) for letter in letters]
    if fmt == "json":
        say(orjson.dumps({"source": source, "total": total, "dead_letters": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    say(f"dead letters: {source}: showing {len(rows):,} of {total:,} (newest first)")
    if not rows:
        return
    head = f"{'received (UTC)':<20} {'stage':<9} {'source':<10} {'type':<15} {'where':<12} "
    say(head + f"{'reason':<{_REASON_WIDTH}} raw")
    for row in rows:
        say(
            f"{row['received_at'][:19].replace('T', ' '):<20} {row['stage']:<9} {row['source']:<10} "
            f"{row['error_type']:<15} {row['where']:<12} {_cut(row['reason'], _REASON_WIDTH):<{_REASON_WIDTH}} "
            f"{_cut(row['raw'], _RAW_WIDTH)}"
        )


def _row(letter: StoredDeadLetter) -> dict[str, str]:
    where, reason = split_location(letter.reason)
    return {
        "received_at": letter.received_at.isoformat(),
        "stage": letter.stage,
        "source": letter.source,
        "error_type": letter.error_type,
        "where": where,
        "reason": reason,
        # Masked when stored; masked again here, so a letter stored by an older version shows no ids either.
        "raw": Pseudonymizer.mask_text(letter.raw),
    }


def _cut(text: str, width: int) -> str:
    # One terminal line: control characters of binary input would move the cursor or change colours.
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"
