"""The listening job on real chDB: a flood burst in an agency's last day makes it the top of its rising pain points
and of what its citizens ask about this week, stored once per slot, read back through the catalog views."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from pipeline.runtime.listening import ListeningJob
from pipeline.storage.sql.binding import ViewFilter
from pipeline.storage.sql.catalog import run_view
from pipeline.storage.store import Store
from schemas.agency import Directory
from tests.helpers.fakes import FakeClock
from tests.helpers.listening import END, FLOOD, FLOOD_ANSWERED, FLOODED, QUIET, burst_events, store_events

INTERVAL = timedelta(minutes=5)


@pytest.fixture
def job(store: Store, tiny_directory: Directory) -> ListeningJob:
    store_events(store, tiny_directory, burst_events())
    # A minute into the slot that starts at END: the lists end at END.
    return ListeningJob(store, INTERVAL, clock=FakeClock(END + timedelta(minutes=1)))


def _view(store: Store, name: str, *agencies: str) -> list[dict[str, Any]]:
    wanted = ViewFilter(END - timedelta(days=1), END + timedelta(hours=1), agencies=agencies)
    return run_view(store, store.database, name, wanted).dicts()


def test_a_theme_burst_tops_the_rising_pain_points_and_the_week(store: Store, job: ListeningJob) -> None:
    stats = job.refresh()
    assert (stats.slot, stats.agencies, stats.failed) == (END, 2, ())
    rising = _view(store, "rising_pain_points", FLOODED)
    assert rising[0]["term"] == "banjir"
    unanswered = len(FLOOD) - FLOOD_ANSWERED
    # Only unanswered messages of the last 24 h count; the day before held one flood message.
    assert (rising[0]["count"], rising[0]["unanswered"], rising[0]["rise"]) == (unanswered, unanswered, unanswered - 1)
    assert {row["term"] for row in rising[:3]} >= {"banjir", "paras air"}
    assert all(row["rise"] > 0 for row in rising)
    assert "Banjir" in str(rising[0]["example"])
    week = _view(store, "citizen_topics_week", FLOODED)
    assert week[0]["term"] == "banjir"
    assert (week[0]["count"], week[0]["unanswered"]) == (len(FLOOD) + 1, unanswered + 1)
    assert [row["rank"] for row in week] == list(range(1, len(week) + 1))
    assert all(row["agency_id"] == FLOODED for row in week)
    # The quiet agency asked about the same things all along: nothing rose.
    assert _view(store, "rising_pain_points", QUIET) == []


def test_a_recomputation_of_a_slot_is_stored_once_and_a_later_one_replaces_it(store: Store, job: ListeningJob) -> None:
    first = job.refresh()
    job.refresh()  # a second worker leading for a moment: the same slot, the same keys
    stored = store.query(
        f"SELECT count() FROM {store.database}.citizen_topics FINAL WHERE computed_at = {{at:DateTime64(3, 'UTC')}}",
        {"at": END},
    ).rows
    assert stored == [(first.rows,)]
    assert first.rows > 2 * 2  # the totals rows of both lists of both agencies, and topics
    assert isinstance(job.clock, FakeClock)
    job.clock.advance(INTERVAL)
    later = job.refresh()
    assert later.slot == END + INTERVAL
    week = _view(store, "citizen_topics_week", FLOODED)
    assert {row["computed_at"].replace(tzinfo=UTC) for row in week} == {END + INTERVAL}
    terms = [row["term"] for row in week]
    assert terms[0] == "banjir"
    assert len(terms) == len(set(terms))
