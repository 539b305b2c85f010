"""The listening job on real chDB: a flood burst in an agency's last day makes it the top of its rising pain points
and of what its citizens ask about this week, each computation read back whole through the catalog views; the texts
query's periods, flags, removals and cap."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.domain.needs_reply import classify
from pipeline.runtime.listening import ListeningJob
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import run_view
from pipeline.storage.sql.topics import Text, topic_texts
from pipeline.storage.store import Store
from pipeline.storage.topic_lists import topic_span
from schemas.agency import Directory
from tests.helpers.events import ACCOUNT, make_event
from tests.helpers.fakes import FakeClock
from tests.helpers.listening import FLOOD, FLOOD_ANSWERED, FLOODED, QUIET, burst_events, store_events

# Today, not the helper's fixed date: citizen_topics keeps 7 days (its TTL drops older computations on insert).
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
INTERVAL = timedelta(minutes=15)
OLD_FLOOD = "Banjir kilat di Klang lagi"  # tests.helpers.listening: the one flood message of the day before
DAY = timedelta(days=1)
# The flood messages that are pain points: unanswered, and needing a reply by the classifier's verdict.
PAINS = [text for n, text in enumerate(FLOOD) if n >= FLOOD_ANSWERED and classify(text).needs_reply]


@pytest.fixture
def job(store: Store, tiny_directory: Directory) -> ListeningJob:
    store_events(store, tiny_directory, burst_events(END), now=END)
    return ListeningJob(store, INTERVAL, clock=FakeClock(END))


def _view(store: Store, name: str, *agencies: str) -> list[dict[str, Any]]:
    wanted = ViewFilter(END - DAY, END + timedelta(hours=1), agencies=agencies)
    return run_view(store, store.database, name, wanted).dicts()


def test_a_theme_burst_tops_the_rising_pain_points_and_the_week(store: Store, job: ListeningJob) -> None:
    stats = job.refresh()
    assert (stats.started, stats.agencies, stats.failed) == (END, 2, ())
    rising = _view(store, "rising_pain_points", FLOODED)
    assert rising[0]["term"] == "banjir"
    # Pain points compared with pain points: the day before's flood message was a statement, needing no reply.
    assert not classify(OLD_FLOOD).needs_reply
    assert (rising[0]["count"], rising[0]["unanswered"], rising[0]["rise"]) == (len(PAINS), len(PAINS), len(PAINS))
    assert all(row["rise"] > 0 for row in rising)
    assert "Banjir" in str(rising[0]["example"])
    week = _view(store, "citizen_topics_week", FLOODED)
    assert week[0]["term"] == "banjir"
    unanswered = len(FLOOD) - FLOOD_ANSWERED
    assert (week[0]["count"], week[0]["unanswered"]) == (len(FLOOD) + 1, unanswered + 1)
    assert [row["rank"] for row in week] == list(range(1, len(week) + 1))
    assert all(row["agency_id"] == FLOODED for row in week)
    # The quiet agency asked about the same things all along: nothing rose.
    assert _view(store, "rising_pain_points", QUIET) == []


def test_a_later_computation_replaces_the_earlier_whole_and_removed_messages_are_gone(
    store: Store, tiny_directory: Directory, job: ListeningJob
) -> None:
    first = job.refresh()
    assert _view(store, "rising_pain_points", FLOODED)
    # Every unanswered flood message is removed a minute later; the next round, in the same quarter hour, finds
    # no rising pain point: its empty computation must be shown whole, not the first one's ranks beneath it.
    removals = [
        make_event("remove", target_id=f"flood-{n}", agency_id=FLOODED, account_id=ACCOUNT, created_at=END)
        for n in range(FLOOD_ANSWERED, len(FLOOD))
    ]
    store_events(store, tiny_directory, removals, now=END + timedelta(minutes=1))
    assert isinstance(job.clock, FakeClock)
    job.clock.advance(timedelta(minutes=2))
    later = job.refresh()
    assert later.started == first.started + timedelta(minutes=2)
    assert _view(store, "rising_pain_points", FLOODED) == []
    week = _view(store, "citizen_topics_week", FLOODED)
    assert {row["computed_at"].replace(tzinfo=UTC) for row in week} == {later.started}
    terms = [row["term"] for row in week]
    assert terms[0] == "banjir"
    assert len(terms) == len(set(terms))
    assert (week[0]["count"], week[0]["unanswered"]) == (FLOOD_ANSWERED + 1, 1)  # the removed ones are no topic
    [(examples,)] = store.query(
        f"SELECT examples FROM {store.database}.citizen_topics WHERE list = 'week' AND term = 'banjir' "
        "AND computed_at = {at:DateTime64(3, 'UTC')}",
        {"at": later.started},
    ).rows
    removed = set(FLOOD[FLOOD_ANSWERED:])
    assert examples
    assert removed.isdisjoint(examples)  # nor an example


def _message(key: str, text: str, at: datetime, answered_after: timedelta | None = None) -> list[Any]:
    author = f"ps1:{hashlib.md5(key.encode()).hexdigest()}"
    asked = make_event("comment", message_id=key, event_id=f"x:{key}", text=text, created_at=at, author_id=author)
    if answered_after is None:
        return [asked]
    reply = make_event(
        "reply",
        message_id=f"r-{key}",
        event_id=f"x:r-{key}",
        parent_id=key,
        parent_author_id=author,
        text="Kami semak",
        created_at=at + answered_after,
    )
    return [asked, reply]


def test_each_period_says_unanswered_at_its_own_end_and_is_capped(store: Store, tiny_directory: Directory) -> None:
    events = [
        *_message("now-open", "Bila air ada?", END - timedelta(hours=2)),
        *_message("now-answered", "Bila jalan siap?", END - timedelta(hours=3), timedelta(hours=1)),
        *_message("thanks", "Terima kasih JKR", END - timedelta(hours=4)),
        # The day before: answered within its day; a day earlier: answered only after its own day ended.
        *_message("before-in-time", "Lampu padam, bila baiki?", END - timedelta(hours=40), timedelta(hours=2)),
        *_message("old-late", "Longkang tersumbat, bila baiki?", END - timedelta(hours=70), timedelta(hours=30)),
    ]
    store_events(store, tiny_directory, events, now=END)
    span = topic_span(END, DAY, "tdemo")
    texts = topic_texts(store, store.database, span)["tdemo"]
    assert texts.window == [
        Text("Bila air ada?", True, True),
        Text("Bila jalan siap?", False, True),
        Text("Terima kasih JKR", True, False),
    ]
    assert texts.previous == [Text("Lampu padam, bila baiki?", False, True)]
    assert texts.history == [*texts.previous, Text("Longkang tersumbat, bila baiki?", True, True)]
    pains = topic_texts(store, store.database, span, pain_points=True)["tdemo"]
    assert pains.window == [Text("Bila air ada?", True, True)]
    assert pains.history == [Text("Longkang tersumbat, bila baiki?", True, True)]
    capped = topic_texts(store, store.database, span, max_texts=1)["tdemo"]
    assert [len(capped.window), len(capped.previous), len(capped.history)] == [1, 1, 2]
    assert capped.window == texts.window[:1]  # the newest
