"""What a surge's citizens ask about: the top terms of an alert's messages against the agency's week before.

The worker calls :func:`surge_terms` when an alert is raised or changes severity (see
:class:`pipeline.stream.surge_watch.SurgeWatch`). Terms are found in Python with the topic ranking of
``serambi listen topics`` (:func:`pipeline.domain.topics.rank_topics`: one normaliser, one stop-word list), so
the query returns texts: the agency's citizen messages of the alert's window, from the start of the window that
raised it to its latest update, and of the :data:`HISTORY_DAYS` before that window. *All* the window's messages,
answered or not: the detector raises on arrivals against the agency's normal, so the surge is what arrived, and
whether a message counts as answered at this instant would depend on how far the worker's matching got.

The scan is bounded by the window and the history and by :data:`MAX_TEXTS` per period (the newest ones), values
travel as bound parameters, and duplicates (redeliveries not merged yet) collapse on the raw table's key. A
message removed before the alert's update (its first closure is a removal) gives no term, as in the topic lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pipeline.domain.matching import CLOSED_BY_REMOVAL
from pipeline.domain.surge import SurgeAlert
from pipeline.domain.topics import Message, rank_topics
from pipeline.storage.query import DATETIME_PARAM, QueryEngine
from pipeline.storage.sql.fragments import answered_sql, citizen_message_sql, param
from schemas.alerts import ALL_PLATFORMS, MAX_TERM_CHARS, MAX_TOP_TERMS
from schemas.tables import INTERACTIONS, RESPONSE_FACTS

__all__ = ["HISTORY_DAYS", "MAX_TEXTS", "SurgeSpan", "surge_span", "surge_terms", "surge_texts", "surge_texts_sql"]

HISTORY_DAYS: Final = 7
"""The agency's history a surge is contrasted with: a week covers every weekday's usual questions."""
MAX_TEXTS: Final = 5000
"""At most this many texts per period (the newest): ranking them takes well under a second."""
MIN_COUNT: Final = 3
"""A term of fewer of the surge's messages is no theme of it (the topic ranking's default)."""
_HISTORY, _SINCE, _UNTIL = (param(name, DATETIME_PARAM) for name in ("history", "since", "until"))
_ROW_KEY = "agency_id, account_id, created_at, event_id"  # the raw table's ReplacingMergeTree key


@dataclass(frozen=True)
class SurgeSpan:
    """``[since, until)`` is the surge's window, ``[history, since)`` what it is contrasted with.

    ``platform`` None reads every platform of the agency (an alert on ``all``).
    """

    agency: str
    platform: str | None
    history: datetime
    since: datetime
    until: datetime


def surge_span(alert: SurgeAlert, history_days: int = HISTORY_DAYS) -> SurgeSpan:
    """The span of ``alert``: from the start of its judging window to its update, and the days before."""
    # started_at is the end of the minute that raised the alert; its window (window_minutes) led up to it.
    since = alert.started_at - timedelta(minutes=alert.window_minutes)
    until = max(alert.updated_at, alert.started_at)
    platform = None if alert.platform == ALL_PLATFORMS else alert.platform
    return SurgeSpan(alert.agency, platform, since - timedelta(days=history_days), since, until)


def surge_texts_sql(database: str, span: SurgeSpan) -> str:
    """Rows ``(period, text)``: the span's citizen messages with text, at most :data:`MAX_TEXTS` per period."""
    platform = "" if span.platform is None else f" AND platform = {param('platform', 'String')}"
    return f"""
SELECT period, text FROM (
    SELECT if(created_at >= {_SINCE}, 'window', 'history') AS period, text, created_at, event_id
    FROM {database}.{INTERACTIONS}
    WHERE {citizen_message_sql()} AND agency_id = {param("agency", "String")}{platform}
      AND created_at >= {_HISTORY} AND created_at < {_UNTIL} AND text != ''
      AND (platform, account_id, message_id) NOT IN (
          SELECT platform, account_id, message_id FROM {database}.{RESPONSE_FACTS}
          WHERE agency_id = {param("agency", "String")} AND asked_at >= {_HISTORY} AND asked_at < {_UNTIL}
            AND {answered_sql("answered_at", _UNTIL)}
          GROUP BY platform, account_id, message_id
          HAVING argMax(closed_by, version) = '{CLOSED_BY_REMOVAL}')
    ORDER BY created_at DESC, event_id
    LIMIT 1 BY {_ROW_KEY}
)
ORDER BY created_at DESC, event_id
LIMIT {MAX_TEXTS:d} BY period"""


def surge_texts(engine: QueryEngine, database: str, span: SurgeSpan) -> tuple[list[str], list[str]]:
    """The texts of the surge's window and of its history, newest first."""
    parameters: dict[str, Any] = {
        "agency": span.agency,
        "history": span.history,
        "since": span.since,
        "until": span.until,
    }
    if span.platform is not None:
        parameters["platform"] = span.platform
    window: list[str] = []
    history: list[str] = []
    for period, text in engine.query(surge_texts_sql(database, span), parameters, read_only=True).rows:
        (window if period == "window" else history).append(str(text))
    return window, history


def surge_terms(engine: QueryEngine, database: str, alert: SurgeAlert) -> tuple[str, ...]:
    """The top terms (at most :data:`~schemas.alerts.MAX_TOP_TERMS`) of ``alert``'s messages, best first.

    Empty when no term stands out (fewer than :data:`MIN_COUNT` messages hold it, or it is no more frequent
    than in the history). Example: a flood of "banjir, paras air naik" questions gives ``("paras air",
    "banjir", ...)``.
    """
    window, history = surge_texts(engine, database, surge_span(alert))
    topics = rank_topics([Message(text) for text in window], (), history, top=MAX_TOP_TERMS, min_count=MIN_COUNT)
    # The alert event refuses longer terms; a word that long is no theme anyway (a URL-like run of letters).
    return tuple(topic.term for topic in topics if len(topic.term) <= MAX_TERM_CHARS)
