"""The simulator: reproducible, well-formed, calendar-aware, with a flood incident, paced by a clock."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.core.publisher import Publisher
from connectors.core.testing import FakeClock, ListEventSink, ListRecordSink
from connectors.simulator.model import Simulation
from connectors.simulator.source import SimulatorConnector, default_window
from schemas.agency import Directory, load_directory
from schemas.events import AuthorRole, Change, Event, Interaction, InteractionKind, Post, Reaction, ReactionMode
from schemas.privacy import PREFIX, Pseudonymizer
from schemas.records import decode_batch
from schemas.topics import EVENTS
from schemas.workcalendar import WorkingCalendar

START = datetime(2026, 11, 2, tzinfo=UTC)  # Monday 08:00 in Kuala Lumpur
WEEK_END = START + timedelta(days=7)  # covers Deepavali, Sunday 8 Nov, a Kelantan working day
INCIDENT = START + timedelta(hours=30)  # Tuesday 14:00 local


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory()


@pytest.fixture(scope="module")
def week(directory: Directory) -> tuple[Simulation, list[Event]]:
    sim = Simulation(directory, seed=42, start=START, incident_at=INCIDENT)
    events: list[Event] = []
    at = START
    while at < WEEK_END:
        at += timedelta(hours=6)
        events.extend(sim.advance(at))
    return sim, events


def _dump(events: list[Event]) -> list[dict[str, object]]:
    return [event.model_dump() for event in events]


def _run(directory: Directory, seed: int, steps: list[timedelta]) -> list[Event]:
    sim = Simulation(directory, seed=seed, start=START, incident_at=START + timedelta(hours=3))
    return [event for step in steps for event in sim.advance(START + step)]


def _replies(events: list[Event]) -> list[Interaction]:
    return [e for e in events if isinstance(e, Interaction) and e.author_role is AuthorRole.AGENCY]


def test_sample_directory_has_twelve_agencies_with_profiles(directory: Directory) -> None:
    assert len(directory.agencies) == 12
    assert directory.get("metmy").official_domains
    assert directory.get("kelantan-air").working_days == ("sun", "mon", "tue", "wed", "thu")


def test_same_seed_same_events_whatever_the_steps(directory: Directory) -> None:
    hours = [timedelta(hours=h) for h in range(1, 7)]
    first = _run(directory, 7, hours)
    again = _run(directory, 7, hours)
    other_steps = _run(directory, 7, [timedelta(minutes=37 * k) for k in range(1, 10)] + [timedelta(hours=6)])
    assert first
    assert _dump(first) == _dump(again) == _dump(other_steps)
    assert _dump(_run(directory, 8, hours)) != _dump(first)


def test_events_sorted_unique_and_within_each_window(directory: Directory) -> None:
    sim = Simulation(directory, seed=3, start=START, incident_at=None)
    previous = START
    seen: set[str] = set()
    for hour in range(1, 9):
        until = START + timedelta(hours=hour, minutes=13)
        batch = sim.advance(until)
        times = [event.created_at for event in batch]
        assert times == sorted(times)
        assert all(previous < at <= until for at in times)
        assert all(event.created_at.tzinfo is not None and event.source == "simulator" for event in batch)
        ids = [event.event_id for event in batch]
        assert not seen.intersection(ids)
        assert len(set(ids)) == len(ids)
        seen.update(ids)
        previous = until


def test_every_agency_is_active_within_ten_hours(directory: Directory) -> None:
    sim = Simulation(directory, seed=11, start=START, incident_at=None)
    events = sim.advance(START + timedelta(hours=10))
    assert {event.agency_id for event in events} == {agency.id for agency in directory.agencies}
    assert {type(event) for event in events} == {Post, Interaction, Reaction, Change}


def test_events_belong_to_directory_accounts(directory: Directory, week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    for event in events:
        owner = directory.owner_of(event.platform, event.account_id)
        assert owner is not None
        assert owner.id == event.agency_id


def test_agency_replies_only_in_working_time(directory: Directory, week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    replies = _replies(events)
    assert replies
    for reply in replies:
        assert WorkingCalendar.of(directory.get(reply.agency_id)).is_open(reply.created_at), reply
    kelantan = directory.get("kelantan-air")
    local_days = {r.created_at.astimezone(kelantan.zone).date() for r in replies if r.agency_id == kelantan.id}
    assert local_days
    assert all(day.weekday() in {6, 0, 1, 2, 3} for day in local_days)
    assert date(2026, 11, 8) not in local_days  # Deepavali (a Sunday) is a holiday


def test_kelantan_answers_on_sunday_federal_agencies_wait_for_monday(directory: Directory) -> None:
    saturday = datetime(2026, 10, 31, tzinfo=UTC)
    sim = Simulation(directory, seed=9, start=saturday, incident_at=None)
    replies = _replies(sim.advance(saturday + timedelta(days=2)))
    weekdays: dict[str, set[int]] = {r.agency_id: set() for r in replies}
    for reply in replies:
        weekdays[reply.agency_id].add(reply.created_at.astimezone(directory.get(reply.agency_id).zone).weekday())
    assert 6 in weekdays["kelantan-air"]  # Sunday
    assert all(days <= {0} for agency, days in weekdays.items() if agency != "kelantan-air")


def test_working_time_respects_days_hours_and_holidays(directory: Directory) -> None:
    kelantan, federal = directory.get("kelantan-air"), directory.get("kesihatan")
    sunday_10_local = datetime(2026, 11, 1, 2, tzinfo=UTC)
    friday_10_local = datetime(2026, 11, 6, 2, tzinfo=UTC)
    assert WorkingCalendar.of(kelantan).is_open(sunday_10_local)
    assert not WorkingCalendar.of(federal).is_open(sunday_10_local)
    assert not WorkingCalendar.of(kelantan).is_open(friday_10_local)
    assert WorkingCalendar.of(federal).is_open(friday_10_local)
    assert not WorkingCalendar.of(kelantan).is_open(datetime(2026, 11, 8, 2, tzinfo=UTC))  # Deepavali
    assert not WorkingCalendar.of(federal).is_open(datetime(2026, 11, 2, 10, tzinfo=UTC))  # 18:00 local


def test_replies_answer_earlier_messages(week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    seen: dict[str, Interaction] = {}
    for event in events:
        if isinstance(event, Interaction):
            if event.kind is InteractionKind.REPLY:
                parent = seen[event.parent_id or ""]
                assert parent.created_at < event.created_at
                assert parent.author_id == event.parent_author_id
                assert event.root_id == parent.root_id
                assert event.author_id == event.account_id
            if event.kind is InteractionKind.MENTION:
                assert event.root_id == event.message_id
                assert event.parent_id is None
            seen[event.message_id] = event


def test_some_citizens_write_twice_before_one_reply(week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    messages = [e for e in events if isinstance(e, Interaction) and e.author_role is AuthorRole.CITIZEN]
    pairs = {(m.root_id, m.author_id) for m in messages}
    assert len(pairs) < len(messages)


def test_inter_agency_comments_use_another_agencys_account(
    directory: Directory, week: tuple[Simulation, list[Event]]
) -> None:
    _, events = week
    others = [e for e in events if isinstance(e, Interaction) and e.author_role is AuthorRole.OTHER_AGENCY]
    assert others
    for comment in others:
        owner = directory.owner_of(comment.platform, comment.author_id)
        assert owner is not None
        assert owner.id != comment.agency_id


def test_reactions_events_and_hourly_snapshots(week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    reactions = [e for e in events if isinstance(e, Reaction)]
    singles = [r for r in reactions if r.mode is ReactionMode.EVENT]
    snapshots = [r for r in reactions if r.mode is ReactionMode.SNAPSHOT]
    assert len(singles) > len(snapshots) > 0
    assert all(r.count == 1 and r.author_id for r in singles)
    by_post: dict[str, list[int]] = {}
    for snap in snapshots:
        by_post.setdefault(snap.target_id, []).append(snap.count)
    assert all(counts == sorted(counts) for counts in by_post.values())


def _reply_share(events: list[Event], agency_id: str) -> float:
    mine = [e for e in events if isinstance(e, Interaction) and e.agency_id == agency_id]
    citizen = sum(1 for e in mine if e.author_role is AuthorRole.CITIZEN)
    return sum(1 for e in mine if e.author_role is AuthorRole.AGENCY) / citizen


def test_soapbox_replies_far_less_than_dinner_party(week: tuple[Simulation, list[Event]]) -> None:
    _, events = week
    three_days = [e for e in events if e.created_at <= START + timedelta(days=3)]
    soapbox, dinner_party = _reply_share(three_days, "kerjaraya"), _reply_share(three_days, "mbpp")
    assert soapbox < 0.1
    assert dinner_party > 0.6
    assert dinner_party > 8 * soapbox


def test_flood_incident_draws_a_surge_of_unanswered_questions(
    week: tuple[Simulation, list[Event]],
) -> None:
    sim, events = week
    flood = [e for e in events if isinstance(e, Post) and e.post_id == sim.flood_post_id]
    assert len(flood) == 1
    assert flood[0].created_at == INCIDENT
    assert flood[0].agency_id == "metmy"
    questions = [
        e
        for e in events
        if isinstance(e, Interaction)
        and e.root_id == sim.flood_post_id
        and e.author_role is AuthorRole.CITIZEN
        and INCIDENT < e.created_at <= INCIDENT + timedelta(hours=1)
    ]
    assert len(questions) >= 150
    asked = {q.message_id for q in questions}
    answered = {e.parent_id for e in _replies(events) if e.parent_id in asked}
    assert len(answered) < 0.1 * len(questions)


def test_default_window_replays_the_past_with_incident_at_sixty_percent() -> None:
    now = datetime(2026, 11, 2, 12, tzinfo=UTC)
    start, incident = default_window(60, 600, now)
    assert start == now - timedelta(hours=10)
    assert incident == start + timedelta(hours=6)
    day_start, _ = default_window(None, 50, now)
    assert day_start == now - timedelta(hours=24)


def test_naive_datetimes_are_refused(directory: Directory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Simulation(directory, seed=1, start=datetime(2026, 11, 2), incident_at=None)  # noqa: DTZ001


class ClockedSink(ListRecordSink):
    """Remembers the fake wall time each record was sent at."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.sent_at: list[datetime] = []

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes) -> None:
        self.sent_at.append(self.clock.now())
        super().send(topic, partition, key, value)


def test_connector_publishes_pseudonymised_events_never_ahead_of_the_clock(directory: Directory) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 12, tzinfo=UTC))
    start, incident = default_window(60, 600, clock.now())
    sim = Simulation(directory, seed=5, start=start, incident_at=incident)
    sink = ClockedSink(clock)
    publisher = Publisher(
        sink, pseudonymizer=Pseudonymizer(SecretStr("test-key")), partitions=4, source="simulator",
        directory=directory,
    )  # fmt: skip
    connector = SimulatorConnector(publisher, sim, start=start, speed=600, clock=clock)
    connector.run(threading.Event(), duration_seconds=60)

    assert clock.now() >= start + timedelta(hours=10)
    assert publisher.dead_lettered == 0
    assert connector.events_emitted == publisher.published > 0
    assert sum(connector.events_emitted_by_type.values()) == connector.events_emitted
    assert set(connector.events_emitted_by_type) == {"post", "interaction", "reaction", "change"}
    published: list[Event] = []
    for record, sent_at in zip(sink.records, sink.sent_at, strict=True):
        assert record.topic == EVENTS.name
        good, bad = decode_batch(record.value)
        assert not bad
        assert all(event.created_at <= sent_at for event in good)
        published.extend(good)
    citizens = [e for e in published if isinstance(e, Interaction) and e.author_role is AuthorRole.CITIZEN]
    assert citizens
    assert all(e.author_id.startswith(PREFIX) for e in citizens)
    replies = [e for e in published if isinstance(e, Interaction) and e.author_role is AuthorRole.AGENCY]
    assert all(not e.author_id.startswith(PREFIX) for e in replies)
    assert all(e.parent_author_id and e.parent_author_id.startswith(PREFIX) for e in replies)


def test_connector_stop_ends_the_run(directory: Directory) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 12, tzinfo=UTC))
    began = clock.now()
    sim = Simulation(directory, seed=5, start=began - timedelta(hours=1), incident_at=None)
    connector = SimulatorConnector(ListEventSink(), sim, start=began - timedelta(hours=1), speed=10, clock=clock)
    stop = threading.Event()
    connector.stop()  # before run(): run still returns after its first step
    connector.run(stop, duration_seconds=None)
    assert clock.now() == began
    assert stop.is_set()


def test_connector_runs_until_stopped_from_the_sink(directory: Directory) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 12, tzinfo=UTC))
    sim = Simulation(directory, seed=5, start=clock.now() - timedelta(hours=1), incident_at=None)
    stop = threading.Event()

    class StoppingSink(ListEventSink):
        def flush(self) -> None:
            super().flush()
            if self.flushes == 5:
                stop.set()

    sink = StoppingSink()
    began = clock.now()
    connector = SimulatorConnector(sink, sim, start=began - timedelta(hours=1), speed=10, clock=clock)
    connector.run(stop)
    assert sink.flushes == 5  # one flush a step
    assert clock.sleeps == [0.2] * 4  # no wait after the step that saw stop set
    assert clock.now() == began + timedelta(seconds=0.8)
    assert len(sink.events) == connector.events_emitted


def test_connector_refuses_a_speed_that_is_not_positive(directory: Directory) -> None:
    sim = Simulation(directory, seed=5, start=START, incident_at=None)
    with pytest.raises(ValueError, match="speed must be > 0"):
        SimulatorConnector(ListEventSink(), sim, start=START, speed=0)
