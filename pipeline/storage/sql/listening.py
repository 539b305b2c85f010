"""An agency team's listening views: what citizens ask about this week, and the rising pain points.

Topics are found in Python (:mod:`pipeline.domain.topics`), so these views read what the leader worker stored in
``citizen_topics`` (:mod:`pipeline.storage.topic_lists`, :mod:`pipeline.runtime.listening`): for each agency the
binding chooses, its latest computation in the window ``[since, until)`` (the present when the window ends now,
how it stood then for an older window). Topics are per agency over every platform: the platform filter does not
apply. A computation's rank 0 (its totals) is not shown, so an agency whose latest computation found nothing
shows no rows. Every computation has its own ``computed_at`` (when it ran), so the rows shown are all of one
computation; repeats of its rows (a retried insert, not merged yet) collapse on the table's key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pipeline.storage.sql.binding import Binding
from pipeline.storage.sql.viewspec import Audience, Column, Unit, View
from schemas.tables import AGENCIES

__all__ = ["CITIZEN_TOPICS", "VIEWS", "TopicList", "topics_sql"]

CITIZEN_TOPICS: Final = "citizen_topics"
"""The table of the stored lists (migration 0013)."""


class TopicList(StrEnum):
    """The stored lists (``citizen_topics.list``; :data:`pipeline.storage.topic_lists.LISTS` says how each is made)."""

    WEEK = "week"
    RISING = "rising"


def _scope(db: str, b: Binding) -> str:
    return f"{b.agencies('agency_id')} AND {b.in_tiers('agency_id', f'{db}.{AGENCIES}')}"


def topics_sql(db: str, b: Binding, topic_list: TopicList) -> str:
    """The topics of ``topic_list`` of each chosen agency's latest computation in the window, by agency and rank."""
    # The window bounds both scans (the table is partitioned by day); the agency filters only the inner one.
    where = f"list = '{topic_list.value}' AND computed_at >= {b.since} AND computed_at < {b.until}"
    return f"""
SELECT agency_id, rank, term, count, unanswered, rise, if(empty(examples), '', examples[1]) AS example, computed_at
FROM {db}.{CITIZEN_TOPICS}
WHERE {where} AND rank > 0
  AND (agency_id, computed_at) IN (
      SELECT agency_id, max(computed_at) FROM {db}.{CITIZEN_TOPICS} WHERE {where} AND {_scope(db, b)} GROUP BY agency_id
  )
ORDER BY agency_id, rank
LIMIT 1 BY agency_id, rank
LIMIT {b.limit}"""


def week_sql(db: str, b: Binding) -> str:
    """What citizens ask about this week: the last 7 days against the 4 weeks before, best first."""
    return topics_sql(db, b, TopicList.WEEK)


def rising_sql(db: str, b: Binding) -> str:
    """Rising pain points: unanswered messages needing a reply of the last 24 h against those before, by rise."""
    return topics_sql(db, b, TopicList.RISING)


def _columns(count_help: str, unanswered_help: str, rise_help: str) -> tuple[Column, ...]:
    return (
        Column("agency_id", Unit.TEXT, "the agency's id"),
        Column("rank", Unit.COUNT, "the topic's place in the list (1 = first)"),
        Column("term", Unit.TEXT, "a word or two-word phrase, normalised (lower case, abbreviations expanded)"),
        Column("count", Unit.COUNT, count_help),
        Column("unanswered", Unit.COUNT, unanswered_help),
        Column("rise", Unit.COUNT, rise_help),
        Column(
            "example", Unit.TEXT, "one of its messages, unanswered ones first, without links, handles or pseudonyms"
        ),
        Column("computed_at", Unit.TIME, "when the list was computed (its window ends then)"),
    )


WEEK = _columns(
    "messages of the last 7 days holding the term",
    "of them, unanswered when the list was computed",
    "count minus the messages holding it in the 7 days before",
)
RISING = _columns(
    "messages of the last 24 h that need a reply, still unanswered, holding the term",
    "the same messages (all unanswered)",
    "count minus such messages holding it in the 24 h before (unanswered at that day's end)",
)

VIEWS = (
    View("citizen_topics_week", "What citizens ask about this week", Audience.AGENCY, WEEK, week_sql,
         description="The terms setting this week's messages apart from the 4 weeks before, best first "
                     "(as `serambi listen topics`), at the latest computation in the window."),
    View("rising_pain_points", "Rising pain points", Audience.AGENCY, RISING, rising_sql,
         description="Terms of the last 24 h's unanswered messages that rose against the day before, "
                     "by rise, at the latest computation in the window."),
)  # fmt: skip
