"""The citizen messages ``serambi listen topics`` reads: a window's, the one before it, and the history before that.

Terms are found in Python (:mod:`pipeline.domain.topics`: the normaliser is Python), so these queries return
texts, not counts. Duplicates (redeliveries not merged yet) collapse on the raw table's ReplacingMergeTree key
(``LIMIT 1 BY``); every scan is bounded by ``[history_since, until)``, and at most :data:`MAX_TEXTS` texts per
period and agency are returned (the newest), so a big agency's history costs a bounded read, never a failure.

Each message comes with whether it needs a reply (``interactions.needs_reply``, migration 0011) and whether it
was *unanswered at its period's end*: no agency reply before the end of the window it falls in (the window's
end, or for an earlier message the end of its own window-long slice of the history: ``since - k * window``).
So the unanswered messages of the window and of the windows before had the same time to be answered: a rising
pain point compares like with like. A message removed before ``until`` (its first closure is a removal,
:data:`~pipeline.domain.matching.CLOSED_BY_REMOVAL`) is left out of every period: it is neither a topic nor an
example. A message keeps the text it was first stored with (an edit arrives as a change of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

from pipeline.domain.matching import CLOSED_BY_REMOVAL, CLOSED_BY_REPLY
from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from pipeline.storage.sql.fragments import answered_sql, citizen_message_sql, closed_sql, param
from schemas.tables import INTERACTIONS, RESPONSE_FACTS

__all__ = [
    "MAX_TEXTS",
    "Period",
    "Text",
    "TopicSpan",
    "TopicTexts",
    "latest_message",
    "topic_texts",
    "topic_texts_sql",
]

MAX_TEXTS: Final = 20_000
"""At most this many texts per period and agency, the newest: ranking 60,000 texts takes a few seconds, and the
read stays far below the read session's row limit. A busier agency's oldest history is then left out."""

Period = Literal["window", "previous", "history"]
_SINCE, _PREVIOUS, _HISTORY, _UNTIL = (
    param(name, DATETIME_PARAM) for name in ("since", "previous", "history", "until")
)
_AGENCY = param("agency", "String")
_WINDOW_MS = param("window_ms", "Int64")
_ROW_KEY = "agency_id, account_id, created_at, event_id"  # the raw table's ReplacingMergeTree key
_MESSAGE = "platform, account_id, message_id"


@dataclass(frozen=True)
class TopicSpan:
    """``[since, until)`` is the window; ``[previous, since)`` the one before; ``[history, since)`` the history.

    ``agency`` None reads every agency. Example: ``TopicSpan(t - 28 * day, t - 14 * day, t - 7 * day, t)``.
    """

    history: datetime
    previous: datetime
    since: datetime
    until: datetime
    agency: str | None = None


class Text(NamedTuple):
    """A message's text, whether it was unanswered at its period's end, and whether it needs a reply at all."""

    text: str
    unanswered: bool = False
    needs_reply: bool = True

    @property
    def pain_point(self) -> bool:
        """It needs a reply and had none by its period's end."""
        return self.unanswered and self.needs_reply


@dataclass
class TopicTexts:
    """One agency's message texts by period, newest first."""

    window: list[Text] = field(default_factory=list)
    previous: list[Text] = field(default_factory=list)
    history: list[Text] = field(default_factory=list)  # the previous window's texts among them


def _agency_filter(span: TopicSpan) -> str:
    return "" if span.agency is None else f" AND agency_id = {_AGENCY}"


def _parameters(span: TopicSpan) -> dict[str, Any]:
    values: dict[str, Any] = {"since": span.since, "previous": span.previous, "history": span.history}
    values["until"] = span.until
    values["window_ms"] = max(1, round((span.until - span.since).total_seconds() * 1000))
    if span.agency is not None:
        values["agency"] = span.agency
    return values


def topic_texts_sql(database: str, span: TopicSpan, *, pain_points: bool = False, max_texts: int = MAX_TEXTS) -> str:
    """Rows ``(agency_id, period, text, unanswered, needs_reply)``: citizen messages with text in ``[history, until)``.

    ``pain_points``: only those that need a reply and were unanswered at their period's end (module docstring);
    ``max_texts``: the newest this many per period and agency.
    """
    where = _agency_filter(span)
    # Each message's first closure before `until` (the highest version among them is the earliest closure).
    facts = f"""
        SELECT {_MESSAGE}, earliest.1 AS answered_at, earliest.2 AS closed_by FROM (
            SELECT {_MESSAGE}, argMax(tuple(answered_at, closed_by), version) AS earliest
            FROM {database}.{RESPONSE_FACTS}
            WHERE asked_at >= {_HISTORY} AND asked_at < {_UNTIL} AND {answered_sql("answered_at", _UNTIL)}{where}
            GROUP BY {_MESSAGE})"""
    # The end of the window-long slice a message falls in: the window's end, or since - k * window before it.
    ago_ms = f"toUnixTimestamp64Milli({_SINCE}) - toUnixTimestamp64Milli(i.created_at)"
    period_end = (
        f"if(i.created_at >= {_SINCE}, {_UNTIL}, "
        f"subtractMilliseconds({_SINCE}, intDiv({ago_ms} - 1, {_WINDOW_MS}) * {_WINDOW_MS}))"
    )
    return f"""
SELECT agency_id, period, text, unanswered, needs_reply FROM (
    SELECT i.agency_id AS agency_id, i.created_at AS created_at, i.event_id AS event_id,
           multiIf(i.created_at >= {_SINCE}, 'window', i.created_at >= {_PREVIOUS}, 'previous', 'history') AS period,
           i.text AS text, i.needs_reply AS needs_reply, {period_end} AS period_end,
           NOT ({closed_sql("f", "period_end", CLOSED_BY_REPLY)}) AS unanswered
    FROM (
        SELECT {_ROW_KEY}, platform, message_id, text, needs_reply FROM {database}.{INTERACTIONS}
        WHERE {citizen_message_sql()} AND created_at >= {_HISTORY} AND created_at < {_UNTIL} AND text != ''{where}
          {"AND needs_reply" if pain_points else ""}
        ORDER BY created_at DESC, event_id
        LIMIT 1 BY {_ROW_KEY}
    ) AS i
    LEFT JOIN ({facts}
    ) AS f ON f.platform = i.platform AND f.account_id = i.account_id AND f.message_id = i.message_id
    WHERE NOT ({closed_sql("f", _UNTIL, CLOSED_BY_REMOVAL)})
)
{"WHERE unanswered" if pain_points else ""}
ORDER BY agency_id, created_at DESC, event_id
LIMIT {int(max_texts):d} BY agency_id, period
"""


def topic_texts(
    engine: QueryEngine, database: str, span: TopicSpan, *, pain_points: bool = False, max_texts: int = MAX_TEXTS
) -> dict[str, TopicTexts]:
    """The message texts of ``span`` by agency (agencies without any there are absent), newest first.

    ``pain_points`` and ``max_texts``: as :func:`topic_texts_sql`'s.
    """
    out: dict[str, TopicTexts] = {}
    sql = topic_texts_sql(database, span, pain_points=pain_points, max_texts=max_texts)
    for agency, period, text, unanswered, needs_reply in engine.query(sql, _parameters(span), read_only=True).rows:
        texts = out.setdefault(str(agency), TopicTexts())
        found = Text(str(text), bool(int(unanswered)), bool(int(needs_reply)))
        if period == "window":
            texts.window.append(found)
            continue
        texts.history.append(found)
        if period == "previous":
            texts.previous.append(found)
    return out


def latest_message(engine: QueryEngine, database: str, agency: str | None) -> datetime | None:
    """When the latest stored citizen message (of ``agency``, or any) was written; None when there is none."""
    # Milliseconds, not a DateTime: the running stack's API sends rows as JSON, where a datetime is text.
    sql = (
        f"SELECT count(), toUnixTimestamp64Milli(max(created_at)) FROM {database}.{INTERACTIONS} "
        f"WHERE {citizen_message_sql()}{'' if agency is None else f' AND agency_id = {_AGENCY}'}"
    )
    parameters = {"agency": agency} if agency is not None else None
    [(messages, latest_ms)] = engine.query(sql, parameters, read_only=True).rows
    return datetime.fromtimestamp(int(latest_ms) / 1000, UTC) if int(messages) else None
