"""The citizen messages ``serambi listen topics`` reads: a window's, the one before it, and the history before that.

Terms are found in Python (:mod:`pipeline.domain.topics`: the normaliser is Python), so these queries return
texts, not counts. Duplicates (redeliveries not merged yet) collapse on the raw table's ReplacingMergeTree key
(``LIMIT 1 BY``); every scan is bounded by ``[history_since, until)``. A window's message is *unanswered* when
no fact closed it (an agency reply, or its removal) before the window's end: what the report's backlog counts.
A message keeps the text it was first stored with (an edit arrives as a change of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from pipeline.storage.sql.fragments import answered_sql, citizen_message_sql, param
from schemas.tables import INTERACTIONS, RESPONSE_FACTS

__all__ = ["Period", "TopicSpan", "TopicTexts", "latest_message", "topic_texts", "topic_texts_sql"]

Period = Literal["window", "previous", "history"]
_SINCE, _PREVIOUS, _HISTORY, _UNTIL = (
    param(name, DATETIME_PARAM) for name in ("since", "previous", "history", "until")
)
_AGENCY = param("agency", "String")
_ROW_KEY = "agency_id, account_id, created_at, event_id"  # the raw table's ReplacingMergeTree key


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


@dataclass
class TopicTexts:
    """One agency's message texts by period; the window's with whether each is still unanswered."""

    window: list[tuple[str, bool]] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # the previous window's texts among them


def _agency_filter(span: TopicSpan) -> str:
    return "" if span.agency is None else f" AND agency_id = {_AGENCY}"


def _parameters(span: TopicSpan) -> dict[str, Any]:
    values: dict[str, Any] = {"since": span.since, "previous": span.previous, "history": span.history}
    values["until"] = span.until
    if span.agency is not None:
        values["agency"] = span.agency
    return values


def topic_texts_sql(database: str, span: TopicSpan) -> str:
    """Rows ``(agency_id, period, text, unanswered)`` of the citizen messages with text in ``[history, until)``."""
    where = _agency_filter(span)
    closed = (
        f"SELECT platform, account_id, message_id FROM {database}.{RESPONSE_FACTS} "
        f"WHERE asked_at >= {_SINCE} AND asked_at < {_UNTIL} AND {answered_sql('answered_at', _UNTIL)}{where}"
    )
    return f"""
SELECT agency_id,
       multiIf(created_at >= {_SINCE}, 'window', created_at >= {_PREVIOUS}, 'previous', 'history') AS period,
       text,
       period = 'window' AND (platform, account_id, message_id) NOT IN ({closed}) AS unanswered
FROM {database}.{INTERACTIONS}
WHERE {citizen_message_sql()} AND created_at >= {_HISTORY} AND created_at < {_UNTIL} AND text != ''{where}
ORDER BY agency_id, created_at DESC, event_id
LIMIT 1 BY {_ROW_KEY}
"""


def topic_texts(engine: QueryEngine, database: str, span: TopicSpan) -> dict[str, TopicTexts]:
    """The message texts of ``span`` by agency (agencies without any there are absent), newest first."""
    out: dict[str, TopicTexts] = {}
    for agency, period, text, unanswered in engine.query(
        topic_texts_sql(database, span), _parameters(span), read_only=True
    ).rows:
        texts = out.setdefault(str(agency), TopicTexts())
        if period == "window":
            texts.window.append((str(text), bool(int(unanswered))))
            continue
        texts.history.append(str(text))
        if period == "previous":
            texts.previous.append(str(text))
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
