"""What citizens ask an agency about, as ranked lists: one code path for `serambi listen topics` and the board.

`serambi listen topics` ranks a window's messages against the agency's history (:func:`topic_span`,
:func:`rank_texts`); the leader worker stores two such lists per agency in ``citizen_topics`` (migration 0013)
for the board and Grafana, which cannot run the Python normaliser (:func:`compute_lists`, :func:`list_rows`):

- ``week``: what citizens ask about this week: the last 7 days against the 4 weeks before, best score first
  (``serambi listen topics``' defaults);
- ``rising``: rising pain points: the *pain points* of the last 24 h (messages that need a reply, still
  unanswered at its end) against those of the 4 days before (each unanswered at the end of its own day,
  :mod:`pipeline.storage.sql.topics`): like with like; only terms that rose against the day before's pain
  points, by rise, then score.

Each computation is stored as rank 0 (term ``''``: the list's messages and unanswered ones) plus one row per
topic, so an agency whose topics faded has a newer, empty computation rather than a stale one.

Example::

    now = datetime.now(UTC)
    lists = compute_lists(store, "serambi", "kerjaraya", now)
    store.insert(CITIZEN_TOPICS, COLUMNS, list_rows("kerjaraya", now, lists))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pipeline.domain.topics import Message, Topic, rank_topics
from pipeline.storage.query import QueryEngine
from pipeline.storage.sql.listening import CITIZEN_TOPICS, TopicList
from pipeline.storage.sql.topics import TopicSpan, TopicTexts, topic_texts
from schemas.tables import AGENCIES

__all__ = [
    "CITIZEN_TOPICS",
    "COLUMNS",
    "HISTORY_WINDOWS",
    "LISTS",
    "ListSpec",
    "Ranked",
    "TopicList",
    "compute_lists",
    "directory_agencies",
    "list_rows",
    "rank_texts",
    "rising",
    "topic_span",
]

COLUMNS: Final = (
    "agency_id", "list", "computed_at", "rank", "term", "score", "count", "unanswered", "rise", "examples",
)  # fmt: skip
"""The columns :func:`list_rows` fills, in order (``inserted_at`` is ClickHouse's)."""
HISTORY_WINDOWS: Final = 4
"""A window is compared with this many windows before it (the history)."""
_RISING_CANDIDATES: Final = 100  # scored topics the rising list picks its top from (by rise, not score)


@dataclass(frozen=True)
class ListSpec:
    """A stored list: its window, whether it reads only pain points (in every period), whether it ranks by rise."""

    name: TopicList
    window: timedelta
    pain_points: bool
    by_rise: bool


LISTS: Final = (
    ListSpec(TopicList.WEEK, timedelta(days=7), pain_points=False, by_rise=False),
    ListSpec(TopicList.RISING, timedelta(hours=24), pain_points=True, by_rise=True),
)
"""The lists the worker stores for every agency, in display order."""


@dataclass(frozen=True)
class Ranked:
    """One agency's ranked topics of a window, with the window's messages and how many are unanswered."""

    messages: int
    unanswered: int
    topics: list[Topic] = field(default_factory=list)


def topic_span(end: datetime, window: timedelta, agency: str | None = None) -> TopicSpan:
    """The window ``[end - window, end)``, the window before it and the :data:`HISTORY_WINDOWS` windows before it."""
    return TopicSpan(end - (HISTORY_WINDOWS + 1) * window, end - 2 * window, end - window, end, agency)


def rank_texts(
    texts: TopicTexts,
    *,
    pain_points: bool = False,
    top: int = 10,
    min_count: int = 3,
    min_score: float = 1.0,
) -> Ranked:
    """Rank the window's messages against the history's; with ``pain_points`` only the pain points of each.

    A pain point needs a reply and was unanswered at its period's end (:class:`~pipeline.storage.sql.topics.Text`),
    so unanswered messages are compared with the unanswered messages before, never with every message.
    """
    window, previous, history = (
        [t for t in period if t.pain_point or not pain_points]
        for period in (texts.window, texts.previous, texts.history)
    )
    messages = [Message(t.text, t.unanswered) for t in window]
    topics = rank_topics(
        messages,
        [t.text for t in previous],
        [t.text for t in history],
        top=top,
        min_count=min_count,
        min_score=min_score,
    )
    return Ranked(len(messages), sum(message.unanswered for message in messages), topics)


def rising(ranked: Ranked, top: int = 10) -> Ranked:
    """``ranked``'s topics that rose against the window before, by rise, then score, then term; at most ``top``."""
    risen = sorted((t for t in ranked.topics if t.rise > 0), key=lambda t: (-t.rise, -t.score, t.term))
    return Ranked(ranked.messages, ranked.unanswered, risen[:top])


def compute_lists(
    engine: QueryEngine, database: str, agency: str, end: datetime, *, top: int = 10
) -> dict[str, Ranked]:
    """Every list of :data:`LISTS` for ``agency``, windows ending at ``end`` (one texts query per list)."""
    found: dict[str, Ranked] = {}
    for spec in LISTS:
        span = topic_span(end, spec.window, agency)
        texts = topic_texts(engine, database, span, pain_points=spec.pain_points).get(agency, TopicTexts())
        if spec.by_rise:
            found[spec.name] = rising(rank_texts(texts, pain_points=spec.pain_points, top=_RISING_CANDIDATES), top)
        else:
            found[spec.name] = rank_texts(texts, pain_points=spec.pain_points, top=top)
    return found


def list_rows(agency: str, computed_at: datetime, lists: Mapping[str, Ranked]) -> list[tuple[Any, ...]]:
    """The ``citizen_topics`` rows (:data:`COLUMNS`) of one computation: rank 0 with the totals, then the topics."""
    rows: list[tuple[Any, ...]] = []
    for name, ranked in lists.items():
        rows.append((agency, name, computed_at, 0, "", 0.0, ranked.messages, ranked.unanswered, 0, []))
        rows.extend(
            (agency, name, computed_at, rank, t.term, t.score, t.count, t.unanswered, t.rise, list(t.examples))
            for rank, t in enumerate(ranked.topics, start=1)
        )
    return rows


def directory_agencies(engine: QueryEngine, database: str) -> list[str]:
    """Every registered agency (the ``agencies`` table: the directory and agencies imports registered), by id."""
    rows = engine.query(f"SELECT DISTINCT agency_id FROM {database}.{AGENCIES} FINAL", read_only=True).rows
    return sorted(str(agency) for (agency,) in rows)
