"""The demo's plan: a week of history whatever the weekday, one incident a day, overlapping runs stored once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from connectors.simulator.model import Simulation
from pipeline.domain.classify import AgencyClass, classify
from pipeline.domain.matching import Matcher
from pipeline.domain.windows import MessageStatus, message_status
from pipeline.runtime.demo import HISTORY, INCIDENT_AGENCY, plan_demo
from schemas.agency import Directory, load_directory
from schemas.events import AuthorRole, Event, Interaction, Post
from schemas.workcalendar import WorkingCalendar

SUNDAY = datetime(2026, 11, 29, 22, 34, 10, tzinfo=UTC)  # Monday 06:34 in Kuala Lumpur: a weekend just ended
SUNDAY_NOON_LOCAL = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # Sunday 12:00 in Kuala Lumpur


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory()


def _classes(directory: Directory, events: list[Event], since: datetime, until: datetime) -> dict[str, AgencyClass]:
    """The report's classes, computed in Python from the simulated events (the SQL report's rule)."""
    interactions = [e for e in events if isinstance(e, Interaction)]
    answered = {f.message_id: f.answered_at for f in Matcher(business=lambda *_: 0.0).add(interactions)}
    counts: dict[str, Counter[str]] = {agency.id: Counter() for agency in directory.agencies}
    for event in events:
        if not since <= event.created_at < until:
            continue
        agency = counts[event.agency_id]
        if isinstance(event, Post):
            agency["output"] += 1
            agency["posts"] += 1
        elif isinstance(event, Interaction) and event.author_role is AuthorRole.AGENCY:
            agency["output"] += 1
            agency["replies"] += 1
        elif isinstance(event, Interaction) and event.author_role is AuthorRole.CITIZEN:
            sla = timedelta(hours=directory.get(event.agency_id).sla_hours or 24)
            status = message_status(event.created_at, answered.get(event.message_id), sla, until)
            agency["messages"] += 1
            agency["answered"] += status in (MessageStatus.ANSWERED_WITHIN_SLA, MessageStatus.ANSWERED_LATE)
            agency["overdue"] += status is MessageStatus.OVERDUE
    classes: dict[str, AgencyClass] = {}
    for agency_id, c in counts.items():
        judged = c["answered"] + c["overdue"]
        reply_rate = c["answered"] / judged if judged else None
        two_way = c["replies"] / c["output"] if c["output"] else None
        classes[agency_id] = classify(two_way, reply_rate, c["messages"], c["output"])
    return classes


def _simulate(directory: Directory, start: datetime, until: datetime, incident: datetime | None) -> list[Event]:
    return Simulation(directory, seed=7, start=start, incident_at=incident).advance(until)


def test_on_a_sunday_the_history_covers_every_working_day_of_every_calendar() -> None:
    plan = plan_demo(SUNDAY, speed=10080)
    assert plan.start == SUNDAY - HISTORY
    days = {(plan.start + timedelta(hours=h)).weekday() for h in range(int(HISTORY / timedelta(hours=1)))}
    assert days == set(range(7))
    assert plan.start < plan.incident_at < plan.now - timedelta(hours=1)
    assert plan.replay_seconds == pytest.approx(60.0)


def test_on_a_sunday_agencies_that_answer_show_as_answering(directory: Directory) -> None:
    plan = plan_demo(SUNDAY_NOON_LOCAL, speed=10080)
    events = _simulate(directory, plan.start, plan.now, plan.incident_at)
    classes = _classes(directory, events, plan.now - timedelta(days=7), plan.now)
    # The profiles of the sample directory: jpj and mbpp answer ~90 % within the hour, the soapboxes ~5 %.
    assert classes["jpj"] == classes["mbpp"] == "dinner_party"
    assert classes["kerjaraya"] == "soapbox"
    assert Counter(classes.values())["soapbox"] < len(classes) / 2
    # What the demo did before (a day of history ending on the Sunday): those agencies never answer on a weekend.
    day = _simulate(directory, plan.now - timedelta(hours=24), plan.now, None)
    day_classes = _classes(directory, day, plan.now - timedelta(hours=24), plan.now)
    assert {day_classes["jpj"], day_classes["mbpp"]} <= {"soapbox", "insufficient_data"}


def test_a_demo_run_again_the_same_day_replays_the_same_incident() -> None:
    morning = plan_demo(datetime(2026, 11, 25, 14, 30, tzinfo=UTC), speed=10080)
    evening = plan_demo(datetime(2026, 11, 25, 23, 50, tzinfo=UTC), speed=10080)
    assert morning.incident_at == evening.incident_at == datetime(2026, 11, 25, 6, tzinfo=UTC)
    before_it = plan_demo(datetime(2026, 11, 25, 13, 30, tzinfo=UTC), speed=10080)  # today's is not 8 h old yet
    assert before_it.incident_at == datetime(2026, 11, 24, 6, tzinfo=UTC)


def test_a_short_history_holds_its_incident() -> None:
    now = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    plan = plan_demo(now, speed=100, start=now - timedelta(hours=10))
    assert plan.start < plan.incident_at < plan.now
    assert plan.incident_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_a_start_that_is_not_in_the_past_is_refused() -> None:
    with pytest.raises(ValueError, match=r"--start .* is not in the past"):
        plan_demo(SUNDAY, speed=10, start=SUNDAY + timedelta(minutes=1))


def test_overlapping_runs_simulate_the_same_events_with_the_same_ids(directory: Directory) -> None:
    first_start = datetime(2026, 11, 20, 3, 0, 17, tzinfo=UTC)
    second_start = first_start + timedelta(days=1, hours=5, seconds=29)  # a later run of the demo: any second
    until = second_start + timedelta(days=2)
    first = {e.event_id: e for e in _simulate(directory, first_start, until + timedelta(hours=3), None)}
    second = {e.event_id: e for e in _simulate(directory, second_start, until, None)}
    assert len(second) > 1000
    assert set(second) <= set(first)  # the sinks store these ids once: nothing piles up
    assert all(second[event_id] == first[event_id] for event_id in second)
    other_seed = Simulation(directory, seed=8, start=second_start, incident_at=None).advance(until)
    assert not {e.event_id for e in other_seed} & set(second)


def _sun_to_thu_with_holidays(directory: Directory) -> Directory:
    """The sample with the incident agency working Sun-Thu, like Kelantan's, and two holidays in the fortnight."""
    data = directory.model_dump(mode="json")
    for agency in data["agencies"]:
        if agency["id"] == INCIDENT_AGENCY:
            agency["working_days"] = ["sun", "mon", "tue", "wed", "thu"]
            agency["holidays"] = ["2026-11-18", "2026-11-24"]
    return Directory.model_validate(data)


def _baseline_days(calendar: WorkingCalendar, at: datetime, start: datetime) -> int:
    earlier = [at - timedelta(days=n) for n in range(1, 8)]
    return sum(day >= start and calendar.is_working_day(day.astimezone(calendar.zone).date()) for day in earlier)


@pytest.mark.parametrize("calendar_kind", ["sample", "sun-thu with holidays"])
def test_the_incident_is_the_latest_working_day_with_a_baseline_in_the_replayed_week(
    directory: Directory, calendar_kind: str
) -> None:
    if calendar_kind != "sample":
        directory = _sun_to_thu_with_holidays(directory)
    calendar = WorkingCalendar.of(directory.get(INCIDENT_AGENCY))
    for hours in range(0, 14 * 24, 5):  # every 5 hours of a fortnight: each weekday, morning and evening
        now = datetime(2026, 11, 16, 0, 17, tzinfo=UTC) + timedelta(hours=hours)
        plan = plan_demo(now, speed=10080, directory=directory)
        assert plan.incident_agency == INCIDENT_AGENCY
        # Brute force: 14:00 in Kuala Lumpur on each day of the week, at least 8 h old, a working day, with the
        # same hour on 3 earlier working days inside the history (the detector's baseline); the latest of them.
        days = [(now - timedelta(days=n)).replace(hour=6, minute=0, second=0, microsecond=0) for n in range(8)]
        working = [
            day
            for day in days
            if plan.start < day <= now - timedelta(hours=8)
            and calendar.is_working_day(day.astimezone(calendar.zone).date())
        ]
        fitting = [day for day in working if _baseline_days(calendar, day, plan.start) >= 3]
        assert fitting or calendar_kind != "sample", now  # a plain week always has one, whatever the weekday
        # A week with holidays may have none: then the latest working day (the detector has no baseline).
        assert plan.incident_at == max(fitting or working), now


def test_without_enough_earlier_days_the_incident_is_on_the_latest_working_day(directory: Directory) -> None:
    now = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # a Wednesday evening in Kuala Lumpur
    plan = plan_demo(now, speed=10080, directory=directory, min_samples=6)  # more than a week of Mon-Fri holds
    assert plan.incident_at == datetime(2026, 11, 25, 6, tzinfo=UTC)
